"""HTTP flows for franchises and trucks, shared by API tests (other domains import them too):
a franchise tree with a unit zone, staff assigned to it, operators, trucks registered through the
API, documents uploaded through the API, and a truck brought to ACTIVE."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.fleet import lifecycle
from rodistaa.fleet.status import REQUIRED_DOCUMENTS, business_date
from rodistaa.fleet.vahan import LOCAL_FIXTURES, derived_chassis
from tests.api.flows import Session, create_user_directly, sign_in, sign_up
from tests.conftest import Harness

# Pune; the unit's zone is 20 km around it. NAGPUR is outside every zone of the default tree.
PUNE = {"lat": 18.5204, "lng": 73.8567}
PUNE_SUBURB = {"lat": 18.5600, "lng": 73.9100}  # about 7 km from the centre
NAGPUR = {"lat": 21.1458, "lng": 79.0882}
UNIT_RADIUS_M = 20_000

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32

_registrations = itertools.count(1)
_mobiles = itertools.count(1)


def next_registration(prefix: str = "MH12AB") -> str:
    """A fresh registration the local registry answers with `derived_chassis` (its fixtures,
    which answer otherwise, are skipped)."""
    while True:
        registration = f"{prefix}{next(_registrations) % 10_000:04d}"
        if registration not in LOCAL_FIXTURES:
            return registration


def next_mobile() -> str:
    return f"+9197{next(_mobiles) % 100_000_000:08d}"


@dataclass(frozen=True)
class FranchiseTree:
    hq_id: str
    district_id: str
    unit_id: str


async def create_franchise(h: Harness, admin: Session, body: dict[str, Any]) -> dict[str, Any]:
    response = await h.client.post("/v1/admin/franchises", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def franchise_tree(
    h: Harness, admin: Session, *, centre: dict[str, float] = PUNE, radius_m: int = UNIT_RADIUS_M
) -> FranchiseTree:
    """HQ → one DISTRICT → one UNIT whose zone is `radius_m` around `centre`."""
    hq = await create_franchise(h, admin, {"name": "Rodistaa HQ", "kind": "HQ"})
    district = await add_district(h, admin, hq["id"])
    unit = await add_unit(h, admin, district["id"], centre=centre, radius_m=radius_m)
    return FranchiseTree(hq["id"], district["id"], unit["id"])


async def add_district(h: Harness, admin: Session, hq_id: str, name: str = "Pune District") -> dict[str, Any]:
    return await create_franchise(h, admin, {"name": name, "kind": "DISTRICT", "parentId": hq_id})


async def add_unit(
    h: Harness,
    admin: Session,
    district_id: str,
    *,
    centre: dict[str, float] = PUNE,
    radius_m: int = UNIT_RADIUS_M,
    name: str = "Pune Unit",
) -> dict[str, Any]:
    body = {
        "name": name,
        "kind": "UNIT",
        "parentId": district_id,
        "zone": {"centre": centre, "radiusMeters": radius_m},
    }
    return await create_franchise(h, admin, body)


async def assign_staff(h: Harness, admin: Session, franchise_id: str, user_id: str) -> httpx.Response:
    return await h.client.post(
        f"/v1/admin/franchises/{franchise_id}/staff", json={"userId": user_id}, headers=admin.headers
    )


async def staff_session(
    h: Harness, admin: Session, franchise_id: str | None, role: Role, mobile: str | None = None
) -> Session:
    """A FRANCHISE_UNIT or FRANCHISE_DISTRICT user, assigned through the API unless
    `franchise_id` is None, and signed in."""
    mobile = mobile or next_mobile()
    user_id = await create_user_directly(h, mobile, role)
    if franchise_id is not None:
        response = await assign_staff(h, admin, franchise_id, user_id)
        assert response.status_code == 200, response.text
    return await sign_in(h, mobile)


async def sign_in_again(h: Harness, session: Session) -> Session:
    """A fresh session for the same user, once the clock moved past the access token's life."""
    async with h.app.state.services.db.read() as conn:
        mobile = (
            await conn.execute(select(users.c.mobile).where(users.c.id == session.user_id))
        ).scalar_one()
    return await sign_in(h, mobile, device_id=session.device_id)


async def operator_session(h: Harness, mobile: str | None = None) -> Session:
    return await sign_up(h, mobile or next_mobile(), role=Role.OPERATOR, name="Sharma Roadlines")


def truck_body(registration: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An eligible truck based in Pune; its chassis number is the one the local registry holds."""
    registration = registration or next_registration()
    body: dict[str, Any] = {
        "registrationNumber": registration,
        "vehicleType": "HGV",
        "bodyType": "CONTAINER",
        "tyres": 10,
        "capacityTonnes": 16.5,
        "modelYear": 2021,
        "emission": "BS6",
        "permitType": "NATIONAL",
        "chassisNumber": derived_chassis(registration),
        "baseLocation": PUNE_SUBURB,
    }
    body.update(overrides)
    return body


async def post_truck(h: Harness, session: Session, body: dict[str, Any]) -> httpx.Response:
    return await h.client.post("/v1/trucks", json=body, headers=session.headers)


async def create_truck(h: Harness, session: Session, **overrides: Any) -> dict[str, Any]:
    response = await post_truck(h, session, truck_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def upload_document(
    h: Harness,
    session: Session,
    truck_id: str,
    doc_type: str,
    expiry: date,
    *,
    content: bytes = PDF,
    chassis_number: str | None = None,
    filename: str = "document.pdf",
) -> httpx.Response:
    form = {"documentType": doc_type, "expiryDate": expiry.isoformat()}
    if chassis_number is not None:
        form["chassisNumber"] = chassis_number
    return await h.client.post(
        f"/v1/trucks/{truck_id}/documents",
        data=form,
        files={"file": (filename, content, "application/octet-stream")},
        headers=session.headers,
    )


def today(h: Harness) -> date:
    return business_date(h.clock.now())


async def upload_all_documents(
    h: Harness, session: Session, truck: dict[str, Any], *, valid_for_days: int = 365
) -> None:
    """Every required document, valid for `valid_for_days`; the RC with the registry's chassis."""
    expiry = today(h) + timedelta(days=valid_for_days)
    for doc_type in REQUIRED_DOCUMENTS:
        chassis = derived_chassis(truck["registrationNumber"]) if doc_type.value == "RC" else None
        response = await upload_document(
            h, session, truck["id"], doc_type.value, expiry, chassis_number=chassis
        )
        assert response.status_code == 201, response.text


async def record_inspection(h: Harness, truck_id: str, *, passed: bool = True) -> lifecycle.StatusChange:
    """Stands in for the inspections domain: the status change a completed inspection makes."""
    async with h.app.state.services.db.transaction() as conn:
        return await lifecycle.record_inspection_result(conn, truck_id, passed=passed, now=h.clock.now())


async def active_truck(h: Harness, session: Session, **overrides: Any) -> dict[str, Any]:
    """A truck registered, documented and passed: ACTIVE."""
    truck = await create_truck(h, session, **overrides)
    await upload_all_documents(h, session, truck)
    change = await record_inspection(h, truck["id"])
    assert change.after.value == "ACTIVE", change
    return truck

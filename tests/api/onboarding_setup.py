"""Setup for onboarding tests that must not depend on the franchise and truck APIs: franchises
(HQ → DISTRICT → UNIT with a zone), staff assigned to them, trucks and truck documents, all
written straight into their tables with valid values for every NOT NULL column."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update

from rodistaa.core.ids import new_id, new_truck_id
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.fleet.tables import truck_documents, trucks
from rodistaa.franchises.tables import franchises
from rodistaa.security.envelope import encrypt_text
from tests.api.flows import Session, create_user_directly, sign_in, sign_up
from tests.conftest import Harness

PUNE = {"lat": 18.5204, "lng": 73.8567}
NAGPUR = {"lat": 21.1458, "lng": 79.0882}
DOCUMENT_TYPES = ("RC", "INSURANCE", "PERMIT", "FITNESS", "PUC")
_EARTH_RADIUS_M = 6_371_008.8


def km_north(point: dict[str, float], km: float) -> dict[str, float]:
    """A point `km` kilometres due north of `point` (exact along a meridian)."""
    return {"lat": point["lat"] + math.degrees(km * 1000 / _EARTH_RADIUS_M), "lng": point["lng"]}


@dataclass(frozen=True)
class FranchiseTree:
    hq_id: str
    district_id: str
    unit_id: str


async def insert_franchise(
    h: Harness,
    *,
    kind: str,
    parent_id: str | None,
    centre: dict[str, float] | None = None,
    radius_m: int | None = None,
) -> str:
    franchise_id = new_id("FRN")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            franchises.insert().values(
                id=franchise_id,
                name=f"{kind.title()} office",
                kind=kind,
                parent_id=parent_id,
                centre_lat=centre["lat"] if centre else None,
                centre_lng=centre["lng"] if centre else None,
                radius_m=radius_m,
                created_at=h.clock.now(),
            )
        )
    return franchise_id


async def insert_franchise_tree(
    h: Harness, *, centre: dict[str, float] = PUNE, radius_m: int = 5000, hq_id: str | None = None
) -> FranchiseTree:
    """A district with one unit whose zone is `radius_m` around `centre`, under `hq_id` (a new
    HQ when not given)."""
    hq_id = hq_id or await insert_franchise(h, kind="HQ", parent_id=None)
    district_id = await insert_franchise(h, kind="DISTRICT", parent_id=hq_id)
    unit_id = await insert_franchise(h, kind="UNIT", parent_id=district_id, centre=centre, radius_m=radius_m)
    return FranchiseTree(hq_id, district_id, unit_id)


async def assign_franchise(h: Harness, user_id: str, franchise_id: str | None) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(franchise_id=franchise_id))


async def staff_session(h: Harness, mobile: str, role: Role, franchise_id: str | None) -> Session:
    user_id = await create_user_directly(h, mobile, role, f"{role.value.title()} staff")
    await assign_franchise(h, user_id, franchise_id)
    return await sign_in(h, mobile)


async def operator_session(h: Harness, mobile: str) -> Session:
    return await sign_up(h, mobile, role=Role.OPERATOR, name="Sharma Roadways")


async def insert_truck(
    h: Harness,
    operator_id: str,
    *,
    registration: str,
    unit_id: str | None,
    status: str = "PENDING_INSPECTION",
    last_inspected_at: datetime | None = None,
    chassis: str = "MA3EWDE1S00123456",
) -> str:
    """A truck as the fleet API would store it, its chassis number encrypted with the
    operator's data key."""
    services = h.app.state.services
    truck_id = new_truck_id(registration)
    now = h.clock.now()
    async with services.db.transaction() as conn:
        key = await services.data_keys.for_writing(conn, operator_id, now=now)
        values: dict[str, Any] = {
            "id": truck_id,
            "operator_id": operator_id,
            "registration_number": registration,
            "vehicle_type": "HGV",
            "body_type": "OPEN",
            "tyres": 10,
            "capacity_tonnes": 16,
            "model_year": 2021,
            "emission": "BS6",
            "permit_type": "NATIONAL",
            "chassis_ciphertext": encrypt_text(key, chassis, f"truck:{truck_id}:chassis".encode()),
            "chassis_hash": hashlib.sha256(chassis.encode()).hexdigest(),
            "base_lat": PUNE["lat"],
            "base_lng": PUNE["lng"],
            "franchise_unit_id": unit_id,
            "status": status,
            "last_inspected_at": last_inspected_at,
            "created_at": now,
            "updated_at": now,
        }
        await conn.execute(trucks.insert().values(**values))
    return truck_id


async def insert_documents(
    h: Harness, truck_id: str, *, expiry: date, doc_types: tuple[str, ...] = DOCUMENT_TYPES
) -> None:
    """Document rows (the files themselves are not needed by the status rules)."""
    async with h.app.state.services.db.transaction() as conn:
        for doc_type in doc_types:
            doc_id = new_id("TDOC")
            await conn.execute(
                truck_documents.insert().values(
                    id=doc_id,
                    truck_id=truck_id,
                    doc_type=doc_type,
                    expiry_date=expiry,
                    storage_key=f"trucks/{truck_id}/{doc_id}",
                    content_type="application/pdf",
                    size_bytes=1024,
                    file_sha256=hashlib.sha256(doc_id.encode()).hexdigest(),
                    uploaded_by="test",
                    created_at=h.clock.now(),
                )
            )


def jpeg(seed: str) -> bytes:
    """A distinct payload that sniffs as JPEG (the server checks the magic bytes)."""
    return b"\xff\xd8\xff\xe0" + seed.encode() + b"\x00" * 64


def png(seed: str) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + seed.encode() + b"\x00" * 64

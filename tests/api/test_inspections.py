"""Inspections end to end: a franchise unit inspects a truck of its zone, uploads photos and
submits the result; ACS (RF09, RF10, RF24) refuses fraud from real requests; the truck moves."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from rodistaa.acs.tables import acs_blocks, acs_events, acs_watchlist, outbox_events, tickets
from rodistaa.core.ids import is_prefixed_ulid
from rodistaa.core.roles import Role
from rodistaa.fleet.status import business_date
from rodistaa.fleet.tables import trucks
from rodistaa.inspections.tables import inspection_photos, inspections
from rodistaa.security.envelope import decrypt
from tests.api.flows import Session, admin_session, sign_up
from tests.api.onboarding_setup import (
    NAGPUR,
    PUNE,
    FranchiseTree,
    insert_documents,
    insert_franchise,
    insert_franchise_tree,
    insert_truck,
    jpeg,
    km_north,
    operator_session,
    png,
    staff_session,
)
from tests.conftest import Harness

UNIT_MOBILE, DISTRICT_MOBILE, OPERATOR_MOBILE = "+919800000001", "+919800000002", "+919800000003"
OTHER_OPERATOR_MOBILE, OTHER_UNIT_MOBILE = "+919800000004", "+919800000005"
GOOD_GEO = {**km_north(PUNE, 1), "accuracy": 12.0}
ALL_OK = {"tyres": True, "lights": True, "brakes": True, "mirrors": True, "body": True, "numberPlate": True}
RF09, RF10, RF24 = (
    "RF09_INSPECTION_GEO_MISSING",
    "RF10_INSPECTION_DUPLICATE_PHOTO",
    "RF24_INSPECTION_OUT_OF_ZONE",
)


@dataclass(frozen=True)
class Scene:
    tree: FranchiseTree
    unit: Session
    district: Session
    operator: Session
    truck_id: str


async def build_scene(
    h: Harness, *, truck_status: str = "PENDING_INSPECTION", documents: bool = True, radius_m: int = 5000
) -> Scene:
    """A district with one unit around Pune, its staff, an operator and one truck in the unit
    (with all five documents valid for a year unless `documents` is False)."""
    tree = await insert_franchise_tree(h, radius_m=radius_m)
    unit = await staff_session(h, UNIT_MOBILE, Role.FRANCHISE_UNIT, tree.unit_id)
    district = await staff_session(h, DISTRICT_MOBILE, Role.FRANCHISE_DISTRICT, tree.district_id)
    operator = await operator_session(h, OPERATOR_MOBILE)
    truck_id = await insert_truck(
        h, operator.user_id, registration="MH12AB1234", unit_id=tree.unit_id, status=truck_status
    )
    if documents:
        await insert_documents(h, truck_id, expiry=business_date(h.clock.now()) + timedelta(days=365))
    return Scene(tree, unit, district, operator, truck_id)


async def create(h: Harness, session: Session, truck_id: str, **body: Any) -> dict[str, Any]:
    response = await h.client.post(
        "/v1/inspections", json={"truckId": truck_id, **body}, headers=session.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def upload(
    h: Harness,
    session: Session,
    inspection_id: str,
    *payloads: bytes,
    field: str = "files",
    form: dict[str, str] | None = None,
) -> httpx.Response:
    files = [(field, (f"photo{i}.jpg", data, "image/jpeg")) for i, data in enumerate(payloads)]
    return await h.client.post(
        f"/v1/inspections/{inspection_id}/photos", files=files, data=form or {}, headers=session.headers
    )


async def submit(h: Harness, session: Session, inspection_id: str, **body: Any) -> httpx.Response:
    return await h.client.post(
        f"/v1/inspections/{inspection_id}/submit", json={"result": "PASSED", **body}, headers=session.headers
    )


async def ready_inspection(
    h: Harness,
    s: Scene,
    *,
    truck_id: str | None = None,
    photos: tuple[bytes, ...] = (jpeg("front"),),
    geo: dict[str, float] | None = GOOD_GEO,
    form: dict[str, str] | None = None,
) -> str:
    """A PENDING inspection with its checklist, geotag and photos: ready to submit."""
    body: dict[str, Any] = {"checklist": ALL_OK}
    if geo is not None:
        body["geo"] = geo
    inspection = await create(h, s.unit, truck_id or s.truck_id, **body)
    response = await upload(h, s.unit, inspection["id"], *photos, form=form)
    assert response.status_code == 200, response.text
    return str(inspection["id"])


async def inspection_row(h: Harness, inspection_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        row = (
            (await conn.execute(select(inspections).where(inspections.c.id == inspection_id)))
            .mappings()
            .one()
        )
    return dict(row)


async def all_inspections(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(inspections))).mappings()]


async def photo_rows(h: Harness, inspection_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = (
            select(inspection_photos)
            .where(inspection_photos.c.inspection_id == inspection_id)
            .order_by(inspection_photos.c.created_at, inspection_photos.c.id)
        )
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def truck_row(h: Harness, truck_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        return dict((await conn.execute(select(trucks).where(trucks.c.id == truck_id))).mappings().one())


async def set_truck_status(h: Harness, truck_id: str, status: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(trucks).where(trucks.c.id == truck_id).values(status=status))


async def rows_of(h: Harness, table: Any) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


async def audit_entries(h: Harness, admin: Session, **query: str) -> list[dict[str, Any]]:
    response = await h.client.get(
        "/v1/admin/audit", params={"pageSize": "100", **query}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


class TestCreateInspection:
    async def test_unit_staff_opens_a_pending_inspection(self, harness: Harness) -> None:
        s = await build_scene(harness)
        body = await create(
            harness, s.unit, s.truck_id, geo=GOOD_GEO, checklist=ALL_OK, notes=" Dent on door "
        )
        assert is_prefixed_ulid(body["id"], "INS")
        assert (body["truckId"], body["status"], body["photos"]) == (s.truck_id, "PENDING", [])
        assert body["unitFranchiseId"] == s.tree.unit_id and body["inspectorId"] == s.unit.user_id
        assert body["geo"] == GOOD_GEO and body["checklist"] == ALL_OK and body["notes"] == "Dent on door"
        assert body["submittedAt"] is None and body["rejectionCode"] is None
        row = await inspection_row(harness, body["id"])
        assert (row["status"], row["unit_franchise_id"], row["inspector_id"]) == (
            "PENDING",
            s.tree.unit_id,
            s.unit.user_id,
        )
        assert (row["geo_lat"], row["geo_lng"], row["geo_accuracy_m"]) == (
            GOOD_GEO["lat"],
            GOOD_GEO["lng"],
            12.0,
        )
        assert json.loads(row["checklist"]) == ALL_OK
        admin = await admin_session(harness)
        [entry] = await audit_entries(harness, admin, action="inspection.created", entityId=body["id"])
        assert entry["entityId"] == body["id"] and entry["performedBy"] == s.unit.user_id
        assert entry["metadata"] == {
            "inspectionId": body["id"],
            "truckId": s.truck_id,
            "unitFranchiseId": s.tree.unit_id,
        }

    async def test_the_contract_body_alone_is_enough(self, harness: Harness) -> None:
        s = await build_scene(harness)
        body = await create(harness, s.unit, s.truck_id)
        assert body["geo"] is None and body["checklist"] is None and body["notes"] is None
        assert json.loads((await inspection_row(harness, body["id"]))["checklist"]) == {}

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/inspections", json={"truckId": "TRK-X"})
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.FRANCHISE_DISTRICT, Role.ADMIN, Role.KYC_ADMIN])
    async def test_other_staff_roles_are_403(self, harness: Harness, role: Role) -> None:
        s = await build_scene(harness)
        caller = await staff_session(harness, "+919700000001", role, s.tree.district_id)
        response = await harness.client.post(
            "/v1/inspections", json={"truckId": s.truck_id}, headers=caller.headers
        )
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await all_inspections(harness) == []

    async def test_operator_is_403_even_for_its_own_truck(self, harness: Harness) -> None:
        s = await build_scene(harness)
        response = await harness.client.post(
            "/v1/inspections", json={"truckId": s.truck_id}, headers=s.operator.headers
        )
        assert response.status_code == 403
        assert await all_inspections(harness) == []

    async def test_a_truck_of_another_unit_is_404(self, harness: Harness) -> None:
        s = await build_scene(harness)
        other = await insert_franchise_tree(harness, centre=NAGPUR, hq_id=s.tree.hq_id)
        foreign_truck = await insert_truck(
            harness, s.operator.user_id, registration="MH31CD5678", unit_id=other.unit_id
        )
        unassigned_truck = await insert_truck(
            harness, s.operator.user_id, registration="MH31CD5679", unit_id=None
        )
        for truck_id in (foreign_truck, unassigned_truck, "TRK-MH12ZZ9999-01ARZ3NDEKTSV4RRFFQ69G5FAV"):
            response = await harness.client.post(
                "/v1/inspections", json={"truckId": truck_id}, headers=s.unit.headers
            )
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND"), truck_id
            assert response.json()["details"]["field"] == "truckId"
        assert await all_inspections(harness) == []

    async def test_staff_without_a_franchise_see_no_truck(self, harness: Harness) -> None:
        s = await build_scene(harness)
        loose = await staff_session(harness, OTHER_UNIT_MOBILE, Role.FRANCHISE_UNIT, None)
        response = await harness.client.post(
            "/v1/inspections", json={"truckId": s.truck_id}, headers=loose.headers
        )
        assert response.status_code == 404

    async def test_a_retired_truck_is_409(self, harness: Harness) -> None:
        s = await build_scene(harness, truck_status="INACTIVE")
        response = await harness.client.post(
            "/v1/inspections", json={"truckId": s.truck_id}, headers=s.unit.headers
        )
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert await all_inspections(harness) == []

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "truckId"),
            ({"truckId": ""}, "truckId"),
            ({"truckId": "T", "geo": {"lat": 91, "lng": 73}}, "geo.lat"),
            ({"truckId": "T", "geo": {"lat": 18, "lng": -181}}, "geo.lng"),
            ({"truckId": "T", "geo": {"lat": 18, "lng": 73, "accuracy": -1}}, "geo.accuracy"),
            ({"truckId": "T", "geo": {"lng": 73}}, "geo.lat"),
            ({"truckId": "T", "checklist": {**ALL_OK, "brakes": None}}, "checklist.brakes"),
            ({"truckId": "T", "checklist": {**ALL_OK, "lights": "yes"}}, "checklist.lights"),
            ({"truckId": "T", "checklist": {"tyres": True}}, "checklist.lights"),
            ({"truckId": "T", "notes": "x" * 2001}, "notes"),
            ({"truckId": "T", "colour": "red"}, "colour"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, body: dict[str, Any], field: str
    ) -> None:
        s = await build_scene(harness)
        if body.get("truckId") == "T":
            body["truckId"] = s.truck_id
        response = await harness.client.post("/v1/inspections", json=body, headers=s.unit.headers)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert response.json()["details"]["field"] == field
        assert await all_inspections(harness) == []


class TestUploadPhotos:
    async def test_photos_are_stored_encrypted_with_the_operators_key(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        front, rear = jpeg("front"), png("rear")
        response = await upload(
            harness, s.unit, inspection["id"], front, rear, form={"lat": "18.53", "lng": "73.86"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        rows = await photo_rows(harness, inspection["id"])
        assert body["photos"] == [r["id"] for r in rows] and len(rows) == 2
        assert [d["contentType"] for d in body["photoDetails"]] == ["image/jpeg", "image/png"]
        assert body["photoDetails"][0]["location"] == {"lat": 18.53, "lng": 73.86}
        services = harness.app.state.services
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, s.operator.user_id)
        for row, plaintext in zip(rows, (front, rear), strict=True):
            assert is_prefixed_ulid(row["id"], "PHO")
            assert row["sha256"] == hashlib.sha256(plaintext).hexdigest()
            assert row["size_bytes"] == len(plaintext)
            assert (row["taken_lat"], row["taken_lng"]) == (18.53, 73.86)
            stored = await services.storage.get(row["storage_key"])
            assert plaintext not in stored
            aad = f"inspection:{inspection['id']}:photo:{row['id']}".encode()
            assert decrypt(key, stored, aad) == plaintext
        admin = await admin_session(harness)
        [entry] = await audit_entries(
            harness, admin, action="inspection.photos_added", entityId=inspection["id"]
        )
        assert entry["metadata"] == {
            "photoIds": [r["id"] for r in rows],
            "sha256": [r["sha256"] for r in rows],
        }

    async def test_a_single_file_field_is_accepted_without_location(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        response = await upload(harness, s.unit, inspection["id"], jpeg("one"), field="file")
        assert response.status_code == 200, response.text
        [row] = await photo_rows(harness, inspection["id"])
        assert row["taken_lat"] is None and response.json()["photoDetails"][0]["location"] is None

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post(
            "/v1/inspections/INS-X/photos", files=[("files", ("a.jpg", jpeg("a"), "image/jpeg"))]
        )
        assert response.status_code == 401

    async def test_district_and_operator_are_403(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        for caller in (s.district, s.operator):
            response = await upload(harness, caller, inspection["id"], jpeg("a"))
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await photo_rows(harness, inspection["id"]) == []

    async def test_another_units_inspection_is_404(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        other = await insert_franchise(
            harness, kind="UNIT", parent_id=s.tree.district_id, centre=PUNE, radius_m=900
        )
        stranger = await staff_session(harness, OTHER_UNIT_MOBILE, Role.FRANCHISE_UNIT, other)
        for inspection_id in (inspection["id"], "INS-01ARZ3NDEKTSV4RRFFQ69G5FAV"):
            response = await upload(harness, stranger, inspection_id, jpeg("a"))
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        assert await photo_rows(harness, inspection["id"]) == []

    @pytest.mark.parametrize(
        ("payload", "form", "field"),
        [
            (b"%PDF-1.7 not a photo", {}, "files"),
            (b"GIF89a not allowed", {}, "files"),
            (b"", {}, "files"),
            (None, {}, "files"),
            (jpeg("a"), {"lat": "18.5"}, "lng"),
            (jpeg("a"), {"lng": "73.8"}, "lat"),
            (jpeg("a"), {"lat": "95", "lng": "73.8"}, "lat"),
            (jpeg("a"), {"lat": "18.5", "lng": "east"}, "lng"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, payload: bytes | None, form: dict[str, str], field: str
    ) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        payloads = () if payload is None else (payload,)
        response = await upload(harness, s.unit, inspection["id"], *payloads, form=form)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR"), response.text
        assert response.json()["details"]["field"] == field
        assert await photo_rows(harness, inspection["id"]) == []

    async def test_one_bad_file_stores_none_of_the_request(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        response = await upload(harness, s.unit, inspection["id"], jpeg("good"), b"%PDF-1.7")
        assert response.status_code == 400
        assert await photo_rows(harness, inspection["id"]) == []
        # The good file had reached storage before the bad one was read: it is deleted again.
        stored = Path(harness.settings.storage_local_dir) / "inspections" / inspection["id"]
        assert not stored.exists() or list(stored.iterdir()) == []

    async def test_a_file_over_10_mb_is_413(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        response = await upload(harness, s.unit, inspection["id"], jpeg("big") + b"\x00" * (10 * 1024 * 1024))
        assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
        assert await photo_rows(harness, inspection["id"]) == []

    async def test_at_most_20_photos(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        first = await upload(harness, s.unit, inspection["id"], *(jpeg(f"p{i}") for i in range(19)))
        assert first.status_code == 200
        response = await upload(harness, s.unit, inspection["id"], jpeg("p19"), jpeg("p20"))
        assert (response.status_code, response.json()["details"]["field"]) == (400, "files")
        assert len(await photo_rows(harness, inspection["id"])) == 19

    async def test_concurrent_uploads_cannot_pass_the_limit_together(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        first = await upload(harness, s.unit, inspection["id"], *(jpeg(f"p{i}") for i in range(18)))
        assert first.status_code == 200
        responses = await asyncio.gather(
            upload(harness, s.unit, inspection["id"], jpeg("a1"), jpeg("a2")),
            upload(harness, s.unit, inspection["id"], jpeg("b1"), jpeg("b2")),
        )
        assert sorted(r.status_code for r in responses) == [200, 400], [r.text for r in responses]
        assert len(await photo_rows(harness, inspection["id"])) == 20

    async def test_a_submitted_inspection_takes_no_more_photos(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        assert (await submit(harness, s.unit, inspection_id)).status_code == 200
        response = await upload(harness, s.unit, inspection_id, jpeg("late"))
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert len(await photo_rows(harness, inspection_id)) == 1


class TestSubmit:
    async def test_a_pass_activates_the_truck_and_is_audited(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        harness.clock.advance(minutes=5)
        response = await submit(harness, s.unit, inspection_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["truckStatus"], body["rejectionCode"]) == ("PASSED", "ACTIVE", None)
        row = await inspection_row(harness, inspection_id)
        assert row["status"] == "PASSED" and row["submitted_at"] == harness.clock.now()
        truck = await truck_row(harness, s.truck_id)
        assert truck["status"] == "ACTIVE" and truck["last_inspected_at"] == harness.clock.now()
        admin = await admin_session(harness)
        [entry] = await audit_entries(harness, admin, action="inspection.submitted", entityId=inspection_id)
        assert entry["entityType"] == "inspection" and entry["entityId"] == inspection_id
        assert entry["performedBy"] == s.unit.user_id
        assert entry["metadata"] == {
            "inspectionId": inspection_id,
            "truckId": s.truck_id,
            "result": "PASSED",
            "truckStatusBefore": "PENDING_INSPECTION",
            "truckStatus": "ACTIVE",
        }

    async def test_geo_and_checklist_can_come_with_the_submission(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id)
        assert (await upload(harness, s.unit, inspection["id"], jpeg("a"))).status_code == 200
        failing = {**ALL_OK, "brakes": False}
        response = await submit(
            harness, s.unit, inspection["id"], result="FAILED", geo=GOOD_GEO, checklist=failing
        )
        assert response.status_code == 200, response.text
        assert response.json()["checklist"] == failing and response.json()["geo"] == GOOD_GEO
        row = await inspection_row(harness, inspection["id"])
        assert json.loads(row["checklist"]) == failing and row["geo_accuracy_m"] == 12.0

    @pytest.mark.parametrize(
        ("before", "result", "documents", "after"),
        [
            ("PENDING_INSPECTION", "PASSED", "valid", "ACTIVE"),
            ("NEEDS_INSPECTION", "PASSED", "valid", "ACTIVE"),
            ("ACTIVE", "PASSED", "valid", "ACTIVE"),
            ("PENDING_INSPECTION", "PASSED", "expired", "EXPIRED_DOCS"),
            ("PENDING_INSPECTION", "PASSED", "none", "EXPIRED_DOCS"),
            ("EXPIRED_DOCS", "PASSED", "valid", "ACTIVE"),
            ("BLOCKED", "PASSED", "valid", "BLOCKED"),
            ("INACTIVE", "PASSED", "valid", "INACTIVE"),
            ("PENDING_INSPECTION", "FAILED", "valid", "PENDING_INSPECTION"),
            ("ACTIVE", "FAILED", "valid", "NEEDS_INSPECTION"),
            ("NEEDS_INSPECTION", "FAILED", "valid", "NEEDS_INSPECTION"),
            ("EXPIRED_DOCS", "FAILED", "valid", "NEEDS_INSPECTION"),
            ("BLOCKED", "FAILED", "valid", "BLOCKED"),
            ("INACTIVE", "FAILED", "valid", "INACTIVE"),
        ],
    )
    async def test_the_result_moves_the_truck(
        self, harness: Harness, before: str, result: str, documents: str, after: str
    ) -> None:
        s = await build_scene(harness, documents=documents == "valid")
        if documents == "expired":
            today = business_date(harness.clock.now())
            await insert_documents(harness, s.truck_id, expiry=today + timedelta(days=30))
            await insert_documents(harness, s.truck_id, expiry=today - timedelta(days=1), doc_types=("PUC",))
        inspection_id = await ready_inspection(harness, s)
        await set_truck_status(harness, s.truck_id, before)  # after creation: INACTIVE cannot be opened
        checklist = ALL_OK if result == "PASSED" else {**ALL_OK, "tyres": False}
        response = await submit(harness, s.unit, inspection_id, result=result, checklist=checklist)
        assert response.status_code == 200, response.text
        assert response.json()["truckStatus"] == after
        truck = await truck_row(harness, s.truck_id)
        assert truck["status"] == after
        # Only a pass restarts the 120-day validity.
        assert truck["last_inspected_at"] == (harness.clock.now() if result == "PASSED" else None)
        assert (await inspection_row(harness, inspection_id))["status"] == result

    async def test_an_actively_blocked_truck_stays_out_of_work_after_a_pass(self, harness: Harness) -> None:
        s = await build_scene(harness, truck_status="ACTIVE")
        inspection_id = await ready_inspection(harness, s)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                acs_blocks.insert().values(
                    id="BLK-TEST-1",
                    entity_type="truck",
                    entity_id=s.truck_id,
                    reason="TEST",
                    severity="high",
                    source="ADMIN",
                    created_at=harness.clock.now(),
                )
            )
        response = await submit(harness, s.unit, inspection_id)
        assert response.status_code == 200
        assert (await truck_row(harness, s.truck_id))["status"] == "BLOCKED"

    async def test_without_photos_is_409(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id, geo=GOOD_GEO, checklist=ALL_OK)
        response = await submit(harness, s.unit, inspection["id"])
        assert (response.status_code, response.json()["code"]) == (409, "INSPECTION_PHOTOS_REQUIRED")
        assert (await inspection_row(harness, inspection["id"]))["status"] == "PENDING"

    async def test_without_a_checklist_is_400(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection = await create(harness, s.unit, s.truck_id, geo=GOOD_GEO)
        assert (await upload(harness, s.unit, inspection["id"], jpeg("a"))).status_code == 200
        response = await submit(harness, s.unit, inspection["id"])
        assert (response.status_code, response.json()["details"]["field"]) == (400, "checklist")
        assert (await inspection_row(harness, inspection["id"]))["status"] == "PENDING"

    async def test_a_pass_with_a_failed_checklist_item_is_400(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        response = await submit(harness, s.unit, inspection_id, checklist={**ALL_OK, "mirrors": False})
        assert (response.status_code, response.json()["details"]["field"]) == (400, "result")
        assert (await truck_row(harness, s.truck_id))["status"] == "PENDING_INSPECTION"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"result": None}, "result"),
            ({"result": "MAYBE"}, "result"),
            ({"geo": {"lat": -91, "lng": 0, "accuracy": 5}}, "geo.lat"),
            ({"checklist": {**ALL_OK, "body": 1}}, "checklist.body"),
            ({"verdict": "PASSED"}, "verdict"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, body: dict[str, Any], field: str
    ) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        response = await submit(harness, s.unit, inspection_id, **body)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert response.json()["details"]["field"] == field
        assert (await inspection_row(harness, inspection_id))["status"] == "PENDING"

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/inspections/INS-X/submit", json={"result": "PASSED"})
        assert response.status_code == 401

    async def test_district_and_operator_may_see_but_not_submit(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        for caller in (s.district, s.operator):
            response = await submit(harness, caller, inspection_id)
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await inspection_row(harness, inspection_id))["status"] == "PENDING"

    async def test_another_units_staff_get_404(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        other = await insert_franchise_tree(harness, centre=NAGPUR, hq_id=s.tree.hq_id)
        stranger = await staff_session(harness, OTHER_UNIT_MOBILE, Role.FRANCHISE_UNIT, other.unit_id)
        response = await submit(harness, stranger, inspection_id)
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        assert (await inspection_row(harness, inspection_id))["status"] == "PENDING"

    async def test_a_second_submit_is_409(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        assert (await submit(harness, s.unit, inspection_id)).status_code == 200
        response = await submit(
            harness, s.unit, inspection_id, result="FAILED", checklist={**ALL_OK, "body": False}
        )
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert (await inspection_row(harness, inspection_id))["status"] == "PASSED"
        assert (await truck_row(harness, s.truck_id))["status"] == "ACTIVE"

    async def test_concurrent_submits_record_exactly_one_result(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        failing = {**ALL_OK, "lights": False}
        responses = await asyncio.gather(
            submit(harness, s.unit, inspection_id, result="PASSED"),
            submit(harness, s.unit, inspection_id, result="FAILED", checklist=failing),
            submit(harness, s.unit, inspection_id, result="PASSED"),
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409, 409], [r.text for r in responses]
        winner = next(r.json() for r in responses if r.status_code == 200)
        row = await inspection_row(harness, inspection_id)
        assert row["status"] == winner["status"]
        assert (await truck_row(harness, s.truck_id))["status"] == winner["truckStatus"]
        admin = await admin_session(harness)
        submitted = await audit_entries(harness, admin, action="inspection.submitted", entityId=inspection_id)
        assert len(submitted) == 1


class TestAcsRules:
    """The default bundle's inspection rules, fired by real submissions."""

    async def rejected(
        self, h: Harness, s: Scene, inspection_id: str, code: str, rule_id: str
    ) -> dict[str, Any]:
        """Submit, expect the ACS refusal, and check what every refusal must leave behind: the
        inspection REJECTED with the code, the truck untouched, the rule hit and the rejection
        audited. Returns the error body."""
        response = await submit(h, s.unit, inspection_id)
        assert (response.status_code, response.json()["code"]) == (403, code), response.text
        error = response.json()
        assert error["details"]["ruleId"] == rule_id
        row = await inspection_row(h, inspection_id)
        assert (row["status"], row["rejection_code"]) == ("REJECTED", code)
        truck = await truck_row(h, s.truck_id)
        assert (truck["status"], truck["last_inspected_at"]) == ("PENDING_INSPECTION", None)
        got = (await h.client.get(f"/v1/inspections/{inspection_id}", headers=s.unit.headers)).json()
        assert (got["status"], got["rejectionCode"]) == ("REJECTED", code)
        admin = await admin_session(h)
        hits = await audit_entries(h, admin, action="acs.rule_matched", entityId=error["details"]["eventId"])
        assert rule_id in {hit["ruleId"] for hit in hits}
        [rejection] = await audit_entries(h, admin, action="inspection.rejected", entityId=inspection_id)
        assert rejection["metadata"]["code"] == code and rejection["metadata"]["ruleId"] == rule_id
        assert await audit_entries(h, admin, action="inspection.submitted", entityId=inspection_id) == []
        return dict(error)

    @pytest.mark.parametrize(
        "geo",
        [None, {**GOOD_GEO, "accuracy": 150.0}, {"lat": GOOD_GEO["lat"], "lng": GOOD_GEO["lng"]}],
        ids=["missing", "inaccurate", "no-accuracy"],
    )
    async def test_rf09_refuses_a_missing_or_inaccurate_geotag(
        self, harness: Harness, geo: dict[str, float] | None
    ) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s, geo=geo)
        await self.rejected(harness, s, inspection_id, "INVALID_GEO", RF09)
        [event] = [e for e in await rows_of(harness, outbox_events) if e["name"] == "inspection.invalid_geo"]
        assert json.loads(event["payload"]) == {"inspectionId": inspection_id, "truckId": s.truck_id}

    async def test_a_rejected_inspection_cannot_be_resubmitted(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s, geo=None)
        assert (await submit(harness, s.unit, inspection_id)).status_code == 403
        response = await submit(harness, s.unit, inspection_id, geo=GOOD_GEO)
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        # A new inspection with the same photo of the same truck goes through.
        retry = await ready_inspection(harness, s)
        assert (await submit(harness, s.unit, retry)).status_code == 200

    async def test_rf10_refuses_a_photo_used_for_another_truck(self, harness: Harness) -> None:
        s = await build_scene(harness)
        other_truck = await insert_truck(
            harness, s.operator.user_id, registration="MH12XY9876", unit_id=s.tree.unit_id
        )
        await insert_documents(
            harness, other_truck, expiry=business_date(harness.clock.now()) + timedelta(days=90)
        )
        reused = jpeg("same picture")
        first = await ready_inspection(harness, s, truck_id=other_truck, photos=(reused,))
        assert (await submit(harness, s.unit, first)).status_code == 200
        inspection_id = await ready_inspection(harness, s, photos=(jpeg("honest"), reused))
        await self.rejected(harness, s, inspection_id, "INSPECTION_DUPLICATE_PHOTO", RF10)
        [flag] = await rows_of(harness, acs_watchlist)
        assert (flag["entity_type"], flag["entity_id"]) == ("franchise_unit", s.tree.unit_id)
        assert json.loads(flag["reasons"]) == ["POTENTIAL_FAKE_INSPECTION"]
        [ticket] = await rows_of(harness, tickets)
        assert (ticket["team"], ticket["rule_id"]) == ("district", RF10)
        assert json.loads(ticket["refs"]) == [inspection_id, s.truck_id]
        event = await self.evaluated_context(harness, inspection_id)
        assert event["image"]["hash"] == hashlib.sha256(reused).hexdigest()

    async def test_rf10_allows_the_same_photo_for_the_same_truck(self, harness: Harness) -> None:
        s = await build_scene(harness)
        photo = jpeg("re-inspection")
        first = await ready_inspection(harness, s, photos=(photo,))
        assert (await submit(harness, s.unit, first)).status_code == 200
        second = await ready_inspection(harness, s, photos=(photo,))
        response = await submit(harness, s.unit, second)
        assert response.status_code == 200, response.text
        assert await rows_of(harness, acs_watchlist) == []

    async def test_rf24_refuses_a_geotag_outside_the_units_zone(self, harness: Harness) -> None:
        s = await build_scene(harness, radius_m=2000)
        inspection_id = await ready_inspection(harness, s, geo={**km_north(PUNE, 3), "accuracy": 10.0})
        await self.rejected(harness, s, inspection_id, "OUT_OF_ZONE_INSPECTION", RF24)
        [flag] = await rows_of(harness, acs_watchlist)
        assert (flag["entity_id"], json.loads(flag["reasons"])) == (
            s.tree.unit_id,
            ["OUT_OF_ZONE_INSPECTION"],
        )
        [ticket] = await rows_of(harness, tickets)
        assert (ticket["team"], json.loads(ticket["refs"])) == ("district", [inspection_id])

    async def test_rf24_refuses_a_photo_taken_outside_the_zone(self, harness: Harness) -> None:
        s = await build_scene(harness)
        outside = km_north(PUNE, 7)
        inspection_id = await ready_inspection(
            harness, s, form={"lat": str(outside["lat"]), "lng": str(outside["lng"])}
        )
        await self.rejected(harness, s, inspection_id, "OUT_OF_ZONE_INSPECTION", RF24)
        event = await self.evaluated_context(harness, inspection_id)
        assert event["inspection"]["geo"] == {**outside, "accuracy": 12.0}

    async def test_rf24_allows_a_geotag_inside_the_zone(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inside = km_north(PUNE, 4.5)
        inspection_id = await ready_inspection(
            harness,
            s,
            geo={**inside, "accuracy": 30.0},
            form={"lat": str(inside["lat"]), "lng": str(inside["lng"])},
        )
        response = await submit(harness, s.unit, inspection_id)
        assert response.status_code == 200, response.text
        assert await rows_of(harness, tickets) == []

    @staticmethod
    async def evaluated_context(h: Harness, inspection_id: str) -> dict[str, Any]:
        """The context ACS stored for the submission of this inspection."""
        for row in await rows_of(h, acs_events):
            context = json.loads(row["context"])
            if context.get("inspection", {}).get("id") == inspection_id:
                return dict(context)
        raise AssertionError("no evaluated event for the inspection")


class TestGetInspection:
    async def test_each_party_reads_it(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        admin = await admin_session(harness)
        for caller in (s.unit, s.district, s.operator, admin):
            response = await harness.client.get(f"/v1/inspections/{inspection_id}", headers=caller.headers)
            assert response.status_code == 200, caller.user_id
            body = response.json()
            assert (body["id"], body["truckId"], body["status"]) == (inspection_id, s.truck_id, "PENDING")
            assert len(body["photos"]) == 1 and body["photoDetails"][0]["id"] == body["photos"][0]

    async def test_outsiders_get_404(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        other = await insert_franchise_tree(harness, centre=NAGPUR, hq_id=s.tree.hq_id)
        callers = [
            await staff_session(harness, OTHER_UNIT_MOBILE, Role.FRANCHISE_UNIT, other.unit_id),
            await staff_session(harness, "+919800000006", Role.FRANCHISE_DISTRICT, other.district_id),
            await operator_session(harness, OTHER_OPERATOR_MOBILE),
        ]
        for caller in callers:
            response = await harness.client.get(f"/v1/inspections/{inspection_id}", headers=caller.headers)
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND"), caller.user_id
        response = await harness.client.get("/v1/inspections/INS-NOPE", headers=s.unit.headers)
        assert response.status_code == 404

    async def test_other_roles_are_403_and_anonymous_401(self, harness: Harness) -> None:
        s = await build_scene(harness)
        inspection_id = await ready_inspection(harness, s)
        shipper = await sign_up(harness, "+919800000007")
        response = await harness.client.get(f"/v1/inspections/{inspection_id}", headers=shipper.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await harness.client.get(f"/v1/inspections/{inspection_id}")).status_code == 401


class TestListInspections:
    async def test_each_caller_lists_what_it_may_see(self, harness: Harness) -> None:
        s = await build_scene(harness)
        other = await insert_franchise_tree(harness, centre=NAGPUR, hq_id=s.tree.hq_id)
        other_operator = await operator_session(harness, OTHER_OPERATOR_MOBILE)
        foreign_truck = await insert_truck(
            harness, other_operator.user_id, registration="MH31CD5678", unit_id=other.unit_id
        )
        stranger = await staff_session(harness, OTHER_UNIT_MOBILE, Role.FRANCHISE_UNIT, other.unit_id)
        mine = [(await create(harness, s.unit, s.truck_id))["id"] for _ in range(3)]
        theirs = (await create(harness, stranger, foreign_truck))["id"]
        admin = await admin_session(harness)

        async def listed(caller: Session, query: str = "") -> list[str]:
            response = await harness.client.get(f"/v1/inspections?{query}", headers=caller.headers)
            assert response.status_code == 200, response.text
            return [i["id"] for i in response.json()["data"]]

        for caller in (s.unit, s.district, s.operator):
            assert sorted(await listed(caller)) == sorted(mine)
        assert await listed(stranger) == [theirs] and await listed(other_operator) == [theirs]
        assert sorted(await listed(admin)) == sorted([*mine, theirs])
        assert await listed(admin, f"truckId={foreign_truck}") == [theirs]
        assert await listed(admin, "status=PASSED") == []
        page = await harness.client.get("/v1/inspections?pageSize=2&page=2", headers=s.unit.headers)
        assert page.json()["meta"] == {"page": 2, "pageSize": 2, "total": 3, "totalPages": 2}
        assert len(page.json()["data"]) == 1

    @pytest.mark.parametrize("query", ["page=0", "pageSize=101", "status=DONE"])
    async def test_bad_query_is_400(self, harness: Harness, query: str) -> None:
        s = await build_scene(harness)
        response = await harness.client.get(f"/v1/inspections?{query}", headers=s.unit.headers)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")

    async def test_other_roles_are_403_and_anonymous_401(self, harness: Harness) -> None:
        shipper = await sign_up(harness, "+919800000007")
        assert (await harness.client.get("/v1/inspections", headers=shipper.headers)).status_code == 403
        assert (await harness.client.get("/v1/inspections")).status_code == 401

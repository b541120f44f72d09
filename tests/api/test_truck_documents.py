"""Truck documents (PRODUCT §5): encrypted uploads by the truck's operator, the chassis check
against the vehicle registry (ACS RF11), status changes the documents cause, and downloads."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from rodistaa.acs.tables import acs_events, tickets
from rodistaa.core.roles import Role
from rodistaa.fleet.jobs import document_expiry
from rodistaa.fleet.tables import truck_documents, trucks
from rodistaa.fleet.vahan import LOCAL_FIXTURES, derived_chassis
from rodistaa.security.envelope import decrypt
from tests.api.fleet_flows import (
    JPEG,
    NAGPUR,
    PDF,
    PNG,
    active_truck,
    add_unit,
    create_truck,
    franchise_tree,
    next_mobile,
    operator_session,
    sign_in_again,
    staff_session,
    today,
    upload_document,
)
from tests.api.flows import Session, admin_session, create_user_directly, sign_in
from tests.conftest import TEST_STORAGE_DIR, Harness


async def document_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(truck_documents).order_by(truck_documents.c.created_at, truck_documents.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def truck_status(h: Harness, truck_id: str) -> str:
    async with h.app.state.services.db.read() as conn:
        return str((await conn.execute(select(trucks.c.status).where(trucks.c.id == truck_id))).scalar_one())


async def acs_event_of(h: Harness, document_id: str) -> str:
    """The id of the `doc.uploaded` event ACS evaluated for a document."""
    async with h.app.state.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(acs_events.c.event_id, acs_events.c.event).where(
                    acs_events.c.event_type == "doc.uploaded"
                )
            )
        ).all()
    [event_id] = [r.event_id for r in rows if json.loads(r.event)["payload"]["documentId"] == document_id]
    return str(event_id)


async def session_with_role(h: Harness, role: Role) -> Session:
    mobile = next_mobile()
    await create_user_directly(h, mobile, role)
    return await sign_in(h, mobile)


async def audit_api(h: Harness, admin: Session, **params: str) -> list[dict[str, Any]]:
    response = await h.client.get(
        "/v1/admin/audit", params={"pageSize": 100, **params}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


class TestUploadDocument:
    async def test_operator_uploads_an_encrypted_document(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        expiry = today(harness) + timedelta(days=200)
        response = await upload_document(harness, operator, truck["id"], "INSURANCE", expiry, content=PNG)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("DOC-")
        assert (body["type"], body["expiryDate"], body["truckId"]) == (
            "INSURANCE",
            expiry.isoformat(),
            truck["id"],
        )
        assert (body["contentType"], body["sizeBytes"]) == ("image/png", len(PNG))
        assert body["fileSha256"] == hashlib.sha256(PNG).hexdigest()
        assert body["fileUrl"] == f"/v1/trucks/{truck['id']}/documents/{body['id']}/file"
        assert body["truckStatus"] == "PENDING_INSPECTION"
        [row] = await document_rows(harness)
        assert (row["id"], row["doc_type"], row["uploaded_by"]) == (body["id"], "INSURANCE", operator.user_id)
        assert row["file_sha256"] == hashlib.sha256(PNG).hexdigest()
        stored = (TEST_STORAGE_DIR / row["storage_key"]).read_bytes()
        assert PNG not in stored
        services = harness.app.state.services
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, operator.user_id)
        assert decrypt(key, stored, f"truckdoc:{body['id']}".encode()) == PNG
        [entry] = await audit_api(harness, admin, action="truck.document_uploaded", entityId=body["id"])
        assert entry["metadata"]["truckId"] == truck["id"] and entry["performedBy"] == operator.user_id
        shown = (await harness.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers)).json()
        assert [d["id"] for d in shown["documents"]] == [body["id"]]

    async def test_the_newest_upload_of_a_type_is_the_current_one(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        first = await upload_document(
            harness, operator, truck["id"], "PUC", today(harness) + timedelta(days=300)
        )
        harness.clock.advance(seconds=1)
        second = await upload_document(
            harness, operator, truck["id"], "PUC", today(harness) + timedelta(days=30)
        )
        shown = (await harness.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers)).json()
        assert [d["id"] for d in shown["documents"]] == [second.json()["id"]]
        assert len(await document_rows(harness)) == 2 and first.status_code == 201

    async def test_the_field_may_be_called_type(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        response = await harness.client.post(
            f"/v1/trucks/{truck['id']}/documents",
            data={"type": "FITNESS", "expiryDate": (today(harness) + timedelta(days=9)).isoformat()},
            files={"file": ("f.jpg", JPEG, "image/jpeg")},
            headers=operator.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["type"] == "FITNESS"

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        response = await harness.client.post(
            f"/v1/trucks/{truck['id']}/documents",
            data={"documentType": "PUC", "expiryDate": "2030-01-01"},
            files={"file": ("f.pdf", PDF, "application/pdf")},
        )
        assert response.status_code == 401
        assert await document_rows(harness) == []

    async def test_admin_and_zone_staff_may_see_but_not_upload(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        unit_staff = await staff_session(harness, admin, tree.unit_id, Role.FRANCHISE_UNIT)
        for session in (admin, unit_staff):
            response = await upload_document(harness, session, truck["id"], "PUC", today(harness))
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await document_rows(harness) == []

    async def test_shipper_is_403_and_another_operator_404(self, harness: Harness) -> None:
        operator, other = await operator_session(harness), await operator_session(harness)
        truck = await create_truck(harness, operator)
        shipper = await session_with_role(harness, Role.SHIPPER)
        refused = await upload_document(harness, shipper, truck["id"], "PUC", today(harness))
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
        hidden = await upload_document(harness, other, truck["id"], "PUC", today(harness))
        assert (hidden.status_code, hidden.json()["code"]) == (404, "NOT_FOUND")
        unknown = await upload_document(harness, operator, "TRK-MH12AB0000-NOPE", "PUC", today(harness))
        assert unknown.status_code == 404
        assert await document_rows(harness) == []

    async def test_a_retired_truck_takes_no_documents(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        await harness.client.post(f"/v1/trucks/{truck['id']}/retire", headers=operator.headers)
        response = await upload_document(harness, operator, truck["id"], "PUC", today(harness))
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert await document_rows(harness) == []

    @pytest.mark.parametrize(
        ("form", "content", "field"),
        [
            ({"documentType": "AADHAAR"}, PDF, "documentType"),
            ({"documentType": None}, PDF, "documentType"),
            ({"documentType": "PUC", "type": "RC"}, PDF, "documentType"),
            ({"expiryDate": "15-03-2030"}, PDF, "expiryDate"),
            ({"expiryDate": None}, PDF, "expiryDate"),
            ({"expiryDate": "2099-01-01"}, PDF, "expiryDate"),
            ({}, b"GIF89a not allowed", "file"),
            ({}, b"", "file"),
            ({"documentType": "RC"}, PDF, "chassisNumber"),
            ({"documentType": "RC", "chassisNumber": "AB"}, PDF, "chassisNumber"),
            ({"chassisNumber": "MA3EWDE1S00123456"}, PDF, "chassisNumber"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, form: dict[str, str | None], content: bytes, field: str
    ) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        data = {
            "documentType": "PUC",
            "expiryDate": (today(harness) + timedelta(days=30)).isoformat(),
            **form,
        }
        response = await harness.client.post(
            f"/v1/trucks/{truck['id']}/documents",
            data={k: v for k, v in data.items() if v is not None},
            files={"file": ("upload.pdf", content, "application/pdf")},
            headers=operator.headers,
        )
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["details"]["field"]) == ("VALIDATION_ERROR", field)
        assert await document_rows(harness) == []

    async def test_a_missing_file_is_400(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        response = await harness.client.post(
            f"/v1/trucks/{truck['id']}/documents",
            data={"documentType": "PUC", "expiryDate": "2030-01-01"},
            headers=operator.headers,
        )
        assert (response.status_code, response.json()["details"]["field"]) == (400, "file")

    async def test_a_file_over_10_mb_is_413(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        big = PDF + b"0" * (10 * 1024 * 1024)
        response = await upload_document(harness, operator, truck["id"], "PUC", today(harness), content=big)
        assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
        assert await document_rows(harness) == []


class TestChassisCheck:
    async def test_rf11_blocks_a_truck_whose_rc_disagrees_with_the_registry(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        expiry = today(harness) + timedelta(days=365)
        response = await upload_document(
            harness, operator, truck["id"], "RC", expiry, chassis_number="MA3FAKE0000000001"
        )
        assert response.status_code == 201, response.text
        assert response.json()["truckStatus"] == "BLOCKED"
        assert await truck_status(harness, truck["id"]) == "BLOCKED"
        blocks = await harness.client.get(f"/v1/acs/blocks/truck/{truck['id']}", headers=admin.headers)
        assert blocks.status_code == 200, blocks.text
        assert [(b["reason"], b["ruleId"]) for b in blocks.json()] == [
            ("CHASSIS_MISMATCH", "RF11_TRUCK_OWNER_MISMATCH")
        ]
        async with harness.app.state.services.db.read() as conn:
            queue = (await conn.execute(select(tickets.c.team, tickets.c.refs, tickets.c.rule_id))).all()
        assert [(t.team, t.rule_id) for t in queue] == [("kyc", "RF11_TRUCK_OWNER_MISMATCH")]
        assert truck["id"] in queue[0].refs and response.json()["id"] in queue[0].refs
        event_id = await acs_event_of(harness, response.json()["id"])
        hits = await audit_api(harness, admin, action="acs.rule_matched", entityId=event_id)
        assert [h["ruleId"] for h in hits] == ["RF11_TRUCK_OWNER_MISMATCH"]
        [upload_audit] = await audit_api(
            harness, admin, action="truck.document_uploaded", entityId=response.json()["id"]
        )
        assert (upload_audit["metadata"]["statusFrom"], upload_audit["metadata"]["statusTo"]) == (
            "ACTIVE",
            "BLOCKED",
        )
        listed = await harness.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers)
        assert listed.json()["status"] == "BLOCKED"

    async def test_a_matching_rc_does_not_block(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        chassis = derived_chassis(truck["registrationNumber"]).lower()
        response = await upload_document(
            harness, operator, truck["id"], "RC", today(harness), chassis_number=chassis
        )
        assert response.status_code == 201, response.text
        assert response.json()["truckStatus"] == "PENDING_INSPECTION"
        blocks = await harness.client.get(f"/v1/acs/blocks/truck/{truck['id']}", headers=admin.headers)
        assert blocks.json() == []

    async def test_a_registration_the_registry_does_not_know_is_not_blocked(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        unknown = next(reg for reg, chassis in LOCAL_FIXTURES.items() if chassis is None)
        truck = await create_truck(harness, operator, registration=unknown)
        response = await upload_document(
            harness, operator, truck["id"], "RC", today(harness), chassis_number="ANYTHING123"
        )
        assert response.status_code == 201, response.text
        blocks = await harness.client.get(f"/v1/acs/blocks/truck/{truck['id']}", headers=admin.headers)
        assert blocks.json() == [] and await truck_status(harness, truck["id"]) == "PENDING_INSPECTION"


class TestDocumentsAndStatus:
    async def test_expired_insurance_takes_the_truck_out_until_a_valid_one_arrives(
        self, harness: Harness
    ) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        yesterday = today(harness) - timedelta(days=1)
        recorded = await upload_document(harness, operator, truck["id"], "INSURANCE", yesterday)
        # An already expired document is recorded, and the truck stops working at once.
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["truckStatus"] == "EXPIRED_DOCS"
        renewed = await upload_document(
            harness, operator, truck["id"], "INSURANCE", today(harness) + timedelta(days=365)
        )
        assert renewed.json()["truckStatus"] == "ACTIVE"
        assert await truck_status(harness, truck["id"]) == "ACTIVE"

    async def test_the_daily_job_then_a_valid_upload(self, harness: Harness) -> None:
        """Done-when: insurance expired yesterday → EXPIRED_DOCS after the job; ACTIVE again when
        a valid document is uploaded."""
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        insurance_expiry = today(harness) + timedelta(days=10)
        await upload_document(harness, operator, truck["id"], "INSURANCE", insurance_expiry)
        harness.clock.advance(days=11)  # the insurance expired yesterday
        services = harness.app.state.services
        result = await document_expiry(services.db, harness.clock)
        assert result.transitions == {"ACTIVE->EXPIRED_DOCS": 1}
        operator = await sign_in_again(harness, operator)
        shown = await harness.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers)
        assert shown.json()["status"] == "EXPIRED_DOCS"
        renewed = await upload_document(
            harness, operator, truck["id"], "INSURANCE", today(harness) + timedelta(days=365)
        )
        assert renewed.status_code == 201, renewed.text
        assert renewed.json()["truckStatus"] == "ACTIVE"
        assert (await harness.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers)).json()[
            "status"
        ] == "ACTIVE"


class TestDownloadDocument:
    async def uploaded(self, h: Harness, operator: Session, truck: dict[str, Any]) -> dict[str, Any]:
        response = await upload_document(h, operator, truck["id"], "PERMIT", today(h) + timedelta(days=90))
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def test_owner_admin_and_franchise_staff_download_the_file(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        doc = await self.uploaded(harness, operator, truck)
        unit_staff = await staff_session(harness, admin, tree.unit_id, Role.FRANCHISE_UNIT)
        district_staff = await staff_session(harness, admin, tree.district_id, Role.FRANCHISE_DISTRICT)
        for session in (operator, admin, unit_staff, district_staff):
            response = await harness.client.get(doc["fileUrl"], headers=session.headers)
            assert response.status_code == 200, response.text
            assert response.content == PDF
            assert response.headers["content-type"] == "application/pdf"
            assert response.headers["cache-control"] == "no-store"
            assert f'filename="{doc["id"]}.pdf"' in response.headers["content-disposition"]
        reads = await audit_api(harness, admin, action="truck.document_read", entityId=doc["id"])
        # Reads by anyone but the owner are audited.
        assert sorted(r["performedBy"] for r in reads) == sorted(
            [admin.user_id, unit_staff.user_id, district_staff.user_id]
        )

    async def test_others_cannot_download(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        nagpur = await add_unit(harness, admin, tree.district_id, centre=NAGPUR, name="Nagpur Unit")
        operator, other = await operator_session(harness), await operator_session(harness)
        truck = await create_truck(harness, operator)
        other_truck = await create_truck(harness, other)
        doc = await self.uploaded(harness, operator, truck)
        nagpur_staff = await staff_session(harness, admin, nagpur["id"], Role.FRANCHISE_UNIT)
        shipper = await session_with_role(harness, Role.SHIPPER)
        for session in (other, nagpur_staff):
            response = await harness.client.get(doc["fileUrl"], headers=session.headers)
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        refused = await harness.client.get(doc["fileUrl"], headers=shipper.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
        assert (await harness.client.get(doc["fileUrl"])).status_code == 401
        # A real document addressed through another truck does not exist there.
        crossed = f"/v1/trucks/{other_truck['id']}/documents/{doc['id']}/file"
        assert (await harness.client.get(crossed, headers=admin.headers)).status_code == 404

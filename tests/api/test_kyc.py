"""KYC through HTTP on both databases: upload (encrypted at rest, validated, duplicate documents
flagged), the owner's status, the KYC admin's queue, verify/reject (one winner under a race),
and the audited, ACS-policed decryption; plus master-key rotation and log privacy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.acs.tables import acs_events, acs_watchlist, tickets
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.db.tables import user_data_keys
from rodistaa.kyc.numbers import DocumentType, normalise, number_hash
from rodistaa.kyc.status import kyc_status
from rodistaa.kyc.tables import kyc_documents
from rodistaa.ops.logging import configure_logging
from rodistaa.security.envelope import DecryptionFailed, decrypt, decrypt_text
from rodistaa.storage.sniff import MB
from tests.api.flows import Session, admin_session, create_user_directly, sign_in, sign_up
from tests.api.kyc_flows import (
    aadhaar_number,
    kyc_admin_session,
    licence_number,
    make_kyc_verified,
    pan_number,
    pdf_file,
    png_file,
    reject_document,
    upload_document,
    verify_document,
)
from tests.api.kyc_flows import (
    kyc_status as get_kyc_status,
)
from tests.conftest import DEFAULT_BUNDLE, TEST_KMS_KEYS, Harness, make_settings, running_app

SHIPPER_MOBILE = "+919800000001"
OPERATOR_MOBILE = "+919800000002"
DRIVER_MOBILE = "+919800000003"
OTHER_MOBILE = "+919800000004"
STAFF_MOBILE = "+919800000005"
PURPOSE = "Ticket TKT-7 asks to re-check the document image"


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def settings_overrides(storage_dir: Path) -> dict[str, Any]:
    # A storage directory per test, so a test can search every stored file it caused.
    return {"storage_local_dir": str(storage_dir)}


async def person(h: Harness, role: Role, mobile: str) -> Session:
    """Shippers and operators sign themselves up; drivers are created for them (by their
    operator once that flow exists)."""
    if role in (Role.SHIPPER, Role.OPERATOR):
        return await sign_up(h, mobile, role=role)
    await create_user_directly(h, mobile, role, "Ravi Kumar")
    return await sign_in(h, mobile)


async def staff(h: Harness, role: Role, mobile: str = STAFF_MOBILE) -> Session:
    await create_user_directly(h, mobile, role)
    return await sign_in(h, mobile)


async def post_upload(
    h: Harness,
    session: Session | None,
    *,
    data: dict[str, str] | None = None,
    files: dict[str, Any] | None = None,
) -> Any:
    return await h.client.post(
        "/v1/kyc/upload",
        data=data if data is not None else {"documentType": "PAN", "documentNumber": pan_number()},
        files=files if files is not None else {"file": ("pan.png", png_file(), "image/png")},
        headers=session.headers if session else {},
    )


async def document_row(h: Harness, kyc_id: str) -> Any:
    async with h.app.state.services.db.read() as conn:
        return (
            (await conn.execute(select(kyc_documents).where(kyc_documents.c.id == kyc_id))).mappings().one()
        )


async def count(h: Harness, table: Any, *conditions: Any) -> int:
    async with h.app.state.services.db.read() as conn:
        query = select(func.count()).select_from(table)
        return int((await conn.execute(query.where(*conditions) if conditions else query)).scalar_one())


async def audit(h: Harness, admin: Session, **filters: str) -> list[dict[str, Any]]:
    response = await h.client.get("/v1/admin/audit", params=filters, headers=admin.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def stored_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def assert_field_error(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"]["field"] == field, body


class TestUpload:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await post_upload(harness, None)
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.KYC_ADMIN, Role.FRANCHISE_UNIT])
    async def test_staff_roles_have_no_kyc(self, harness: Harness, role: Role) -> None:
        response = await post_upload(harness, await staff(harness, role))
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await count(harness, kyc_documents) == 0

    async def test_upload_is_encrypted_with_the_owners_key(self, harness: Harness, storage_dir: Path) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        number = aadhaar_number()
        content = png_file(b"FACE-OF-THE-CARD")
        spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
        response = await post_upload(
            harness,
            shipper,
            data={"documentType": "AADHAAR", "documentNumber": spaced},
            files={"file": ("card.jpg", content, "image/jpeg")},  # name and header are ignored
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("KYC-")
        assert {k: body[k] for k in ("userId", "documentType", "status", "fileUrl", "numberMasked")} == {
            "userId": shipper.user_id,
            "documentType": "AADHAAR",
            "status": "PENDING",
            "fileUrl": None,
            "numberMasked": f"XXXX-XXXX-{number[-4:]}",
        }
        assert (body["contentType"], body["sizeBytes"], body["superseded"]) == (
            "image/png",
            len(content),
            False,
        )
        assert number not in response.text

        services = harness.app.state.services
        row = await document_row(harness, body["id"])
        assert (row["user_id"], row["status"], row["number_masked"]) == (
            shipper.user_id,
            "PENDING",
            body["numberMasked"],
        )
        assert row["number_hash"] == number_hash(
            harness.settings.hmac_key.encode(), DocumentType.AADHAAR, number
        )
        assert row["storage_key"] == f"kyc/{shipper.user_id}/{body['id']}"
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, shipper.user_id)
        stored = await services.storage.get(row["storage_key"])
        assert content not in stored
        assert decrypt(key, stored, f"kyc:{body['id']}:file".encode()) == content
        assert decrypt_text(key, row["number_ciphertext"], f"kyc:{body['id']}:number".encode()) == number
        # Associated data binds each ciphertext to its record and field.
        with pytest.raises(DecryptionFailed):
            decrypt(key, stored, f"kyc:{body['id']}:number".encode())
        assert len(stored_files(storage_dir)) == 1

        admin = await admin_session(harness)
        [entry] = await audit(harness, admin, action="kyc.uploaded", entityId=body["id"])
        assert entry["performedBy"] == shipper.user_id
        assert entry["metadata"] == {"documentType": "AADHAAR", "duplicateAccounts": 0}

    @pytest.mark.parametrize(
        ("role", "document_type", "raw", "normalised", "masked"),
        [
            (Role.OPERATOR, "PAN", "abcpe 1234 f", "ABCPE1234F", "ABCPE****F"),
            (Role.OPERATOR, "GSTIN", "27aapfu0939f1zv", "27AAPFU0939F1ZV", "27AAPFU****F1ZV"),
            (Role.DRIVER, "LICENSE", "mh-12-2011-0012345", "MH1220110012345", "MH12*******2345"),
            (Role.SHIPPER, "PAN", "ABCPE1234F", "ABCPE1234F", "ABCPE****F"),
        ],
    )
    async def test_each_type_is_normalised_and_masked(
        self, harness: Harness, role: Role, document_type: str, raw: str, normalised: str, masked: str
    ) -> None:
        owner = await person(harness, role, SHIPPER_MOBILE)
        response = await post_upload(
            harness,
            owner,
            data={"documentType": document_type, "documentNumber": raw},
            files={"file": ("doc.pdf", pdf_file(), "application/pdf")},
        )
        assert response.status_code == 201, response.text
        assert (response.json()["numberMasked"], response.json()["contentType"]) == (
            masked,
            "application/pdf",
        )
        row = await document_row(harness, response.json()["id"])
        services = harness.app.state.services
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, owner.user_id)
        aad = f"kyc:{row['id']}:number".encode()
        assert decrypt_text(key, row["number_ciphertext"], aad) == normalised
        assert row["number_masked"] == masked

    async def test_a_jpeg_is_accepted_and_sniffed(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        jpeg = b"\xff\xd8\xff\xe0" + secrets.token_bytes(100)
        response = await post_upload(harness, shipper, files={"file": ("x.png", jpeg, "image/png")})
        assert response.status_code == 201, response.text
        assert response.json()["contentType"] == "image/jpeg"
        assert (await document_row(harness, response.json()["id"]))["content_type"] == "image/jpeg"

    async def test_one_data_key_per_user(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        await upload_document(harness, shipper, "AADHAAR")
        await upload_document(harness, shipper, "PAN")
        assert await count(harness, user_data_keys, user_data_keys.c.user_id == shipper.user_id) == 1

    async def test_concurrent_first_uploads_share_one_data_key(self, harness: Harness) -> None:
        """Both requests may find no key and try to create one; both must succeed with the same
        key (each document decrypts with the one key stored)."""
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        responses = await asyncio.gather(*(post_upload(harness, shipper) for _ in range(16)))
        assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses]
        assert await count(harness, user_data_keys, user_data_keys.c.user_id == shipper.user_id) == 1
        services = harness.app.state.services
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, shipper.user_id)
        for response in responses:
            row = await document_row(harness, response.json()["id"])
            decrypt_text(key, row["number_ciphertext"], f"kyc:{row['id']}:number".encode())

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"documentNumber": "ABCPE1234F"}, "documentType"),
            ({"documentType": "PASSPORT", "documentNumber": "ABCPE1234F"}, "documentType"),
            ({"documentType": "PAN"}, "documentNumber"),
            ({"documentType": "PAN", "documentNumber": ""}, "documentNumber"),
            ({"documentType": "PAN", "documentNumber": "A" * 41}, "documentNumber"),
            ({"documentType": "PAN", "documentNumber": "ABCP1234F"}, "documentNumber"),
            ({"documentType": "AADHAAR", "documentNumber": "2341 2341 2345"}, "documentNumber"),
            ({"documentType": "AADHAAR", "documentNumber": "1341 2341 2341"}, "documentNumber"),
            ({"documentType": "AADHAAR", "documentNumber": "ABCPE1234F"}, "documentNumber"),
            ({"documentType": "GSTIN", "documentNumber": "27AAPFU0939F1ZW"}, "documentNumber"),
            ({"documentType": "LICENSE", "documentNumber": "MH12 2011 001234"}, "documentNumber"),
        ],
    )
    async def test_invalid_fields_are_400_and_store_nothing(
        self, harness: Harness, storage_dir: Path, data: dict[str, str], field: str
    ) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        response = await post_upload(harness, shipper, data=data)
        assert_field_error(response, field)
        number = data.get("documentNumber", "")
        if len(number) > 4:
            assert number.replace(" ", "") not in response.text.replace(" ", "")
        assert await count(harness, kyc_documents) == 0
        assert stored_files(storage_dir) == []

    @pytest.mark.parametrize(
        "files",
        [
            {},
            {"file": ("empty.png", b"", "image/png")},
            {"file": ("fake.png", b"GIF89a" + secrets.token_bytes(40), "image/png")},
            {"file": ("fake.pdf", b"<html>not a pdf</html>", "application/pdf")},
        ],
    )
    async def test_missing_empty_or_unsupported_file_is_400(
        self, harness: Harness, storage_dir: Path, files: dict[str, Any]
    ) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        # A file-less multipart body still needs a part to be multipart at all.
        files = files or {"unrelated": ("x.txt", b"x", "text/plain")}
        response = await post_upload(harness, shipper, files=files)
        assert_field_error(response, "file")
        assert await count(harness, kyc_documents) == 0
        assert stored_files(storage_dir) == []

    async def test_file_over_10_mb_is_413(self, harness: Harness, storage_dir: Path) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        big = b"%PDF-1.7\n" + b"\x00" * (10 * MB)
        response = await post_upload(harness, shipper, files={"file": ("big.pdf", big, "application/pdf")})
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert response.json()["details"]["field"] == "file"
        assert await count(harness, kyc_documents) == 0
        assert stored_files(storage_dir) == []

    async def test_exactly_10_mb_is_accepted(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        content = b"%PDF-1.7\n" + b"\x00" * (10 * MB - 9)
        response = await post_upload(harness, shipper, files={"file": ("ok.pdf", content, "application/pdf")})
        assert response.status_code == 201, response.text
        assert response.json()["sizeBytes"] == 10 * MB


class TestDuplicateDocument:
    async def test_same_number_on_two_accounts_flags_both_without_telling(self, harness: Harness) -> None:
        first = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        second = await person(harness, Role.OPERATOR, OPERATOR_MOBILE)
        number = aadhaar_number()
        original = await upload_document(harness, first, "AADHAAR", number=number)
        response = await post_upload(
            harness,
            second,
            data={"documentType": "AADHAAR", "documentNumber": f"{number[:4]}-{number[4:8]}-{number[8:]}"},
        )

        # Accepted like any upload: the response says nothing about the other account.
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "PENDING"
        assert first.user_id not in response.text and original["id"] not in response.text
        status_text = (await harness.client.get("/v1/kyc/status", headers=second.headers)).text
        assert first.user_id not in status_text

        async with harness.app.state.services.db.read() as conn:
            watch = (await conn.execute(select(acs_watchlist))).mappings().all()
            [ticket] = (await conn.execute(select(tickets))).mappings().all()
        assert {(w["entity_type"], w["entity_id"]) for w in watch} == {
            ("user", first.user_id),
            ("user", second.user_id),
        }
        assert all(json.loads(w["reasons"]) == ["KYC_DUPLICATE_DOCUMENT"] for w in watch)
        assert (ticket["team"], ticket["status"]) == ("kyc", "OPEN")
        assert json.loads(ticket["refs"]) == [body["id"], second.user_id, first.user_id]
        assert number not in ticket["summary"]

        admin = await admin_session(harness)
        [entry] = await audit(harness, admin, action="kyc.uploaded", entityId=body["id"])
        assert entry["metadata"] == {
            "documentType": "AADHAAR",
            "duplicateAccounts": 1,
            "ticketId": ticket["id"],
        }

    async def test_a_third_account_accumulates_on_the_watchlist(self, harness: Harness) -> None:
        number = pan_number()
        users = [
            await person(harness, Role.SHIPPER, SHIPPER_MOBILE),
            await person(harness, Role.OPERATOR, OPERATOR_MOBILE),
            await person(harness, Role.SHIPPER, OTHER_MOBILE),
        ]
        for user in users:
            await upload_document(harness, user, "PAN", number=number)
        async with harness.app.state.services.db.read() as conn:
            hits = dict((await conn.execute(select(acs_watchlist.c.entity_id, acs_watchlist.c.hits))).all())
            reasons = [json.loads(r) for r in (await conn.execute(select(acs_watchlist.c.reasons))).scalars()]
        # First user flagged by the 2nd and 3rd uploads, second by both, third once.
        assert hits == {users[0].user_id: 2, users[1].user_id: 2, users[2].user_id: 1}
        assert reasons == [["KYC_DUPLICATE_DOCUMENT"]] * 3
        assert await count(harness, tickets, tickets.c.team == "kyc") == 2

    async def test_the_owner_uploading_again_is_not_a_duplicate(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        number = pan_number()
        await upload_document(harness, shipper, "PAN", number=number)
        await upload_document(harness, shipper, "PAN", number=number.lower())
        assert await count(harness, acs_watchlist) == 0
        assert await count(harness, tickets) == 0

    async def test_concurrent_uploads_of_one_number_still_see_each_other(self, harness: Harness) -> None:
        """Without serialising on the number, concurrent transactions each miss the others'
        uncommitted rows: accounts go unflagged and tickets go missing. Serialised, every
        upload after the first sees all earlier ones: each account is flagged, one ticket per
        later upload."""
        owners = [await person(harness, Role.SHIPPER, f"+91980000010{i}") for i in range(6)]
        data = {"documentType": "LICENSE", "documentNumber": licence_number()}
        responses = await asyncio.gather(*(post_upload(harness, owner, data=data) for owner in owners))
        assert [r.status_code for r in responses] == [201] * len(owners)
        async with harness.app.state.services.db.read() as conn:
            flagged = set((await conn.execute(select(acs_watchlist.c.entity_id))).scalars())
            refs = [json.loads(r) for r in (await conn.execute(select(tickets.c.refs))).scalars()]
        assert flagged == {owner.user_id for owner in owners}
        assert len(refs) == len(owners) - 1
        # The k-th upload's ticket names the k-1 accounts before it.
        assert sorted(len(r) for r in refs) == [2 + k for k in range(1, len(owners))]


class TestStatus:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/kyc/status")).status_code == 401

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT])
    async def test_staff_roles_are_403(self, harness: Harness, role: Role) -> None:
        response = await harness.client.get("/v1/kyc/status", headers=(await staff(harness, role)).headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_shipper_goes_from_not_submitted_to_verified(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        status = await get_kyc_status(harness, shipper)
        assert status == {"status": "NOT_SUBMITTED", "requiredDocuments": ["AADHAAR", "PAN"], "documents": []}

        aadhaar = await upload_document(harness, shipper, "AADHAAR")
        assert (await get_kyc_status(harness, shipper))["status"] == "PENDING"
        await verify_document(harness, reviewer, aadhaar["id"])
        assert (await get_kyc_status(harness, shipper))["status"] == "PENDING"  # PAN missing
        pan = await upload_document(harness, shipper, "PAN")
        assert (await get_kyc_status(harness, shipper))["status"] == "PENDING"
        await verify_document(harness, reviewer, pan["id"])

        status = await get_kyc_status(harness, shipper)
        assert status["status"] == "VERIFIED"
        assert [(d["id"], d["status"]) for d in status["documents"]] == [
            (pan["id"], "VERIFIED"),
            (aadhaar["id"], "VERIFIED"),
        ]
        async with harness.app.state.services.db.read() as conn:
            assert await kyc_status(conn, shipper.user_id, Role.SHIPPER) == "VERIFIED"

    async def test_a_driver_also_needs_a_licence(self, harness: Harness) -> None:
        driver = await person(harness, Role.DRIVER, DRIVER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        for document_type in ("AADHAAR", "PAN"):
            await verify_document(
                harness, reviewer, (await upload_document(harness, driver, document_type))["id"]
            )
        status = await get_kyc_status(harness, driver)
        assert (status["status"], status["requiredDocuments"]) == ("PENDING", ["AADHAAR", "PAN", "LICENSE"])
        await verify_document(harness, reviewer, (await upload_document(harness, driver, "LICENSE"))["id"])
        assert (await get_kyc_status(harness, driver))["status"] == "VERIFIED"

    async def test_a_rejection_holds_until_resubmitted(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        await verify_document(harness, reviewer, (await upload_document(harness, shipper, "AADHAAR"))["id"])
        pan = await upload_document(harness, shipper, "PAN")
        await reject_document(harness, reviewer, pan["id"], "Photo is blurred")
        status = await get_kyc_status(harness, shipper)
        assert status["status"] == "REJECTED"
        assert (status["documents"][0]["id"], status["documents"][0]["rejectionReason"]) == (
            pan["id"],
            "Photo is blurred",
        )

        harness.clock.advance(seconds=1)
        again = await upload_document(harness, shipper, "PAN")
        status = await get_kyc_status(harness, shipper)
        assert status["status"] == "PENDING"
        assert [(d["id"], d["superseded"]) for d in status["documents"]] == [
            (again["id"], False),
            (pan["id"], True),
            (status["documents"][2]["id"], False),
        ]
        await verify_document(harness, reviewer, again["id"])
        assert (await get_kyc_status(harness, shipper))["status"] == "VERIFIED"

    async def test_a_rejected_optional_document_also_counts(self, harness: Harness) -> None:
        """PRODUCT §4: REJECTED when any document is rejected, required or not; a pending
        optional document does not hold back a user whose required ones are verified."""
        operator = await person(harness, Role.OPERATOR, OPERATOR_MOBILE)
        reviewer = await kyc_admin_session(harness)
        await make_kyc_verified(harness, operator, role=Role.OPERATOR, kyc_admin=reviewer)
        gstin = await upload_document(harness, operator, "GSTIN")
        assert (await get_kyc_status(harness, operator))["status"] == "VERIFIED"
        await reject_document(harness, reviewer, gstin["id"], "Certificate is for another firm")
        assert (await get_kyc_status(harness, operator))["status"] == "REJECTED"
        harness.clock.advance(seconds=1)
        await upload_document(harness, operator, "GSTIN")
        assert (await get_kyc_status(harness, operator))["status"] == "VERIFIED"

    async def test_a_newer_upload_replaces_a_verified_one(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        await make_kyc_verified(harness, shipper)
        harness.clock.advance(seconds=1)
        await upload_document(harness, shipper, "PAN")
        assert (await get_kyc_status(harness, shipper))["status"] == "PENDING"

    async def test_only_the_callers_documents_masked(self, harness: Harness) -> None:
        mine = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        theirs = await person(harness, Role.SHIPPER, OTHER_MOBILE)
        number = pan_number()
        own = await upload_document(harness, mine, "PAN", number=number)
        other = await upload_document(harness, theirs, "AADHAAR")
        response = await harness.client.get("/v1/kyc/status", headers=mine.headers)
        assert [d["id"] for d in response.json()["documents"]] == [own["id"]]
        assert other["id"] not in response.text and number not in response.text
        assert response.json()["documents"][0]["numberMasked"] == number[:5] + "****" + number[-1]


class TestReviewQueue:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/admin/kyc/queue")).status_code == 401

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.FRANCHISE_UNIT, Role.DRIVER])
    async def test_only_kyc_admins(self, harness: Harness, role: Role) -> None:
        response = await harness.client.get(
            "/v1/admin/kyc/queue", headers=(await staff(harness, role)).headers
        )
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_pending_current_documents_oldest_first_paginated(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        operator = await person(harness, Role.OPERATOR, OPERATOR_MOBILE)
        reviewer = await kyc_admin_session(harness)
        uploaded = []
        for session, document_type in [
            (shipper, "AADHAAR"),  # replaced below: not in the queue
            (operator, "PAN"),
            (shipper, "PAN"),  # verified below: not in the queue
            (operator, "AADHAAR"),
            (shipper, "AADHAAR"),
        ]:
            uploaded.append(await upload_document(harness, session, document_type))
            harness.clock.advance(seconds=5)
        await verify_document(harness, reviewer, uploaded[2]["id"])

        first = await harness.client.get("/v1/admin/kyc/queue?pageSize=2", headers=reviewer.headers)
        assert first.status_code == 200, first.text
        assert first.json()["meta"] == {"page": 1, "pageSize": 2, "total": 3, "totalPages": 2}
        second = await harness.client.get("/v1/admin/kyc/queue?pageSize=2&page=2", headers=reviewer.headers)
        queue = first.json()["data"] + second.json()["data"]
        assert [d["id"] for d in queue] == [uploaded[1]["id"], uploaded[3]["id"], uploaded[4]["id"]]
        assert all(d["status"] == "PENDING" and d["numberMasked"] for d in queue)

        only_pan = await harness.client.get("/v1/admin/kyc/queue?documentType=PAN", headers=reviewer.headers)
        assert [d["id"] for d in only_pan.json()["data"]] == [uploaded[1]["id"]]

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("pageSize=0", "query.pageSize"),
            ("pageSize=101", "query.pageSize"),
            ("documentType=X", "query.documentType"),
        ],
    )
    async def test_invalid_query_is_400(self, harness: Harness, query: str, field: str) -> None:
        reviewer = await kyc_admin_session(harness)
        response = await harness.client.get(f"/v1/admin/kyc/queue?{query}", headers=reviewer.headers)
        assert_field_error(response, field)


class TestReview:
    @pytest.mark.parametrize("action", ["verify", "reject"])
    async def test_anonymous_is_401(self, harness: Harness, action: str) -> None:
        response = await harness.client.post(
            f"/v1/admin/kyc/KYC-X/{action}", json={"reason": "Blurred photo"}
        )
        assert response.status_code == 401

    @pytest.mark.parametrize("action", ["verify", "reject"])
    @pytest.mark.parametrize("role", [Role.ADMIN, Role.SHIPPER])
    async def test_only_kyc_admins(self, harness: Harness, action: str, role: Role) -> None:
        owner = await person(harness, Role.OPERATOR, OPERATOR_MOBILE)
        document = await upload_document(harness, owner, "PAN")
        caller = (
            await staff(harness, role) if role is Role.ADMIN else await person(harness, role, SHIPPER_MOBILE)
        )
        response = await harness.client.post(
            f"/v1/admin/kyc/{document['id']}/{action}",
            json={"reason": "Blurred photo"},
            headers=caller.headers,
        )
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await document_row(harness, document["id"]))["status"] == "PENDING"

    async def test_the_owner_cannot_review_their_own_document(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        document = await upload_document(harness, owner, "PAN")
        response = await harness.client.post(f"/v1/admin/kyc/{document['id']}/verify", headers=owner.headers)
        assert response.status_code == 403
        assert (await document_row(harness, document["id"]))["status"] == "PENDING"

    @pytest.mark.parametrize("action", ["verify", "reject"])
    async def test_unknown_document_is_404(self, harness: Harness, action: str) -> None:
        reviewer = await kyc_admin_session(harness)
        response = await harness.client.post(
            f"/v1/admin/kyc/KYC-01J00000000000000000000000/{action}",
            json={"reason": "Blurred photo"},
            headers=reviewer.headers,
        )
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    async def test_verify_is_recorded_and_audited(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        await verify_document(harness, reviewer, (await upload_document(harness, owner, "AADHAAR"))["id"])
        document = await upload_document(harness, owner, "PAN")
        harness.clock.advance(minutes=3)

        body = await verify_document(harness, reviewer, document["id"])
        assert (body["id"], body["status"], body["rejectionReason"]) == (document["id"], "VERIFIED", None)
        assert body["reviewedAt"] is not None
        row = await document_row(harness, document["id"])
        assert (row["status"], row["reviewed_by"], row["reviewed_at"]) == (
            "VERIFIED",
            reviewer.user_id,
            harness.clock.now(),
        )
        [entry] = await audit(
            harness, await admin_session(harness), action="kyc.verified", entityId=document["id"]
        )
        assert entry["performedBy"] == reviewer.user_id
        assert entry["metadata"] == {
            "ownerId": owner.user_id,
            "documentType": "PAN",
            "ownerKycStatus": "VERIFIED",
        }

    async def test_reject_keeps_the_reason_out_of_the_audit(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        document = await upload_document(harness, owner, "PAN")
        reason = "Name on card differs from Ravi Kumar's profile"
        body = await reject_document(harness, reviewer, document["id"], f"  {reason} ")
        assert (body["status"], body["rejectionReason"]) == ("REJECTED", reason)
        row = await document_row(harness, document["id"])
        assert (row["status"], row["rejection_reason"], row["reviewed_by"]) == (
            "REJECTED",
            reason,
            reviewer.user_id,
        )
        [entry] = await audit(
            harness, await admin_session(harness), action="kyc.rejected", entityId=document["id"]
        )
        assert entry["metadata"] == {
            "ownerId": owner.user_id,
            "documentType": "PAN",
            "ownerKycStatus": "REJECTED",
        }
        assert "Ravi" not in json.dumps(entry)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "reason"),
            ({"reason": "  no "}, "reason"),
            ({"reason": "x" * 257}, "reason"),
            ({"reason": "Blurred photo", "status": "VERIFIED"}, "status"),
        ],
    )
    async def test_reject_needs_a_reason(self, harness: Harness, body: dict[str, Any], field: str) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        document = await upload_document(harness, owner, "PAN")
        response = await harness.client.post(
            f"/v1/admin/kyc/{document['id']}/reject", json=body, headers=reviewer.headers
        )
        assert_field_error(response, field)
        assert (await document_row(harness, document["id"]))["status"] == "PENDING"

    @pytest.mark.parametrize(
        ("first", "then"), [("verify", "reject"), ("reject", "verify"), ("verify", "verify")]
    )
    async def test_a_reviewed_document_is_409(self, harness: Harness, first: str, then: str) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        document = await upload_document(harness, owner, "PAN")
        url = f"/v1/admin/kyc/{document['id']}"
        reason = {"reason": "Blurred photo"}
        assert (
            await harness.client.post(f"{url}/{first}", json=reason, headers=reviewer.headers)
        ).status_code == 200
        response = await harness.client.post(f"{url}/{then}", json=reason, headers=reviewer.headers)
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        expected = "VERIFIED" if first == "verify" else "REJECTED"
        assert response.json()["details"] == {"status": expected}
        assert (await document_row(harness, document["id"]))["status"] == expected

    async def test_concurrent_verify_and_reject_have_one_winner(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewers = [await kyc_admin_session(harness, m) for m in ("+919000000071", "+919000000072")]
        documents = [await upload_document(harness, owner, t) for t in ("AADHAAR", "PAN", "GSTIN")]
        admin = await admin_session(harness)
        for document in documents:
            url = f"/v1/admin/kyc/{document['id']}"
            verify, reject = await asyncio.gather(
                harness.client.post(f"{url}/verify", headers=reviewers[0].headers),
                harness.client.post(
                    f"{url}/reject", json={"reason": "Blurred photo"}, headers=reviewers[1].headers
                ),
            )
            assert sorted([verify.status_code, reject.status_code]) == [200, 409], (verify.text, reject.text)
            winner = "VERIFIED" if verify.status_code == 200 else "REJECTED"
            row = await document_row(harness, document["id"])
            assert row["status"] == winner
            assert row["reviewed_by"] == reviewers[0 if winner == "VERIFIED" else 1].user_id
            entries = await audit(harness, admin, entityType="kyc", entityId=document["id"])
            assert sorted(e["action"] for e in entries) == sorted(
                ["kyc.uploaded", "kyc.verified" if winner == "VERIFIED" else "kyc.rejected"]
            )


DECRYPT_RULE = """
- id: KYC_DECRYPT_PURPOSE_PII
  version: 1
  priority: 700
  severity: high
  description: "A decryption purpose must not itself carry personal data."
  events: [kyc.decrypt]
  condition: "event.type == 'kyc.decrypt' && textContainsPII(request.purpose) == true"
  action:
    - rejectRequest: { code: "PURPOSE_CONTAINS_PII", message: "State the purpose without personal data" }
    - flagWatchlist: { entityType: "user", entityId: "{{ctx.userId}}", reason: "KYC_DECRYPT_PURPOSE_PII" }
    - createTicket:
        team: "kyc"
        summary: "Decryption asked with personal data in the purpose"
        refs: ["{{kyc.id}}", "{{kyc.userId}}"]
  audit: true
"""


async def decrypt_request(h: Harness, session: Session | None, body: dict[str, Any]) -> Any:
    return await h.client.post("/v1/admin/kyc/decrypt", json=body, headers=session.headers if session else {})


class TestDecrypt:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (
            await decrypt_request(harness, None, {"kycId": "KYC-X", "purpose": PURPOSE})
        ).status_code == 401

    async def test_admins_and_owners_cannot_decrypt(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        document = await upload_document(harness, owner, "AADHAAR")
        for caller in (owner, await admin_session(harness)):
            response = await decrypt_request(harness, caller, {"kycId": document["id"], "purpose": PURPOSE})
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await count(harness, acs_events, acs_events.c.event_type == "kyc.decrypt") == 0

    async def test_unknown_document_is_404(self, harness: Harness) -> None:
        reviewer = await kyc_admin_session(harness)
        response = await decrypt_request(harness, reviewer, {"kycId": "KYC-NOPE", "purpose": PURPOSE})
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"purpose": PURPOSE}, "kycId"),
            ({"kycId": ""}, "kycId"),
            ({"kycId": "KYC-X"}, "purpose"),
            ({"kycId": "KYC-X", "purpose": "  too short  "}, "purpose"),
            ({"kycId": "KYC-X", "purpose": "p" * 501}, "purpose"),
            ({"kycId": "KYC-X", "purpose": PURPOSE, "reason": "x"}, "reason"),
        ],
    )
    async def test_invalid_body_is_400(self, harness: Harness, body: dict[str, Any], field: str) -> None:
        reviewer = await kyc_admin_session(harness)
        assert_field_error(await decrypt_request(harness, reviewer, body), field)

    async def test_round_trip_is_byte_for_byte_and_audited(self, harness: Harness) -> None:
        owner = await person(harness, Role.OPERATOR, OPERATOR_MOBILE)
        reviewer = await kyc_admin_session(harness)
        number = pan_number()
        content = pdf_file(bytes(range(256)) * 4)
        document = await upload_document(harness, owner, "PAN", number=number.lower(), content=content)
        await verify_document(harness, reviewer, document["id"])

        response = await decrypt_request(
            harness, reviewer, {"kycId": document["id"], "purpose": f" {PURPOSE} "}
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert base64.b64decode(body["fileBase64"]) == content
        assert {
            k: body[k] for k in ("id", "userId", "documentType", "status", "documentNumber", "contentType")
        } == {
            "id": document["id"],
            "userId": owner.user_id,
            "documentType": "PAN",
            "status": "VERIFIED",
            "documentNumber": number,
            "contentType": "application/pdf",
        }
        assert body["purpose"] == PURPOSE

        [entry] = await audit(
            harness, await admin_session(harness), action="kyc.decrypted", entityId=document["id"]
        )
        assert (entry["entityId"], entry["performedBy"]) == (document["id"], reviewer.user_id)
        assert entry["metadata"] == {
            "ownerId": owner.user_id,
            "documentType": "PAN",
            "purposeSha256": hashlib.sha256(PURPOSE.encode()).hexdigest(),
            "acsEventId": body["acsEventId"],
        }
        # The purpose itself is kept with the evaluated ACS event (erasable), not in the chain.
        async with harness.app.state.services.db.read() as conn:
            event = (
                (await conn.execute(select(acs_events).where(acs_events.c.event_id == body["acsEventId"])))
                .mappings()
                .one()
            )
        context = json.loads(event["context"])
        assert (event["event_type"], event["outcome"], event["actor_id"]) == (
            "kyc.decrypt",
            "ALLOW",
            reviewer.user_id,
        )
        assert context["request"] == {"purpose": PURPOSE}
        assert context["kyc"] == {
            "id": document["id"],
            "userId": owner.user_id,
            "documentType": "PAN",
            "status": "VERIFIED",
        }
        assert context["ctx"]["userRole"] == "kyc_admin"

    async def test_each_decryption_is_its_own_audit_entry(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        document = await upload_document(harness, owner, "AADHAAR")
        for purpose in (PURPOSE, "Second look requested by the fraud team"):
            response = await decrypt_request(harness, reviewer, {"kycId": document["id"], "purpose": purpose})
            assert response.status_code == 200
        entries = await audit(
            harness, await admin_session(harness), action="kyc.decrypted", entityId=document["id"]
        )
        assert len(entries) == 2

    async def test_an_erased_owner_is_410(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        document = await upload_document(harness, owner, "AADHAAR")
        services = harness.app.state.services
        async with services.db.transaction() as conn:
            assert await services.data_keys.destroy(conn, owner.user_id, now=harness.clock.now())

        response = await decrypt_request(harness, reviewer, {"kycId": document["id"], "purpose": PURPOSE})
        assert (response.status_code, response.json()["code"]) == (410, "DATA_ERASED")
        admin = await admin_session(harness)
        assert await audit(harness, admin, action="kyc.decrypted", entityId=document["id"]) == []


class TestDecryptPolicedByAcs:
    @pytest.fixture
    def settings_overrides(self, tmp_path: Path, storage_dir: Path) -> dict[str, Any]:
        bundle = tmp_path / "rules"
        shutil.copytree(DEFAULT_BUNDLE, bundle)
        (bundle / "90-kyc.yaml").write_text(DECRYPT_RULE)
        return {"acs_bundle_path": str(bundle), "storage_local_dir": str(storage_dir)}

    async def test_a_rule_refuses_and_flags_a_decryption(self, harness: Harness) -> None:
        owner = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        document = await upload_document(harness, owner, "AADHAAR")
        purpose = "Customer called from 9876543210 to ask about it"

        response = await decrypt_request(harness, reviewer, {"kycId": document["id"], "purpose": purpose})

        assert response.status_code == 403, response.text
        body = response.json()
        assert (body["code"], body["details"]["ruleId"]) == (
            "PURPOSE_CONTAINS_PII",
            "KYC_DECRYPT_PURPOSE_PII",
        )
        assert "documentNumber" not in body and "fileBase64" not in response.text
        async with harness.app.state.services.db.read() as conn:
            [watch] = (await conn.execute(select(acs_watchlist))).mappings().all()
            [ticket] = (await conn.execute(select(tickets))).mappings().all()
        assert (watch["entity_id"], json.loads(watch["reasons"])) == (
            reviewer.user_id,
            ["KYC_DECRYPT_PURPOSE_PII"],
        )
        assert (ticket["rule_id"], json.loads(ticket["refs"])) == (
            "KYC_DECRYPT_PURPOSE_PII",
            [document["id"], owner.user_id],
        )
        admin = await admin_session(harness)
        [hit] = await audit(harness, admin, action="acs.rule_matched", entityId=body["details"]["eventId"])
        assert hit["ruleId"] == "KYC_DECRYPT_PURPOSE_PII"
        assert await audit(harness, admin, action="kyc.decrypted", entityId=document["id"]) == []

        allowed = await decrypt_request(harness, reviewer, {"kycId": document["id"], "purpose": PURPOSE})
        assert allowed.status_code == 200, allowed.text


async def all_database_values(h: Harness) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every column of every table in the database, including tables
    no metadata knows about."""
    services = h.app.state.services
    async with services.db.read() as conn:
        if conn.dialect.name == "postgresql":
            names_query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        else:
            names_query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        names = list((await conn.exec_driver_sql(names_query)).scalars())
        found = []
        for name in names:
            result = await conn.exec_driver_sql(f'SELECT * FROM "{name}"')  # noqa: S608 - catalogue names
            columns = list(result.keys())
            for row in result.all():
                found.extend((name, column, value) for column, value in zip(columns, row, strict=True))
    return found


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


class TestNothingInClear:
    async def test_numbers_and_files_are_nowhere_in_clear(self, harness: Harness, storage_dir: Path) -> None:
        """After uploads, duplicate flags, review and decryption, no table, column or stored file
        holds a document number (in any written form, nor its plain SHA-256) or the file."""
        driver = await person(harness, Role.DRIVER, DRIVER_MOBILE)
        other = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        marker = b"KYC-FILE-MARKER-" + secrets.token_hex(16).encode()
        numbers = {"AADHAAR": aadhaar_number(), "PAN": pan_number(), "LICENSE": licence_number()}
        for document_type, number in numbers.items():
            document = await upload_document(
                harness,
                driver,
                document_type,
                number=number,
                content=png_file(marker + document_type.encode()),
            )
            await verify_document(harness, reviewer, document["id"])
            response = await decrypt_request(harness, reviewer, {"kycId": document["id"], "purpose": PURPOSE})
            assert response.status_code == 200
        await upload_document(harness, other, "PAN", number=numbers["PAN"])  # a duplicate: flags and ticket

        needles: list[bytes] = [marker, marker.hex().encode(), base64.b64encode(marker)]
        for document_type, number in numbers.items():
            normalised = normalise(DocumentType(document_type), number)
            forms = {
                normalised,
                normalised.lower(),
                f"{normalised[:4]} {normalised[4:8]} {normalised[8:]}",
                f"{normalised[:4]}-{normalised[4:8]}-{normalised[8:]}",
                normalised[:-1],  # all but the check character
                hashlib.sha256(normalised.encode()).hexdigest(),
            }
            needles += [form.encode() for form in forms]

        values = await all_database_values(harness)
        leaks = [(t, c) for t, c, v in values if v is not None and any(n in as_bytes(v) for n in needles)]
        assert leaks == []
        # The search can find what is there: the masked forms are stored in clear on purpose.
        masked = f"XXXX-XXXX-{numbers['AADHAAR'][-4:]}".encode()
        assert any(masked in as_bytes(v) for _, _, v in values if v is not None)

        files = stored_files(storage_dir)
        assert len(files) == 4
        assert [f for f in files if any(n in f.read_bytes() for n in needles)] == []
        raw_database = make_url(harness.settings.database_url)
        if raw_database.get_backend_name() == "sqlite":
            database_files = [Path(f"{raw_database.database}{suffix}") for suffix in ("", "-wal")]
            for path in (p for p in database_files if p.exists()):
                assert not any(n in path.read_bytes() for n in needles), path.name


class TestMasterKeyRotation:
    async def test_documents_stay_readable_after_rotation(self, harness: Harness, storage_dir: Path) -> None:
        reviewer = await kyc_admin_session(harness)
        originals = []
        for role, mobile in [(Role.SHIPPER, SHIPPER_MOBILE), (Role.OPERATOR, OPERATOR_MOBILE)]:
            owner = await person(harness, role, mobile)
            for document_type in ("AADHAAR", "PAN"):
                number, content = (
                    (aadhaar_number() if document_type == "AADHAAR" else pan_number()),
                    png_file(),
                )
                document = await upload_document(
                    harness, owner, document_type, number=number, content=content
                )
                originals.append((document["id"], number, content))

        version_2 = "2:" + base64.b64encode(secrets.token_bytes(32)).decode()
        url = harness.settings.database_url
        both = make_settings(
            url, local_kms_keys=f"{TEST_KMS_KEYS},{version_2}", storage_local_dir=str(storage_dir)
        )
        async with running_app(both) as rotating:
            services = rotating.app.state.services
            async with services.db.transaction() as conn:
                assert await services.data_keys.rewrap_all(conn, now=rotating.clock.now()) == 2
        async with harness.app.state.services.db.read() as conn:
            wrapped = list((await conn.execute(select(user_data_keys.c.wrapped_key))).scalars())
        assert len(wrapped) == 2 and all(w.startswith("kms1:test-kms:2:") for w in wrapped)

        only_new = make_settings(url, local_kms_keys=version_2, storage_local_dir=str(storage_dir))
        async with running_app(only_new) as rotated:
            for kyc_id, number, content in originals:
                response = await rotated.client.post(
                    "/v1/admin/kyc/decrypt",
                    json={"kycId": kyc_id, "purpose": PURPOSE},
                    headers=reviewer.headers,
                )
                assert response.status_code == 200, response.text
                assert response.json()["documentNumber"] == number
                assert base64.b64decode(response.json()["fileBase64"]) == content


class TestKycStatusDrivesAcs:
    """RF01 end to end arrives with bookings; here the KYC status of the acting user, read with
    `kyc_status`, is what the rule sees in `ctx`."""

    async def rf01_matched(self, h: Harness, session: Session, role: Role, event_type: str) -> bool:
        services = h.app.state.services
        async with services.db.read() as conn:
            status = await kyc_status(conn, session.user_id, role)
        actor = Actor(user_id=session.user_id, role=role, session_id="test")
        event = new_event(event_type, actor_ctx(actor, kyc_status=status), at=h.clock.now())
        decision = await services.acs.evaluate(event, ProvidedFacts(names={}))
        return "RF01_KYC_MANDATORY" in [m.rule_id for m in decision.matched]

    async def test_a_shipper_is_refused_until_verified(self, harness: Harness) -> None:
        shipper = await person(harness, Role.SHIPPER, SHIPPER_MOBILE)
        assert await self.rf01_matched(harness, shipper, Role.SHIPPER, "booking.create")
        await upload_document(harness, shipper, "AADHAAR")
        assert await self.rf01_matched(harness, shipper, Role.SHIPPER, "booking.create")
        await make_kyc_verified(harness, shipper)
        assert not await self.rf01_matched(harness, shipper, Role.SHIPPER, "booking.create")

    async def test_a_driver_without_a_verified_licence_cannot_start(self, harness: Harness) -> None:
        driver = await person(harness, Role.DRIVER, DRIVER_MOBILE)
        reviewer = await kyc_admin_session(harness)
        for document_type in ("AADHAAR", "PAN"):
            await verify_document(
                harness, reviewer, (await upload_document(harness, driver, document_type))["id"]
            )
        assert await self.rf01_matched(harness, driver, Role.DRIVER, "shipment.start")
        await verify_document(harness, reviewer, (await upload_document(harness, driver, "LICENSE"))["id"])
        assert not await self.rf01_matched(harness, driver, Role.DRIVER, "shipment.start")


async def test_the_log_stream_carries_no_number_file_or_purpose(clean_database: str, tmp_path: Path) -> None:
    settings = make_settings(clean_database, log_level="DEBUG", storage_local_dir=str(tmp_path / "storage"))
    stream = io.StringIO()
    number = licence_number()  # a format the log masker does not know: only our care keeps it out
    marker = b"LOG-MARKER-" + secrets.token_hex(8).encode()
    purpose = "Escalation 5521: compare the licence with the RTO record"
    try:
        async with running_app(settings) as h:
            configure_logging("DEBUG", json=True, stream=stream)
            driver = await person(h, Role.DRIVER, DRIVER_MOBILE)
            other = await person(h, Role.SHIPPER, SHIPPER_MOBILE)
            reviewer = await kyc_admin_session(h)
            content = png_file(marker)
            document = await upload_document(h, driver, "LICENSE", number=number, content=content)
            await upload_document(h, other, "LICENSE", number=number)  # duplicate: logged as a warning
            await verify_document(h, reviewer, document["id"])
            response = await decrypt_request(h, reviewer, {"kycId": document["id"], "purpose": purpose})
            assert response.status_code == 200
            file_base64 = response.json()["fileBase64"]
    finally:
        configure_logging("INFO")

    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert {"kyc_duplicate_document", "request"} <= {line["event"] for line in lines}
    # Database drivers' statement traces (which print parameters) stay off even at DEBUG.
    for secret in (number, number.lower(), marker.decode(), file_base64[:40], purpose):
        assert secret not in text

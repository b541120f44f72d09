"""Team tickets (PRODUCT §8): listing by team and status, assignment to staff, and the
OPEN -> IN_PROGRESS -> RESOLVED moves; an illegal move is 409 and changes nothing, concurrent
moves let exactly one through, and the resolution note never enters the audit log."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from rodistaa.core.roles import Role
from tests.api.flows import Session, admin_session
from tests.api.governance_flows import (
    audit_rows,
    insert_ticket,
    notification_rows,
    set_user_status,
    ticket_row,
    user_session,
)
from tests.conftest import Harness

NOTE = "Checked the device logs with the operator; false positive."


async def change_status(
    h: Harness, admin: Session, ticket_id: str, status: str, note: str | None = None
) -> Any:
    body: dict[str, Any] = {"status": status}
    if note is not None:
        body["resolutionNote"] = note
    return await h.client.post(f"/v1/admin/tickets/{ticket_id}/status", json=body, headers=admin.headers)


async def assign(h: Harness, admin: Session, ticket_id: str, assignee_id: str) -> Any:
    return await h.client.post(
        f"/v1/admin/tickets/{ticket_id}/assign", json={"assigneeId": assignee_id}, headers=admin.headers
    )


class TestReadTickets:
    async def test_list_by_team_and_status_newest_first(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        now = harness.clock.now()
        fraud_old = await insert_ticket(harness, team="fraud", created_at=now - timedelta(hours=3))
        kyc = await insert_ticket(harness, team="kyc", created_at=now - timedelta(hours=2))
        fraud_busy = await insert_ticket(
            harness, team="fraud", status="IN_PROGRESS", created_at=now - timedelta(hours=1)
        )
        fraud_done = await insert_ticket(harness, team="fraud", status="RESOLVED", created_at=now)

        async def listed(query: str = "") -> list[str]:
            response = await harness.client.get(f"/v1/admin/tickets{query}", headers=admin.headers)
            assert response.status_code == 200, response.text
            return [t["id"] for t in response.json()["data"]]

        assert await listed() == [fraud_done, fraud_busy, kyc, fraud_old]
        assert await listed("?team=fraud") == [fraud_done, fraud_busy, fraud_old]
        assert await listed("?status=OPEN") == [kyc, fraud_old]
        assert await listed("?team=fraud&status=IN_PROGRESS") == [fraud_busy]
        assert await listed("?team=ops") == []
        page = (await harness.client.get("/v1/admin/tickets?pageSize=3&page=2", headers=admin.headers)).json()
        assert [t["id"] for t in page["data"]] == [fraud_old]
        assert page["meta"] == {"page": 2, "pageSize": 3, "total": 4, "totalPages": 2}

    async def test_bad_status_filter_is_400(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get("/v1/admin/tickets?status=CLOSED", headers=admin.headers)
        assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"

    async def test_get_one_ticket(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness, team="security", summary="OTP brute-force lock")

        response = await harness.client.get(f"/v1/admin/tickets/{ticket_id}", headers=admin.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["team"], body["kind"], body["status"]) == (
            ticket_id,
            "security",
            "TICKET",
            "OPEN",
        )
        assert body["summary"] == "OTP brute-force lock"
        assert body["refs"] == ["SH-01ARZ3NDEKTSV4RRFFQ69G5FAV"] and body["ruleId"] == "RF_SEEDED"
        assert body["assigneeId"] is None and body["resolutionNote"] is None
        missing = await harness.client.get(
            "/v1/admin/tickets/TKT-01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=admin.headers
        )
        assert missing.status_code == 404


class TestAssign:
    @pytest.mark.parametrize("assignee_role", [Role.ADMIN, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT])
    async def test_assigning_to_staff_notifies_and_audits(
        self, harness: Harness, assignee_role: Role
    ) -> None:
        admin = await admin_session(harness)
        assignee = await user_session(harness, assignee_role)
        ticket_id = await insert_ticket(harness)

        response = await assign(harness, admin, ticket_id, assignee.user_id)

        assert response.status_code == 200, response.text
        assert response.json()["assigneeId"] == assignee.user_id and response.json()["status"] == "OPEN"
        assert (await ticket_row(harness, ticket_id))["assignee_id"] == assignee.user_id
        [note] = await notification_rows(harness, assignee.user_id)
        assert ticket_id in note["message"] and note["role"] == assignee_role.value
        [entry] = await audit_rows(harness, ticket_id, "ticket.assigned")
        assert entry["actor"] == admin.user_id
        assert entry["data"] == {"assigneeId": assignee.user_id, "previousAssigneeId": None, "status": "OPEN"}

    async def test_reassigning_records_the_previous_assignee(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        first, second = await user_session(harness, Role.ADMIN), await user_session(harness, Role.ADMIN)
        ticket_id = await insert_ticket(harness, status="IN_PROGRESS", assignee_id=first.user_id)

        assert (await assign(harness, admin, ticket_id, second.user_id)).status_code == 200
        # Assigning the current assignee again changes nothing and records nothing.
        again = await assign(harness, admin, ticket_id, second.user_id)
        assert again.status_code == 200 and again.json()["assigneeId"] == second.user_id

        [entry] = await audit_rows(harness, ticket_id, "ticket.assigned")
        assert entry["data"]["previousAssigneeId"] == first.user_id
        assert len(await notification_rows(harness, second.user_id)) == 1

    async def test_self_assignment_sends_no_notification(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness)
        assert (await assign(harness, admin, ticket_id, admin.user_id)).status_code == 200
        assert await notification_rows(harness, admin.user_id) == []

    @pytest.mark.parametrize("who", ["shipper", "missing", "inactive"])
    async def test_only_active_staff_can_be_assigned(self, harness: Harness, who: str) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness)
        if who == "shipper":
            assignee_id = (await user_session(harness, Role.SHIPPER)).user_id
        elif who == "inactive":
            assignee_id = (await user_session(harness, Role.ADMIN)).user_id
            await set_user_status(harness, assignee_id, "INACTIVE")
        else:
            assignee_id = "USR-AD-01ARZ3NDEKTSV4RRFFQ69G5FAV"
        before = await ticket_row(harness, ticket_id)

        response = await assign(harness, admin, ticket_id, assignee_id)

        assert response.status_code == 400, response.text
        assert response.json()["details"]["field"] == "assigneeId"
        assert await ticket_row(harness, ticket_id) == before
        assert await audit_rows(harness, ticket_id) == []

    async def test_a_resolved_ticket_cannot_be_assigned(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness, status="RESOLVED")
        before = await ticket_row(harness, ticket_id)

        response = await assign(harness, admin, ticket_id, admin.user_id)

        assert response.status_code == 409 and response.json()["code"] == "INVALID_STATE"
        assert await ticket_row(harness, ticket_id) == before

    async def test_unknown_ticket_and_bad_body(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        missing = await assign(harness, admin, "TKT-01ARZ3NDEKTSV4RRFFQ69G5FAV", admin.user_id)
        assert missing.status_code == 404
        ticket_id = await insert_ticket(harness)
        for body in ({}, {"assigneeId": ""}, {"assigneeId": admin.user_id, "team": "ops"}):
            response = await harness.client.post(
                f"/v1/admin/tickets/{ticket_id}/assign", json=body, headers=admin.headers
            )
            assert response.status_code == 400, body
        assert (await ticket_row(harness, ticket_id))["assignee_id"] is None


class TestStatus:
    async def test_open_to_in_progress_to_resolved(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness)

        started = await change_status(harness, admin, ticket_id, "IN_PROGRESS")
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "IN_PROGRESS"
        harness.clock.advance(minutes=5)
        resolved = await change_status(harness, admin, ticket_id, "RESOLVED", f"  {NOTE}  ")

        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "RESOLVED" and resolved.json()["resolutionNote"] == NOTE
        row = await ticket_row(harness, ticket_id)
        assert (row["status"], row["resolution_note"]) == ("RESOLVED", NOTE)
        assert row["updated_at"] > row["created_at"]
        entries = await audit_rows(harness, ticket_id, "ticket.status_changed")
        assert [e["data"] for e in entries] == [
            {"fromStatus": "OPEN", "toStatus": "IN_PROGRESS", "noteGiven": False},
            {"fromStatus": "IN_PROGRESS", "toStatus": "RESOLVED", "noteGiven": True},
        ]
        assert all(e["actor"] == admin.user_id for e in entries)
        assert "device logs" not in str(await audit_rows(harness, ticket_id))

    @pytest.mark.parametrize(
        ("current", "target"),
        [
            ("OPEN", "RESOLVED"),  # skipping IN_PROGRESS
            ("OPEN", "OPEN"),
            ("IN_PROGRESS", "IN_PROGRESS"),
            ("IN_PROGRESS", "OPEN"),
            ("RESOLVED", "IN_PROGRESS"),
            ("RESOLVED", "OPEN"),
            ("RESOLVED", "RESOLVED"),
        ],
    )
    async def test_illegal_moves_are_409_and_change_nothing(
        self, harness: Harness, current: str, target: str
    ) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness, status=current)
        before = await ticket_row(harness, ticket_id)

        response = await change_status(
            harness, admin, ticket_id, target, NOTE if target == "RESOLVED" else None
        )

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "INVALID_STATE"
        assert response.json()["details"] == {"from": current, "to": target}
        assert await ticket_row(harness, ticket_id) == before
        assert await audit_rows(harness, ticket_id) == []

    @pytest.mark.parametrize(
        ("target", "note"),
        [("RESOLVED", None), ("RESOLVED", "   "), ("IN_PROGRESS", NOTE), ("RESOLVED", "x" * 2001)],
    )
    async def test_the_note_is_required_to_resolve_and_only_then(
        self, harness: Harness, target: str, note: str | None
    ) -> None:
        admin = await admin_session(harness)
        ticket_id = await insert_ticket(harness, status="IN_PROGRESS" if target == "RESOLVED" else "OPEN")
        before = await ticket_row(harness, ticket_id)

        response = await change_status(harness, admin, ticket_id, target, note)

        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert "resolutionNote" in [f["field"] for f in response.json()["details"]["fields"]]
        assert await ticket_row(harness, ticket_id) == before

    async def test_unknown_ticket_and_unknown_status(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        missing = await change_status(harness, admin, "TKT-01ARZ3NDEKTSV4RRFFQ69G5FAV", "IN_PROGRESS")
        assert missing.status_code == 404
        ticket_id = await insert_ticket(harness)
        bad = await change_status(harness, admin, ticket_id, "CLOSED")
        assert bad.status_code == 400
        assert (await ticket_row(harness, ticket_id))["status"] == "OPEN"


class TestConcurrentMoves:
    async def test_one_of_many_concurrent_moves_wins(self, harness: Harness) -> None:
        admins = [await admin_session(harness, f"+91900000010{i}") for i in range(2)]
        ticket_id = await insert_ticket(harness)

        responses = await asyncio.gather(
            *(change_status(harness, admins[i % 2], ticket_id, "IN_PROGRESS") for i in range(20))
        )

        codes = sorted(r.status_code for r in responses)
        assert codes == [200] + [409] * 19, [r.text for r in responses if r.status_code not in (200, 409)]
        assert (await ticket_row(harness, ticket_id))["status"] == "IN_PROGRESS"
        assert len(await audit_rows(harness, ticket_id, "ticket.status_changed")) == 1

    async def test_concurrent_resolutions_keep_one_note(self, harness: Harness) -> None:
        admins = [await admin_session(harness, f"+91900000020{i}") for i in range(2)]
        ticket_id = await insert_ticket(harness, status="IN_PROGRESS")

        responses = await asyncio.gather(
            *(
                change_status(harness, admins[i % 2], ticket_id, "RESOLVED", f"Resolution {i}")
                for i in range(10)
            )
        )

        winners = [i for i, r in enumerate(responses) if r.status_code == 200]
        assert len(winners) == 1
        assert sorted(r.status_code for r in responses) == [200] + [409] * 9
        row = await ticket_row(harness, ticket_id)
        assert (row["status"], row["resolution_note"]) == ("RESOLVED", f"Resolution {winners[0]}")
        [entry] = await audit_rows(harness, ticket_id, "ticket.status_changed")
        assert entry["actor"] == admins[winners[0] % 2].user_id

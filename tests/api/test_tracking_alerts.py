"""The `no-ping-alerts` job (thresholds, repeats, escalation, concurrency) and the alert API:
`GET /v1/tracking/alerts`, `POST /v1/tracking/alerts/{alertId}/acknowledge`."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import notifications
from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.tracking.jobs import JOBS, NoPingResult, no_ping_alerts
from rodistaa.tracking.tables import tracking_alerts
from tests.api.booking_flows import session_with_role
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import Trip, seeded_trip
from tests.api.test_tracking_pings import at, iso, ping_ok, single
from tests.conftest import Harness


async def run_job(h: Harness) -> NoPingResult:
    return await no_ping_alerts(h.app.state.services)


async def alert_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(tracking_alerts)
            .where(tracking_alerts.c.shipment_id == shipment_id)
            .order_by(tracking_alerts.c.created_at)
        )
        return [dict(r) for r in rows.mappings()]


async def inbox(h: Harness, user_id: str) -> list[str]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(notifications.c.message)
            .where(notifications.c.user_id == user_id)
            .order_by(notifications.c.created_at)
        )
        return [r.message for r in rows]


async def audit_entries(h: Harness, alert_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log).where(
                audit_log.c.entity_type == "tracking_alert", audit_log.c.entity_id == alert_id
            )
        )
        return [{**dict(r), "data": json.loads(r.data)} for r in rows.mappings()]


async def silent_trip(h: Harness, **kwargs: Any) -> Trip:
    """An en-route trip started now that never pings."""
    return await seeded_trip(h, started_at=h.clock.now(), **kwargs)


def minutes(h: Harness, value: float) -> None:
    h.clock.advance(minutes=value)


class TestNoPingJob:
    async def test_warning_after_30_minutes_then_no_repeat_then_critical_once(self, harness: Harness) -> None:
        trip = await silent_trip(harness)
        started = harness.clock.now()
        minutes(harness, 29)
        assert (await run_job(harness)).summary()["raised"] == {"WARNING": 0, "CRITICAL": 0}
        assert await alert_rows(harness, trip.shipment_id) == []

        minutes(harness, 1)
        result = await run_job(harness)
        assert result.summary() == {
            "job": "no-ping-alerts",
            "examined": 1,
            "raised": {"WARNING": 1, "CRITICAL": 0},
            "suppressed": 0,
        }
        [warning] = await alert_rows(harness, trip.shipment_id)
        assert (warning["kind"], warning["severity"], warning["silent_since"]) == (
            "NO_PING",
            "WARNING",
            started,
        )
        assert await inbox(harness, trip.operator.user_id) == [
            f"No GPS ping from shipment {trip.shipment_id} for 30 minutes"
        ]
        assert await inbox(harness, trip.shipper.user_id) == []
        [entry] = await audit_entries(harness, warning["id"])
        assert (entry["action"], entry["actor"]) == ("tracking.alert_raised", "system:jobs")
        assert entry["data"] == {"shipmentId": trip.shipment_id, "severity": "WARNING", "silentForS": 1800}

        minutes(harness, 15)  # 45 minutes: the warning is fresh, nothing new
        assert (await run_job(harness)).suppressed == 1
        assert len(await alert_rows(harness, trip.shipment_id)) == 1

        minutes(harness, 15)  # 60 minutes: the one escalation, inside the repeat interval
        assert (await run_job(harness)).criticals == 1
        critical = (await alert_rows(harness, trip.shipment_id))[-1]
        assert (critical["severity"], critical["silent_since"]) == ("CRITICAL", started)
        message = f"CRITICAL: No GPS ping from shipment {trip.shipment_id} for 60 minutes"
        assert (await inbox(harness, trip.operator.user_id))[-1] == message
        assert await inbox(harness, trip.shipper.user_id) == [message]

        minutes(harness, 59)  # 119 minutes: the critical alert is fresh
        assert (await run_job(harness)).suppressed == 1
        assert len(await alert_rows(harness, trip.shipment_id)) == 2

        minutes(harness, 1)  # 120 minutes: a full interval since the last alert
        assert (await run_job(harness)).criticals == 1
        assert [a["severity"] for a in await alert_rows(harness, trip.shipment_id)] == [
            "WARNING",
            "CRITICAL",
            "CRITICAL",
        ]

    async def test_silence_counts_from_the_last_fix(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, started_at=at(harness, -20 * 60))
        assert trip.driver is not None
        last_fix = at(harness, -60)
        await ping_ok(harness, trip.driver, single(trip.shipment_id, timestamp=iso(last_fix)))
        minutes(harness, 28)  # 29 minutes after the fix, 48 after the start
        await run_job(harness)
        assert await alert_rows(harness, trip.shipment_id) == []
        minutes(harness, 1)
        await run_job(harness)
        [alert] = await alert_rows(harness, trip.shipment_id)
        assert (alert["severity"], alert["silent_since"]) == ("WARNING", last_fix)

    @pytest.mark.parametrize(
        "status", [ShipmentStatus.APPROVED, ShipmentStatus.COMPLETED, ShipmentStatus.CANCELLED]
    )
    async def test_only_shipments_en_route_are_watched(
        self, harness: Harness, status: ShipmentStatus
    ) -> None:
        trip = await silent_trip(harness, status=status)
        minutes(harness, 90)
        assert (await run_job(harness)).examined == 0
        assert await alert_rows(harness, trip.shipment_id) == []

    async def test_otp_pending_is_watched(self, harness: Harness) -> None:
        trip = await silent_trip(harness, status=ShipmentStatus.OTP_PENDING)
        minutes(harness, 65)
        await run_job(harness)
        assert [a["severity"] for a in await alert_rows(harness, trip.shipment_id)] == ["CRITICAL"]

    async def test_an_acknowledgement_pauses_reminders_but_not_the_escalation(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, started_at=at(harness, -30 * 60))
        await run_job(harness)
        [warning] = await alert_rows(harness, trip.shipment_id)
        minutes(harness, 5)
        await acknowledge_ok(harness, trip.operator, warning["id"])
        minutes(harness, 10)  # 45 minutes of silence
        assert (await run_job(harness)).suppressed == 1
        minutes(harness, 15)  # 60 minutes
        assert (await run_job(harness)).criticals == 1
        assert [a["severity"] for a in await alert_rows(harness, trip.shipment_id)] == ["WARNING", "CRITICAL"]

    async def test_concurrent_runs_raise_one_alert(self, harness: Harness) -> None:
        trips = [await silent_trip(harness) for _ in range(3)]
        minutes(harness, 31)
        results = await asyncio.gather(*(run_job(harness) for _ in range(5)))
        assert sum(r.warnings for r in results) == 3
        for trip in trips:
            assert len(await alert_rows(harness, trip.shipment_id)) == 1
            assert len(await inbox(harness, trip.operator.user_id)) == 1

    def test_the_job_is_exported_for_the_cli(self) -> None:
        spec = JOBS["no-ping-alerts"]
        assert (spec.name, spec.run) == ("no-ping-alerts", no_ping_alerts)


# --- the alert API -------------------------------------------------------------------------------


async def acknowledge(h: Harness, session: Session, alert_id: str) -> Any:
    return await h.client.post(f"/v1/tracking/alerts/{alert_id}/acknowledge", headers=session.headers)


async def acknowledge_ok(h: Harness, session: Session, alert_id: str) -> dict[str, Any]:
    response = await acknowledge(h, session, alert_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def alerted_trip(h: Harness, **kwargs: Any) -> tuple[Trip, dict[str, Any]]:
    trip = await seeded_trip(h, started_at=h.clock.now() - timedelta(minutes=31), **kwargs)
    await run_job(h)
    [alert] = await alert_rows(h, trip.shipment_id)
    return trip, alert


class TestAlertList:
    async def test_operators_see_their_own_and_admins_all(self, harness: Harness) -> None:
        mine, mine_alert = await alerted_trip(harness)
        _, theirs_alert = await alerted_trip(harness)
        admin = await admin_session(harness)
        response = await harness.client.get("/v1/tracking/alerts", headers=mine.operator.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [a["id"] for a in body["data"]] == [mine_alert["id"]]
        assert body["meta"] == {"page": 1, "pageSize": 20, "total": 1, "totalPages": 1}
        assert body["data"][0] == {
            "id": mine_alert["id"],
            "shipmentId": mine.shipment_id,
            "kind": "NO_PING",
            "severity": "WARNING",
            "silentSince": mine_alert["silent_since"].isoformat().replace("+00:00", "Z"),
            "createdAt": mine_alert["created_at"].isoformat().replace("+00:00", "Z"),
            "acknowledgedAt": None,
            "acknowledgedBy": None,
        }
        response = await harness.client.get("/v1/tracking/alerts", headers=admin.headers)
        assert {a["id"] for a in response.json()["data"]} == {mine_alert["id"], theirs_alert["id"]}

    async def test_unacknowledged_and_shipment_filters(self, harness: Harness) -> None:
        first, first_alert = await alerted_trip(harness)
        _, second_alert = await alerted_trip(harness, operator=first.operator)
        await acknowledge_ok(harness, first.operator, first_alert["id"])
        headers = first.operator.headers
        response = await harness.client.get(
            "/v1/tracking/alerts", params={"unacknowledged": "true"}, headers=headers
        )
        assert [a["id"] for a in response.json()["data"]] == [second_alert["id"]]
        response = await harness.client.get(
            "/v1/tracking/alerts", params={"shipmentId": first.shipment_id}, headers=headers
        )
        assert [a["id"] for a in response.json()["data"]] == [first_alert["id"]]
        response = await harness.client.get(
            "/v1/tracking/alerts", params={"pageSize": 1, "page": 2}, headers=headers
        )
        assert response.json()["meta"]["total"] == 2 and len(response.json()["data"]) == 1

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.DRIVER, Role.KYC_ADMIN])
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        session = await session_with_role(harness, role)
        response = await harness.client.get("/v1/tracking/alerts", headers=session.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_anonymous_is_unauthorized(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/tracking/alerts")).status_code == 401


class TestAcknowledge:
    async def test_the_operator_acknowledges_once(self, harness: Harness) -> None:
        trip, alert = await alerted_trip(harness)
        minutes(harness, 2)
        body = await acknowledge_ok(harness, trip.operator, alert["id"])
        assert (body["id"], body["acknowledgedBy"]) == (alert["id"], trip.operator.user_id)
        assert body["acknowledgedAt"] == harness.clock.now().isoformat().replace("+00:00", "Z")
        [row] = await alert_rows(harness, trip.shipment_id)
        assert (row["acknowledged_at"], row["acknowledged_by"]) == (
            harness.clock.now(),
            trip.operator.user_id,
        )
        acks = [
            e
            for e in await audit_entries(harness, alert["id"])
            if e["action"] == "tracking.alert_acknowledged"
        ]
        assert [(e["actor"], e["data"]) for e in acks] == [
            (
                trip.operator.user_id,
                {
                    "shipmentId": trip.shipment_id,
                    "kind": "NO_PING",
                    "severity": "WARNING",
                    "acknowledgedByRole": "OPERATOR",
                },
            )
        ]

        minutes(harness, 1)
        again = await acknowledge(harness, trip.operator, alert["id"])
        assert (again.status_code, again.json()["code"]) == (409, "ALREADY_ACKNOWLEDGED")
        assert await alert_rows(harness, trip.shipment_id) == [row]

    async def test_an_admin_acknowledges(self, harness: Harness) -> None:
        _, alert = await alerted_trip(harness)
        admin = await admin_session(harness)
        assert (await acknowledge_ok(harness, admin, alert["id"]))["acknowledgedBy"] == admin.user_id

    async def test_another_operator_gets_not_found(self, harness: Harness) -> None:
        _, alert = await alerted_trip(harness)
        other, _ = await alerted_trip(harness)
        response = await acknowledge(harness, other.operator, alert["id"])
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        assert (await alert_rows(harness, alert["shipment_id"]))[0]["acknowledged_at"] is None

    async def test_the_shipper_and_driver_are_forbidden(self, harness: Harness) -> None:
        trip, alert = await alerted_trip(harness)
        assert trip.driver is not None
        for session in (trip.shipper, trip.driver):
            response = await acknowledge(harness, session, alert["id"])
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await alert_rows(harness, trip.shipment_id))[0]["acknowledged_at"] is None

    async def test_unknown_alert(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        assert (await acknowledge(harness, admin, "TAL-NOPE")).status_code == 404

    async def test_concurrent_acknowledgements_succeed_once(self, harness: Harness) -> None:
        trip, alert = await alerted_trip(harness)
        admin = await admin_session(harness)
        sessions = [trip.operator] * 4 + [admin] * 4
        responses = await asyncio.gather(*(acknowledge(harness, s, alert["id"]) for s in sessions))
        assert sorted(r.status_code for r in responses) == [200] + [409] * 7, [r.text for r in responses]
        [winner] = [r.json() for r in responses if r.status_code == 200]
        [row] = await alert_rows(harness, trip.shipment_id)
        assert row["acknowledged_by"] == winner["acknowledgedBy"]
        acks = [
            e
            for e in await audit_entries(harness, alert["id"])
            if e["action"] == "tracking.alert_acknowledged"
        ]
        assert len(acks) == 1

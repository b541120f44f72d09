"""What a user or an admin sees of an ACS rule, read only through the API: the audit trail of
rule matches, a shipment as someone sees it, the blocks on an entity, an inbox, a booking's bids,
a ledger balance.

    trail = await AuditTrail.start(h, admin)      # before triggering the rule
    ...                                           # the user's request that fires it
    await trail.assert_matched("RF05", "gps.ping")

The audit chain outlives each test's emptied tables (it refuses DELETE), so `AuditTrail` reads
only the entries appended after it started: a rule matched by an earlier test never satisfies a
later one. Where the refusal names its ACS event (`details.eventId`) the match is pinned to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from tests.api.flows import Session
from tests.conftest import Harness

RULE_MATCHED = "acs.rule_matched"
PAGE_SIZE = 100


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str, rule_id: str) -> dict[str, Any]:
    """The error body of a request an ACS rule refused: its status, code and rule."""
    body = response.json()
    assert (response.status_code, body.get("code")) == (status, code), response.text
    assert body["details"]["ruleId"] == rule_id, body
    return dict(body)


@dataclass(frozen=True)
class AuditTrail:
    """The `acs.rule_matched` entries appended after `start`, read as an admin over HTTP."""

    h: Harness
    admin: Session
    after_seq: int

    @classmethod
    async def start(cls, h: Harness, admin: Session) -> AuditTrail:
        newest = ok(await h.client.get("/v1/admin/audit", params={"pageSize": 1}, headers=admin.headers))
        return cls(h, admin, newest["data"][0]["seq"] if newest["data"] else 0)

    async def rule_matches(self) -> list[dict[str, Any]]:
        """Newest first, page by page, until the entries predate the start."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, str | int] = {"action": RULE_MATCHED, "pageSize": PAGE_SIZE, "page": page}
            body = ok(await self.h.client.get("/v1/admin/audit", params=params, headers=self.admin.headers))
            fresh = [e for e in body["data"] if e["seq"] > self.after_seq]
            found.extend(fresh)
            if len(fresh) < len(body["data"]) or page >= body["meta"]["totalPages"]:
                return found
            page += 1

    async def assert_matched(
        self, rule: str, event_type: str, *, event_id: str | None = None
    ) -> dict[str, Any]:
        """The one entry of `rule` (e.g. "RF05") for an `event_type` event (that event, when
        known) since the start; returns it."""
        hits = [
            e
            for e in await self.rule_matches()
            if (e["ruleId"] or "").startswith(f"{rule}_")
            and e["metadata"]["eventType"] == event_type
            and (event_id is None or e["entityId"] == event_id)
        ]
        assert len(hits) == 1, (rule, event_type, event_id, hits)
        assert hits[0]["entityType"] == "event"
        return hits[0]


async def shipment_seen_by(h: Harness, session: Session, shipment_id: str) -> dict[str, Any]:
    return dict(ok(await h.client.get(f"/v1/shipments/{shipment_id}", headers=session.headers)))


async def blocks_on(h: Harness, admin: Session, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    """The entity's active blocks (`GET /v1/acs/blocks/...`, admins only)."""
    response = await h.client.get(f"/v1/acs/blocks/{entity_type}/{entity_id}", headers=admin.headers)
    return list(ok(response))


async def inbox(h: Harness, session: Session) -> list[dict[str, Any]]:
    """The caller's notifications, newest first."""
    body = ok(await h.client.get("/v1/notifications", params={"pageSize": 100}, headers=session.headers))
    return list(body["data"])


async def booking_bids(h: Harness, session: Session, booking_id: str) -> dict[str, str]:
    """The booking's bids as `session` may see them: bid id → status."""
    body = ok(await h.client.get(f"/v1/bookings/{booking_id}/bids", headers=session.headers))
    return {bid["id"]: bid["status"] for bid in body}


async def own_bids(h: Harness, operator: Session) -> list[dict[str, Any]]:
    return list(ok(await h.client.get("/v1/bids", headers=operator.headers))["data"])


async def balance_rupees(h: Harness, operator: Session) -> float:
    return float(ok(await h.client.get("/v1/ledger", headers=operator.headers))["balance"])


async def maintenance_window(h: Harness, admin: Session, operator_id: str) -> None:
    """A window for the operator that began five minutes ago and lasts two hours."""
    now = h.clock.now()
    body = {
        "operatorId": operator_id,
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": (now + timedelta(hours=2)).isoformat(),
        "reason": "Fleet audit",
    }
    ok(await h.client.post("/v1/admin/maintenance-windows", json=body, headers=admin.headers), 201)

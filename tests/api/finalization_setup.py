"""Bookings with ACTIVE bids written straight into the database, for finalization tests (the
bids API is built separately; these tests must not depend on it).

    market = await seeded_market(h, [1_500_000, 1_400_000])   # two verified operators' bids
    market.bids[1].id, market.bids[1].operator.user_id

Every operator is a real signed-in OPERATOR with verified KYC (`freight_setup.verified_user`)
and a funded ledger (a DEPOSIT), so a test can assert that finalization never touches it.
Booking ids are random (`RID-<day>-F<hex>`): the audit chain outlives each test's emptied
tables, so ids must not repeat within a session.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_events, notifications, outbox_events, tickets
from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.finalization.service import Finalizer
from rodistaa.kyc.tables import kyc_documents
from rodistaa.ledger.repo import EntryType, balance_of
from rodistaa.ledger.service import credit
from rodistaa.shipments.tables import shipments
from tests.api.acs_setup import insert_block
from tests.api.flows import Session
from tests.api.freight_setup import insert_booking, verified_user
from tests.conftest import Harness

DEPOSIT_PAISE = 1_000_000
FEE_PAISE = 17_500  # 5 t over 1491.58 km would cost more; the tests only need it fixed
TONNAGE = Decimal("5.00")
DISTANCE_KM = Decimal("1491.58")


@dataclass(frozen=True)
class SeededBid:
    id: str
    operator: Session
    amount_paise: int
    created_at: datetime


@dataclass(frozen=True)
class Market:
    shipper: Session
    booking_id: str
    bids: list[SeededBid]

    def bid_of(self, operator: Session) -> SeededBid:
        return next(b for b in self.bids if b.operator.user_id == operator.user_id)


async def seed_booking(
    h: Harness,
    shipper: Session,
    *,
    status: str = "OPEN",
    auto_finalize_at: datetime | None = None,
) -> str:
    """A Mumbai -> Delhi booking of 5 t of cement, range ₹10,000-₹30,000; deadline default
    24 h from now."""
    return await insert_booking(
        h,
        shipper.user_id,
        block="F",
        tonnage=TONNAGE,
        distance_km=DISTANCE_KM,
        expected_paise=1_865_663,
        min_paise=1_000_000,
        max_paise=3_000_000,
        status=status,
        auto_finalize_at=auto_finalize_at,
    )


async def funded_operator(h: Harness) -> Session:
    """A verified operator with ₹10,000 deposited."""
    operator = await verified_user(h, Role.OPERATOR)
    async with h.app.state.services.db.transaction() as conn:
        await credit(
            conn,
            operator.user_id,
            DEPOSIT_PAISE,
            EntryType.DEPOSIT,
            "Seed deposit",
            None,
            None,
            created_by="seed",
            now=h.clock.now(),
        )
    return operator


async def seed_bid(
    h: Harness,
    booking_id: str,
    operator: Session,
    *,
    amount_paise: int,
    created_at: datetime | None = None,
    status: str = "ACTIVE",
    fee_paise: int = FEE_PAISE,
) -> SeededBid:
    created_at = created_at or h.clock.now()
    bid_id = new_id("BK")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            bids.insert().values(
                id=bid_id,
                booking_id=booking_id,
                operator_id=operator.user_id,
                truck_id=None,
                amount_paise=amount_paise,
                fee_paise=fee_paise,
                notes="Can load tomorrow",
                status=status,
                created_at=created_at,
                updated_at=created_at,
            )
        )
    return SeededBid(bid_id, operator, amount_paise, created_at)


async def seeded_market(
    h: Harness,
    amounts_paise: Sequence[int],
    *,
    shipper: Session | None = None,
    status: str = "NEGOTIATION",
    auto_finalize_at: datetime | None = None,
    created_at: Sequence[datetime] | None = None,
) -> Market:
    """A booking of a verified shipper with one ACTIVE bid per amount, each from its own
    funded operator; bid i is created i seconds ago unless `created_at` says otherwise."""
    shipper = shipper or await verified_user(h, Role.SHIPPER)
    booking_id = await seed_booking(h, shipper, status=status, auto_finalize_at=auto_finalize_at)
    now = h.clock.now()
    seeded = []
    for i, amount in enumerate(amounts_paise):
        at = created_at[i] if created_at is not None else now - timedelta(seconds=len(amounts_paise) - i)
        seeded.append(
            await seed_bid(h, booking_id, await funded_operator(h), amount_paise=amount, created_at=at)
        )
    return Market(shipper, booking_id, seeded)


# --- making an operator ineligible ---------------------------------------------------------------


async def reject_kyc(h: Harness, operator: Session) -> None:
    """A REJECTED PAN newer than the verified one: the aggregate becomes REJECTED."""
    at = h.clock.now() + timedelta(seconds=1)
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            kyc_documents.insert().values(
                id=new_id("KYC"),
                user_id=operator.user_id,
                document_type="PAN",
                status="REJECTED",
                number_ciphertext="seeded",
                number_masked="XXXX",
                number_hash=secrets.token_hex(32),
                storage_key=f"seeded/{secrets.token_hex(8)}",
                content_type="application/pdf",
                size_bytes=1,
                reviewed_by="seed",
                reviewed_at=at,
                created_at=at,
                updated_at=at,
            )
        )


async def block_operator(h: Harness, operator: Session) -> None:
    await insert_block(h, "operator", operator.user_id, reason="Fraud review")


def block_after_acs(h: Harness, monkeypatch: pytest.MonkeyPatch, operator: Session) -> None:
    """Block `operator` right after ACS `bid.finalize` judged its bid: the window between the
    RF14 check and the winning transaction."""
    check_winner = Finalizer._check_winner

    async def check_then_block(self: Finalizer, initiator: Any, booking: Any, bid: Any, standing: Any) -> Any:
        decision = await check_winner(self, initiator, booking, bid, standing)
        if bid.operator_id == operator.user_id:
            await block_operator(h, operator)
        return decision

    monkeypatch.setattr(Finalizer, "_check_winner", check_then_block)


async def set_bid_status(h: Harness, bid_id: str, status: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(bids).where(bids.c.id == bid_id).values(status=status))


# --- reading the database ------------------------------------------------------------------------


async def booking_row(h: Harness, booking_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        row = (await conn.execute(select(bookings).where(bookings.c.id == booking_id))).mappings().one()
    return dict(row)


async def bid_statuses(h: Harness, booking_id: str) -> dict[str, str]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(select(bids.c.id, bids.c.status).where(bids.c.booking_id == booking_id))
        return {r.id: r.status for r in rows}


async def shipment_rows(h: Harness, booking_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (await conn.execute(select(shipments).where(shipments.c.booking_id == booking_id))).mappings()
        return [dict(r) for r in rows]


async def outbox_for(h: Harness, name: str, booking_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(outbox_events).where(outbox_events.c.name == name).order_by(outbox_events.c.id)
            )
        ).mappings()
        events = [dict(r, payload=json.loads(r["payload"])) for r in rows]
    return [e for e in events if e["payload"].get("bookingId") == booking_id]


async def audit_for(h: Harness, booking_id: str, action: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(audit_log)
                .where(audit_log.c.entity_id == booking_id, audit_log.c.action == action)
                .order_by(audit_log.c.seq)
            )
        ).mappings()
        return [dict(r, data=json.loads(r["data"])) for r in rows]


async def notifications_of(h: Harness, user_id: str) -> list[str]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(notifications.c.message)
            .where(notifications.c.user_id == user_id)
            .order_by(notifications.c.created_at, notifications.c.id)
        )
        return [r.message for r in rows]


async def acs_decisions(h: Harness, event_type: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(acs_events).where(acs_events.c.event_type == event_type).order_by(acs_events.c.at)
            )
        ).mappings()
        return [dict(r, context=json.loads(r["context"]), matched=json.loads(r["matched"])) for r in rows]


async def tickets_referring_to(h: Harness, ref: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (await conn.execute(select(tickets))).mappings().all()
    return [dict(r) for r in rows if ref in json.loads(r["refs"])]


async def balance(h: Harness, operator: Session) -> int:
    async with h.app.state.services.db.read() as conn:
        return await balance_of(conn, operator.user_id)

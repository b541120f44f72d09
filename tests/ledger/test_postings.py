"""The in-transaction ledger API the bids service and the override executor call: the
conditional debit under 100 concurrent connections, a property test of the balance invariant,
rollback with the caller's transaction, the database's own refusal of a negative balance, and
adjustments. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from rodistaa.acs.audit.tables import audit_log
from rodistaa.core.roles import Role
from rodistaa.ledger.errors import InsufficientBalance
from rodistaa.ledger.repo import EntryType
from rodistaa.ledger.service import adjust, balance_paise, credit, debit
from rodistaa.ledger.tables import ledger_accounts, ledger_entries
from tests.api.flows import create_user_directly
from tests.conftest import Harness

FEE_PAISE = 17_500  # 10 t over 500 km (PRODUCT §6)
_mobiles = itertools.count(9_700_000_000)


async def new_operator(h: Harness) -> str:
    return await create_user_directly(h, f"+91{next(_mobiles)}", Role.OPERATOR, "Fleet Owner")


async def post_credit(h: Harness, operator_id: str, amount_paise: int, **options: Any) -> Any:
    services = h.app.state.services
    async with services.db.transaction() as conn:
        return await credit(
            conn,
            operator_id,
            amount_paise,
            options.pop("entry_type", EntryType.DEPOSIT),
            "Deposit",
            "MANUAL_DEPOSIT",
            options.pop("reference", None),
            created_by="USR-AD-TEST",
            now=options.pop("now", services.clock.now()),
            **options,
        )


async def post_fee(h: Harness, operator_id: str, amount_paise: int = FEE_PAISE, bid_id: str = "BK-1") -> Any:
    services = h.app.state.services
    async with services.db.transaction() as conn:
        return await debit(
            conn,
            operator_id,
            amount_paise,
            EntryType.BIDDING_FEE,
            "Bidding fee",
            "BID",
            bid_id,
            created_by=operator_id,
            now=services.clock.now(),
        )


async def entries(h: Harness, operator_id: str) -> list[RowMapping]:
    query = (
        select(ledger_entries)
        .where(ledger_entries.c.operator_id == operator_id)
        .order_by(ledger_entries.c.created_at, ledger_entries.c.id)
    )
    async with h.app.state.services.db.read() as conn:
        return list((await conn.execute(query)).mappings())


async def balance(h: Harness, operator_id: str) -> int:
    async with h.app.state.services.db.read() as conn:
        return await balance_paise(conn, operator_id)


async def audit_count(h: Harness, entity_ids: list[str]) -> int:
    query = select(func.count()).where(
        audit_log.c.action == "ledger.entry", audit_log.c.entity_id.in_(entity_ids)
    )
    async with h.app.state.services.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


class TestConcurrentDebits:
    async def test_hundred_concurrent_fees_against_ten_fees_of_balance(self, harness: Harness) -> None:
        """100 connections each debit one fee in their own transaction; the balance covers
        exactly 10 fees plus a remainder smaller than a fee."""
        operator_id = await new_operator(harness)
        remainder = 1_234
        await post_credit(harness, operator_id, 10 * FEE_PAISE + remainder)

        async def attempt(n: int) -> str:
            try:
                await post_fee(harness, operator_id, bid_id=f"BK-{n}")
            except InsufficientBalance:
                return "refused"
            return "debited"

        results = await asyncio.gather(*(attempt(n) for n in range(100)))
        assert results.count("debited") == 10
        assert results.count("refused") == 90
        assert await balance(harness, operator_id) == remainder
        rows = await entries(harness, operator_id)
        fees = [row for row in rows if row["type"] == "BIDDING_FEE"]
        assert len(fees) == 10
        assert all(row["amount_paise"] == -FEE_PAISE for row in fees)
        # Each debit saw the balance the one before it left: the balances after form the exact
        # staircase down to the remainder, and none is negative.
        assert [row["balance_after_paise"] for row in fees] == [
            remainder + FEE_PAISE * k for k in range(9, -1, -1)
        ]
        assert rows[-1]["balance_after_paise"] == remainder
        assert await audit_count(harness, [row["id"] for row in fees]) == 10

    async def test_balance_may_reach_exactly_zero(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        await post_credit(harness, operator_id, FEE_PAISE)
        entry = await post_fee(harness, operator_id)
        assert (entry.amount_paise, entry.balance_after_paise) == (-FEE_PAISE, 0)
        assert await balance(harness, operator_id) == 0
        with pytest.raises(InsufficientBalance):
            await post_fee(harness, operator_id, 1)

    async def test_refused_debit_writes_nothing(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        await post_credit(harness, operator_id, FEE_PAISE - 1)
        with pytest.raises(InsufficientBalance) as refused:
            await post_fee(harness, operator_id)
        assert (refused.value.status, refused.value.code) == (422, "INSUFFICIENT_BALANCE")
        assert len(await entries(harness, operator_id)) == 1
        assert await balance(harness, operator_id) == FEE_PAISE - 1

    async def test_operator_without_account_cannot_be_debited(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        with pytest.raises(InsufficientBalance):
            await post_fee(harness, operator_id)
        assert await entries(harness, operator_id) == []
        assert await balance(harness, operator_id) == 0

    async def test_debit_rolls_back_with_the_callers_transaction(self, harness: Harness) -> None:
        """The bid's transaction fails after the fee was debited: neither survives."""
        operator_id = await new_operator(harness)
        await post_credit(harness, operator_id, FEE_PAISE)
        services = harness.app.state.services
        debited: list[str] = []

        async def place_bid() -> None:
            async with services.db.transaction() as conn:
                entry = await debit(
                    conn,
                    operator_id,
                    FEE_PAISE,
                    EntryType.BIDDING_FEE,
                    "Bidding fee",
                    "BID",
                    "BK-1",
                    created_by=operator_id,
                    now=services.clock.now(),
                )
                debited.append(entry.id)
                raise RuntimeError("bid insert failed")

        with pytest.raises(RuntimeError, match="bid insert failed"):
            await place_bid()
        assert await balance(harness, operator_id) == FEE_PAISE
        assert len(await entries(harness, operator_id)) == 1
        assert len(debited) == 1
        assert await audit_count(harness, debited) == 0

    async def test_database_refuses_a_negative_balance(self, harness: Harness) -> None:
        """The CHECK constraint holds even against code that skips the conditional update."""
        operator_id = await new_operator(harness)
        await post_credit(harness, operator_id, 100)
        with pytest.raises(IntegrityError):
            async with harness.app.state.services.db.transaction() as conn:
                await conn.execute(
                    update(ledger_accounts)
                    .where(ledger_accounts.c.operator_id == operator_id)
                    .values(balance_paise=ledger_accounts.c.balance_paise - 101)
                )
        assert await balance(harness, operator_id) == 100


class TestBalanceInvariant:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        operations=st.lists(
            st.tuples(st.sampled_from(["credit", "debit"]), st.integers(min_value=1, max_value=50_000)),
            min_size=1,
            max_size=12,
        )
    )
    async def test_balance_is_the_sum_of_entries(
        self, harness: Harness, operations: list[tuple[str, int]]
    ) -> None:
        """Any sequence of credits and debits: a debit succeeds exactly when the balance
        covers it, the balance equals the sum of the entries, every `balance_after` is the
        running sum, and the last one is the balance."""
        operator_id = await new_operator(harness)
        expected = 0
        for kind, amount in operations:
            if kind == "credit":
                await post_credit(harness, operator_id, amount)
                expected += amount
                continue
            if amount <= expected:
                await post_fee(harness, operator_id, amount)
                expected -= amount
            else:
                with pytest.raises(InsufficientBalance):
                    await post_fee(harness, operator_id, amount)
        rows = await entries(harness, operator_id)
        actual = await balance(harness, operator_id)
        assert actual == expected == sum(row["amount_paise"] for row in rows)
        running = list(itertools.accumulate(row["amount_paise"] for row in rows))
        assert [row["balance_after_paise"] for row in rows] == running
        assert all(value >= 0 for value in running)
        if rows:
            assert rows[-1]["balance_after_paise"] == actual


class TestAdjustments:
    async def adjust(self, h: Harness, operator_id: str, amount_paise: int) -> Any:
        services = h.app.state.services
        async with services.db.transaction() as conn:
            return await adjust(
                conn,
                operator_id,
                amount_paise,
                override_id="OVR-01ARZ3NDEKTSV4RRFFQ69G5FAV",
                description="Fee charged twice for one bid",
                created_by="USR-AD-APPROVER",
                now=services.clock.now(),
            )

    async def test_positive_adjustment_credits(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        entry = await self.adjust(harness, operator_id, 6_825)
        assert (entry.entry_type, entry.amount_paise, entry.balance_after_paise) == (
            EntryType.ADJUSTMENT,
            6_825,
            6_825,
        )
        assert (entry.reference_type, entry.reference_id) == ("OVERRIDE", "OVR-01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert await audit_count(harness, [entry.id]) == 1

    async def test_negative_adjustment_debits_within_the_balance(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        await post_credit(harness, operator_id, 10_000)
        entry = await self.adjust(harness, operator_id, -4_000)
        assert (entry.amount_paise, entry.balance_after_paise) == (-4_000, 6_000)
        with pytest.raises(InsufficientBalance):
            await self.adjust(harness, operator_id, -6_001)
        assert await balance(harness, operator_id) == 6_000
        assert await audit_count(harness, [entry.id]) == 1

    async def test_zero_adjustment_is_a_programming_error(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        with pytest.raises(ValueError, match="positive"):
            await self.adjust(harness, operator_id, 0)


class TestPostingArguments:
    @pytest.mark.parametrize("amount", [0, -5, True])
    async def test_amount_must_be_a_positive_integer(self, harness: Harness, amount: int) -> None:
        operator_id = await new_operator(harness)
        with pytest.raises(ValueError, match="positive"):
            await post_credit(harness, operator_id, amount)
        with pytest.raises(ValueError, match="positive"):
            await post_fee(harness, operator_id, amount)
        assert await entries(harness, operator_id) == []

    async def test_entry_type_must_fit_the_direction(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        with pytest.raises(ValueError, match="BIDDING_FEE"):
            await post_credit(harness, operator_id, 100, entry_type=EntryType.BIDDING_FEE)
        await post_credit(harness, operator_id, 100, entry_type=EntryType.REFUND)
        services = harness.app.state.services

        async def debit_a_deposit() -> None:
            async with services.db.transaction() as conn:
                now = services.clock.now()
                await debit(conn, operator_id, 1, EntryType.DEPOSIT, "x", None, None, created_by="t", now=now)

        with pytest.raises(ValueError, match="DEPOSIT"):
            await debit_a_deposit()
        assert await balance(harness, operator_id) == 100

    async def test_a_taken_external_reference_is_refused_by_the_database(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        await post_credit(harness, operator_id, 100, external_reference="UTR-1")
        with pytest.raises(IntegrityError):
            await post_credit(harness, operator_id, 100, external_reference="UTR-1")
        assert await balance(harness, operator_id) == 100

    async def test_entries_are_stamped_after_the_previous_one(self, harness: Harness) -> None:
        operator_id = await new_operator(harness)
        now = harness.clock.now()
        first = await post_credit(harness, operator_id, 100, now=now)
        second = await post_credit(harness, operator_id, 100, now=now - timedelta(minutes=5))
        third = await post_credit(harness, operator_id, 100, now=now + timedelta(minutes=1))
        assert first.created_at == now
        assert second.created_at == now + timedelta(microseconds=1)
        assert third.created_at == now + timedelta(minutes=1)

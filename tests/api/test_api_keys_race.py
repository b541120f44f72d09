"""Concurrent rotations of one key: the conditional UPDATE on `rotated_to IS NULL AND
revoked_at IS NULL` lets exactly one succeed. Over HTTP on both databases (each request on its
own connection), and on PostgreSQL with two connections interleaved by hand so the second
claim provably waits on the first's row lock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from rodistaa.apikeys import repo
from rodistaa.core.roles import Role
from tests.api.flows import admin_session
from tests.api.freight_setup import verified_user
from tests.api.shipment_flows import audit_entries
from tests.apikeys.flows import create_key, get_with_key, key_row, key_rows, rotate
from tests.conftest import Harness


async def test_concurrent_rotations_of_one_key_have_one_winner(harness: Harness) -> None:
    admin = await admin_session(harness)
    shipper = await verified_user(harness, Role.SHIPPER)
    old = await create_key(harness, admin, shipper.user_id, ["bookings:read"])

    responses = await asyncio.gather(*(rotate(harness, admin, old["id"]) for _ in range(6)))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INVALID_STATE"}
    [winner] = [r.json() for r in responses if r.status_code == 201]
    assert (await key_row(harness, old["id"]))["rotated_to"] == winner["id"]
    assert {r["id"] for r in await key_rows(harness)} == {old["id"], winner["id"]}
    rotations = [e for e in await audit_entries(harness, old["id"]) if e["action"] == "api_key.rotated"]
    assert [e["data"]["prefix"] for e in rotations] == [winner["prefix"]]
    assert (await get_with_key(harness, winner["key"], "/v1/bookings")).status_code == 200


@pytest.mark.postgres_only
async def test_the_second_claim_waits_for_the_first_and_then_matches_nothing(harness: Harness) -> None:
    if harness.settings.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time: there is no interleaving to test")
    admin = await admin_session(harness)
    shipper = await verified_user(harness, Role.SHIPPER)
    old = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
    now = harness.clock.now()
    overlap_end = now + timedelta(minutes=30)
    engine = harness.app.state.services.db.engine

    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await second.begin()
        assert await repo.claim_rotation(
            first, old["id"], successor_id="APK-A", expires_at=overlap_end, now=now
        )
        racing = asyncio.create_task(
            repo.claim_rotation(second, old["id"], successor_id="APK-B", expires_at=overlap_end, now=now)
        )
        await asyncio.sleep(0.3)
        assert not racing.done(), "the second claim did not wait for the first one's row lock"
        await first.commit()
        assert await racing is False
        await second.commit()

    assert (await key_row(harness, old["id"]))["rotated_to"] == "APK-A"

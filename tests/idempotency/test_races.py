"""Concurrent first requests with one `Idempotency-Key`, on two app instances sharing the
database (as two API replicas behind a load balancer would): the route runs once, the bid is
paid once, and every other request is either the replay or told to retry. On PostgreSQL the
unique (principal, key) constraint is really contended; SQLite serialises the claims."""

from __future__ import annotations

import asyncio

from rodistaa.core.roles import Role
from tests.api.bid_flows import (
    STANDARD_FEE_PAISE,
    bid_rows,
    fee_entries,
    funded_operator,
    seed_booking,
    stored_balance,
)
from tests.api.freight_setup import verified_user
from tests.conftest import Harness, running_app
from tests.idempotency.flows import is_replay, post_bid_with_key, records

REQUESTS_PER_INSTANCE = 4


class TestConcurrentRetries:
    async def test_concurrent_requests_with_one_key_bid_and_pay_once(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        booking_id = await seed_booking(harness, shipper.user_id)

        async with running_app(harness.settings) as other_instance:
            responses = await asyncio.gather(
                *(
                    post_bid_with_key(instance, operator, booking_id, "one-bid")
                    for _ in range(REQUESTS_PER_INSTANCE)
                    for instance in (harness, other_instance)
                )
            )

        ran = [r for r in responses if r.status_code == 201 and not is_replay(r)]
        assert len(ran) == 1, [(r.status_code, r.text) for r in responses]
        [winner] = ran
        for response in responses:
            if response is winner:
                continue
            if response.status_code == 201:
                assert is_replay(response) and response.json() == winner.json()
            else:
                assert (response.status_code, response.json()["code"]) == (409, "IDEMPOTENCY_KEY_IN_USE")
                assert response.headers["retry-after"] == "1"
        [bid] = await bid_rows(harness)
        assert bid["id"] == winner.json()["id"]
        [fee] = await fee_entries(harness, operator.user_id)
        assert fee["reference_id"] == bid["id"]
        assert await stored_balance(harness, operator.user_id) == 100_000 - STANDARD_FEE_PAISE
        [record] = await records(harness)
        assert (record["state"], record["response_status"]) == ("COMPLETED", 201)

"""`Idempotency-Key` on POST /v1/bids (and one webhook registration) over HTTP: a retry
replays the first answer without bidding or paying again, whatever token the retry carries; a
reused key with another request is refused; keys are per user; client errors are replayed and
server errors release the key; records expire; stored bodies are encrypted."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from rodistaa.bids.service import BidService
from rodistaa.core.errors import ServiceUnavailable
from rodistaa.core.roles import Role
from rodistaa.security.envelope import decrypt
from tests.api.bid_flows import (
    STANDARD_FEE_PAISE,
    assert_error,
    bid_rows,
    fee_entries,
    funded_operator,
    seed_booking,
    stored_balance,
)
from tests.api.flows import admin_session, refreshed
from tests.api.freight_setup import verified_user
from tests.api.ledger_flows import fund_operator
from tests.conftest import Harness
from tests.idempotency.flows import is_replay, post_bid_with_key, records
from tests.webhooks.flows import REGISTER, subscription_rows

FUNDED_PAISE = 100_000  # funded_operator's default ₹1,000


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


def expected_hash(sent: httpx.Request) -> str:
    """The fingerprint computed independently: method, path and the exact body bytes sent."""
    return hashlib.sha256(b"POST\n/v1/bids\n" + sent.content).hexdigest()


class TestReplay:
    async def test_a_retry_gets_the_first_answer_and_the_bid_is_paid_once(self, h: Harness) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)

        first = await post_bid_with_key(h, operator, booking_id, "bid-attempt-1")
        assert first.status_code == 201, first.text
        assert not is_replay(first)
        # The retry carries a refreshed token: the key belongs to the user, not to a token.
        retry = await post_bid_with_key(h, await refreshed(h, operator), booking_id, "bid-attempt-1")

        assert retry.status_code == 201
        assert retry.json() == first.json()
        assert is_replay(retry)
        assert retry.headers["content-type"] == first.headers["content-type"] == "application/json"
        assert retry.headers["x-request-id"] != first.headers["x-request-id"]
        [bid] = await bid_rows(h)
        assert bid["id"] == first.json()["id"] and bid["operator_id"] == operator.user_id
        [fee] = await fee_entries(h, operator.user_id)
        assert fee["reference_id"] == bid["id"]
        assert await stored_balance(h, operator.user_id) == FUNDED_PAISE - STANDARD_FEE_PAISE
        [record] = await records(h)
        assert record["principal"] == f"user:{operator.user_id}"
        assert (record["idempotency_key"], record["method"], record["path"]) == (
            "bid-attempt-1",
            "POST",
            "/v1/bids",
        )
        assert record["request_hash"] == expected_hash(retry.request)
        assert (record["state"], record["response_status"]) == ("COMPLETED", 201)
        assert json.loads(record["response_headers"]) == {"content-type": "application/json"}
        assert record["expires_at"] == record["created_at"] + timedelta(hours=24)
        assert bid["id"] not in json.dumps({k: str(v) for k, v in record.items()})

    async def test_the_same_key_with_another_body_or_path_is_refused(self, h: Harness) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)
        first = await post_bid_with_key(h, operator, booking_id, "k-1")
        assert first.status_code == 201, first.text
        [before] = await records(h)

        other_amount = await post_bid_with_key(h, operator, booking_id, "k-1", amount=13_000)
        other_path = await h.client.post(
            "/v1/bids?dryRun=1",
            json={"bookingId": booking_id, "amount": 12_000},
            headers={**operator.headers, "Idempotency-Key": "k-1"},
        )

        for response in (other_amount, other_path):
            body = assert_error(response, 409, "IDEMPOTENCY_KEY_REUSED")
            assert body["message"] == "This Idempotency-Key was already used for a different request"
            assert not is_replay(response)
        [bid] = await bid_rows(h)
        assert bid["amount_paise"] == 1_200_000
        assert len(await fee_entries(h, operator.user_id)) == 1
        assert await stored_balance(h, operator.user_id) == FUNDED_PAISE - STANDARD_FEE_PAISE
        assert await records(h) == [before]

    async def test_a_key_used_by_one_user_does_not_replay_to_another(self, h: Harness) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        first_operator = await funded_operator(h)
        second_operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)

        first = await post_bid_with_key(h, first_operator, booking_id, "shared-key")
        second = await post_bid_with_key(h, second_operator, booking_id, "shared-key")

        assert (first.status_code, second.status_code) == (201, 201), second.text
        assert not is_replay(second)
        assert second.json()["id"] != first.json()["id"]
        assert second.json()["operatorId"] == second_operator.user_id
        assert {b["operator_id"] for b in await bid_rows(h)} == {
            first_operator.user_id,
            second_operator.user_id,
        }
        for operator in (first_operator, second_operator):
            assert len(await fee_entries(h, operator.user_id)) == 1
        assert {r["principal"] for r in await records(h)} == {
            f"user:{first_operator.user_id}",
            f"user:{second_operator.user_id}",
        }


class TestOutcomes:
    async def test_a_client_error_is_stored_and_replayed(self, h: Harness) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h, rupees=0)
        booking_id = await seed_booking(h, shipper.user_id)
        first = await post_bid_with_key(h, operator, booking_id, "no-money")
        assert first.status_code == 422, first.text

        await fund_operator(h, operator.user_id, 1000)
        retry = await post_bid_with_key(h, operator, booking_id, "no-money")

        assert (retry.status_code, retry.json()) == (422, first.json())
        assert is_replay(retry)
        assert await bid_rows(h) == [] and await fee_entries(h, operator.user_id) == []
        assert await stored_balance(h, operator.user_id) == FUNDED_PAISE
        [record] = await records(h)
        assert (record["state"], record["response_status"]) == ("COMPLETED", 422)

    @pytest.mark.parametrize(
        ("failure", "status"), [(RuntimeError("database went away"), 500), (ServiceUnavailable(), 503)]
    )
    async def test_a_server_error_releases_the_key(
        self, h: Harness, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
    ) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)

        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise failure

        monkeypatch.setattr(BidService, "create_bid", fail)
        failed = await post_bid_with_key(h, operator, booking_id, "retry-me")
        assert failed.status_code == status, failed.text
        assert await records(h) == []

        monkeypatch.undo()
        retry = await post_bid_with_key(h, operator, booking_id, "retry-me")
        assert retry.status_code == 201, retry.text
        assert not is_replay(retry)
        [bid] = await bid_rows(h)
        assert bid["id"] == retry.json()["id"]
        assert len(await fee_entries(h, operator.user_id)) == 1
        [record] = await records(h)
        assert (record["state"], record["response_status"]) == ("COMPLETED", 201)

    async def test_a_record_replays_for_24_hours_then_the_key_runs_again(self, h: Harness) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h, rupees=0)
        booking_id = await seed_booking(h, shipper.user_id, window=timedelta(hours=48))
        first = await post_bid_with_key(h, operator, booking_id, "daily")
        assert first.status_code == 422, first.text
        [first_record] = await records(h)
        await fund_operator(h, operator.user_id, 1000)

        h.clock.advance(hours=23, minutes=59)
        operator = await refreshed(h, operator)
        almost = await post_bid_with_key(h, operator, booking_id, "daily")
        assert (almost.status_code, is_replay(almost)) == (422, True)

        h.clock.advance(minutes=2)  # 24 h + 1 min after the first request
        operator = await refreshed(h, operator)
        again = await post_bid_with_key(h, operator, booking_id, "daily")

        assert again.status_code == 201, again.text
        assert not is_replay(again)
        [bid] = await bid_rows(h)
        assert bid["id"] == again.json()["id"]
        [record] = await records(h)
        assert record["id"] != first_record["id"]
        assert (record["state"], record["response_status"]) == ("COMPLETED", 201)
        assert record["expires_at"] == h.clock.now() + timedelta(hours=24)

    async def test_a_retry_while_the_first_runs_is_told_to_wait(
        self, h: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)
        started, proceed = asyncio.Event(), asyncio.Event()
        create_bid = BidService.create_bid

        async def held(self: BidService, *args: Any, **kwargs: Any) -> Any:
            started.set()
            await proceed.wait()
            return await create_bid(self, *args, **kwargs)

        monkeypatch.setattr(BidService, "create_bid", held)
        first = asyncio.create_task(post_bid_with_key(h, operator, booking_id, "slow"))
        await asyncio.wait_for(started.wait(), timeout=10)

        try:  # bounded waits: without the middleware these would queue behind the held bid
            waiting = await asyncio.wait_for(post_bid_with_key(h, operator, booking_id, "slow"), 10)
            reused = await asyncio.wait_for(
                post_bid_with_key(h, operator, booking_id, "slow", amount=13_000), 10
            )
        finally:
            proceed.set()
        done = await first
        replayed = await post_bid_with_key(h, operator, booking_id, "slow")

        body = assert_error(waiting, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert body["message"].startswith("A request with this Idempotency-Key is still being processed")
        assert waiting.headers["retry-after"] == "1"
        assert_error(reused, 409, "IDEMPOTENCY_KEY_REUSED")
        assert done.status_code == 201, done.text
        assert (replayed.status_code, replayed.json(), is_replay(replayed)) == (201, done.json(), True)
        assert len(await bid_rows(h)) == 1 and len(await fee_entries(h, operator.user_id)) == 1


class TestStoredBody:
    async def test_a_one_time_secret_is_stored_encrypted_and_replayed(self, h: Harness) -> None:
        admin = await admin_session(h)
        body = {"url": "https://partner.example.com/hooks/rodistaa", "events": ["booking.created"]}
        headers = {**admin.headers, "Idempotency-Key": "register-partner"}

        first = await h.client.post(REGISTER, json=body, headers=headers)
        retry = await h.client.post(REGISTER, json=body, headers=headers)

        assert first.status_code == 201, first.text
        assert (retry.status_code, retry.json(), is_replay(retry)) == (201, first.json(), True)
        secret, webhook_id = first.json()["secret"], first.json()["id"]
        assert [s["id"] for s in await subscription_rows(h)] == [webhook_id]
        [record] = await records(h)
        stored = json.dumps({k: str(v) for k, v in record.items()})
        assert secret not in stored and webhook_id not in stored
        # Sealed with the admin's own data key and bound to this record.
        services = h.app.state.services
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, admin.user_id)
        sealed = base64.b64decode(record["response_body_ciphertext"])
        assert decrypt(key, sealed, f"idempotency:{record['id']}:response".encode()) == first.content


class TestHeaderAndCredentials:
    @pytest.mark.parametrize("key", ["", "k" * 256, "clé".encode(), b"tab\tkey", b"line\x7fdel"], ids=repr)
    async def test_an_invalid_key_is_refused_naming_the_header(self, h: Harness, key: str | bytes) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)

        response = await post_bid_with_key(h, operator, booking_id, key)

        body = assert_error(response, 400, "VALIDATION_ERROR")
        assert body["details"]["field"] == "header.Idempotency-Key"
        assert [f["field"] for f in body["details"]["fields"]] == ["header.Idempotency-Key"]
        assert await bid_rows(h) == [] and await records(h) == []

    async def test_a_key_sent_twice_is_refused(self, h: Harness) -> None:
        operator = await funded_operator(h)
        headers = [*operator.headers.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
        response = await h.client.post("/v1/bids", json={"bookingId": "x", "amount": 1}, headers=headers)
        assert assert_error(response, 400, "VALIDATION_ERROR")["details"]["field"] == "header.Idempotency-Key"

    async def test_the_longest_key_and_every_printable_character_are_accepted(self, h: Harness) -> None:
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)
        printable = "".join(chr(c) for c in range(0x21, 0x7F))
        key = (printable * 3)[:255]

        first = await post_bid_with_key(h, operator, booking_id, key)
        retry = await post_bid_with_key(h, operator, booking_id, key)

        assert first.status_code == 201, first.text
        assert (retry.json(), is_replay(retry)) == (first.json(), True)
        assert [r["idempotency_key"] for r in await records(h)] == [key]

    @pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
    async def test_without_valid_credentials_the_key_is_ignored_and_the_route_answers(
        self, h: Harness, authorization: str | None
    ) -> None:
        headers = {"Idempotency-Key": "anon"}
        if authorization:
            headers["Authorization"] = authorization
        for _ in range(2):
            response = await h.client.post("/v1/bids", json={"bookingId": "x", "amount": 1}, headers=headers)
            assert_error(response, 401, "UNAUTHORIZED")
            assert not is_replay(response)
        assert await records(h) == []

    async def test_auth_routes_ignore_the_key(self, h: Harness) -> None:
        mobile = "+919377000001"  # a block no other module uses
        headers = {"Idempotency-Key": "login-code", "Authorization": "Bearer stale-token"}
        for _ in range(2):
            response = await h.client.post("/v1/auth/otp", json={"mobile": mobile}, headers=headers)
            assert response.status_code == 200, response.text
            assert not is_replay(response)
        assert [to for to, _ in h.sms.sent] == [mobile, mobile]
        assert await records(h) == []

    async def test_an_oversized_body_is_refused_before_anything_is_claimed(self, h: Harness) -> None:
        operator = await funded_operator(h)
        limit = h.settings.max_json_body_bytes

        async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"bookingId": "' + b"x" * limit
            yield b'"}'

        headers = {**operator.headers, "Idempotency-Key": "huge", "Content-Type": "application/json"}
        response = await h.client.post("/v1/bids", content=streamed(), headers=headers)

        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert await records(h) == []

"""Idempotent POSTs: claim a key, replay its stored response, or refuse a conflicting use.

Invariants:
* A key belongs to a principal (`user:<id>`, or `apikey:<id>` for a partner key), never to a
  token: a retry after a token refresh is the same principal and is recognised.
* One (principal, key) pair has at most one record; the unique constraint, not a read, decides
  which of two concurrent first requests runs the route.
* A record replays only to a request with the same fingerprint (method, path with query, exact
  body bytes) and only until `expires_at`; an expired record is replaced by a new claim.
* Stored bodies are encrypted with the data key of the user behind the principal, the
  associated data binding each ciphertext to its record.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.http.services import Services
from rodistaa.idempotency import repo
from rodistaa.idempotency.errors import (
    MAX_KEY_LENGTH,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from rodistaa.idempotency.repo import IdempotencyRecord, NewClaim, RecordState
from rodistaa.security.envelope import decrypt, encrypt

_PRINTABLE_ASCII = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")
# Only these describe the stored body; everything else (request id, security headers, CORS)
# is added again by the outer middleware on every answer, replays included.
REPLAYED_HEADERS = ("content-type", "location")
# Answers about the request's credentials or timing, not its outcome: a retry may differ.
_NOT_STORED_4XX = frozenset({401, 429})


def parse_key(values: list[bytes]) -> str:
    """The `Idempotency-Key` header's value; InvalidIdempotencyKey unless it was sent once
    with 1 to 255 printable ASCII characters."""
    if len(values) != 1:
        raise InvalidIdempotencyKey()
    try:
        key = values[0].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidIdempotencyKey() from None
    if not _PRINTABLE_ASCII.fullmatch(key):
        raise InvalidIdempotencyKey()
    return key


def principal_of(actor: Actor) -> str:
    return f"apikey:{actor.api_key_id}" if actor.api_key_id else f"user:{actor.user_id}"


def fingerprint(method: str, target: bytes, body: bytes) -> str:
    """SHA-256 over method, path with query, and body. Neither the method nor the target can
    hold a newline, so the separators make the encoding unambiguous."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode("ascii") + b"\n" + target + b"\n")
    digest.update(body)
    return digest.hexdigest()


def is_decided(status: int) -> bool:
    """Whether an answer is stored and replayed: success and the client's own errors are;
    5xx (a retry may succeed), 401 and 429 release the key instead."""
    return status < 500 and status not in _NOT_STORED_4XX


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    method: str
    path: str
    request_hash: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """The right to run the route for a key. `user_id` owns the data key sealing the body."""

    record_id: str
    user_id: str


def _associated_data(record_id: str) -> bytes:
    return f"idempotency:{record_id}:response".encode()


class IdempotencyService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock
        self._data_keys = services.data_keys
        self._ttl = timedelta(hours=services.settings.idempotency_ttl_hours)

    async def begin(self, actor: Actor, request: IdempotentRequest) -> Claim | StoredResponse:
        """A Claim when this request must run the route, or the stored response to replay.
        Raises IdempotencyKeyReused (another fingerprint) and IdempotencyKeyInUse (the first
        request is still running, or released its claim a moment ago)."""
        principal = principal_of(actor)
        now = self._clock.now()
        claim = NewClaim(
            id=new_id("IDEM"),
            principal=principal,
            idempotency_key=request.key,
            method=request.method,
            path=request.path,
            request_hash=request.request_hash,
            created_at=now,
            expires_at=now + self._ttl,
        )
        async with self._db.transaction() as conn:
            existing = await repo.get(conn, principal, request.key)
            if existing is not None and existing.expires_at <= now:
                await repo.delete_expired(conn, existing.id, now=now)
                existing = None
            if existing is None:
                if await repo.insert_claim(conn, claim):
                    return Claim(claim.id, actor.user_id)
                existing = await repo.get(conn, principal, request.key)
        if existing is None:  # the winner of the race released its claim in between
            raise IdempotencyKeyInUse()
        return await self._stored(actor, existing, request.request_hash)

    async def _stored(self, actor: Actor, record: IdempotencyRecord, request_hash: str) -> StoredResponse:
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused()
        if record.state is not RecordState.COMPLETED:
            raise IdempotencyKeyInUse()
        assert record.response_status is not None and record.response_body_ciphertext is not None
        async with self._db.read() as conn:
            key = await self._data_keys.for_reading(conn, actor.user_id)
        body = decrypt(key, base64.b64decode(record.response_body_ciphertext), _associated_data(record.id))
        return StoredResponse(record.response_status, record.response_headers, body)

    async def complete(self, claim: Claim, response: StoredResponse) -> bool:
        """Store a decided response under the claim; False if the claim was purged meanwhile
        (the response is then simply not replayable)."""
        headers = {name: value for name, value in response.headers.items() if name in REPLAYED_HEADERS}
        async with self._db.transaction() as conn:
            key = await self._data_keys.for_writing(conn, claim.user_id, now=self._clock.now())
            sealed = encrypt(key, response.body, _associated_data(claim.record_id))
            return await repo.complete(
                conn,
                claim.record_id,
                status=response.status,
                headers=headers,
                body_ciphertext=base64.b64encode(sealed).decode("ascii"),
            )

    async def release(self, claim: Claim) -> None:
        """Forget the claim of a request that failed, so the client may retry with its key."""
        async with self._db.transaction() as conn:
            await repo.release(conn, claim.record_id)

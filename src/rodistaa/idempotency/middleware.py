"""ASGI middleware making credentialed POSTs under `/v1` idempotent with `Idempotency-Key`.

It sits inside `RequestContextMiddleware` (replays carry a request id and are access-logged)
and inside the body-size limit (the body it buffers for the fingerprint is already bounded).
For a POST with credentials and the header it: authenticates the caller (a credential that
does not authenticate is passed on untouched, so the route answers 401/403 itself and nothing
is stored for it); validates the key; buffers the body; claims the key or answers from the
stored record; runs the route with the buffered body; and stores the decided response before
sending it, so a retry that arrives after the client saw the answer finds it stored.

Not covered (the header is ignored): requests without credentials (nothing to scope the key
by: the payment provider's signed webhook dedupes by provider reference), and `/v1/auth/*`
(they create or end credentials; their answers hold tokens that must never be stored).
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rodistaa.core.actor import Actor
from rodistaa.core.errors import AppError
from rodistaa.http.auth import authenticate_any
from rodistaa.http.errors import error_response
from rodistaa.http.services import services_of
from rodistaa.idempotency.service import (
    Claim,
    IdempotencyService,
    IdempotentRequest,
    StoredResponse,
    fingerprint,
    is_decided,
    parse_key,
)

log = structlog.get_logger("rodistaa.idempotency")

_KEY_HEADER = b"idempotency-key"
REPLAYED_HEADER = (b"idempotent-replayed", b"true")
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})
_EXCLUDED_PREFIXES = ("/v1/auth/",)


def _applies(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    path: str = scope["path"]
    if not path.startswith("/v1/") or path.startswith(_EXCLUDED_PREFIXES):
        return False
    names = {name for name, _ in scope["headers"]}
    return _KEY_HEADER in names and not names.isdisjoint(_CREDENTIAL_HEADERS)


def _target(scope: Scope) -> bytes:
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return path + b"?" + query if query else path


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away before sending it all (a
    fingerprint of part of a body would refuse the client's complete retry as a reuse)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """Hands the buffered body to the route once, then the client's own messages
    (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _CapturedResponse:
    """The route's response, held back until the record is stored."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.complete = not message.get("more_body", False)

    def stored(self) -> StoredResponse:
        assert self.status is not None
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.headers}
        return StoredResponse(self.status, headers, b"".join(self.chunks))

    async def deliver(self, send: Send) -> None:
        if self.status is None:  # the route sent nothing: neither can we
            return
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"".join(self.chunks), "more_body": False})


async def _send_error(scope: Scope, receive: Receive, send: Send, exc: AppError) -> None:
    response = error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    await response(scope, receive, send)


async def _send_replay(send: Send, stored: StoredResponse) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in stored.headers.items()]
    headers.append((b"content-length", str(len(stored.body)).encode()))
    headers.append(REPLAYED_HEADER)
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _applies(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        services = services_of(request)
        try:
            actor = await authenticate_any(request, services)
        except AppError:
            await self.app(scope, receive, send)
            return
        await self._idempotent(scope, receive, send, actor, IdempotencyService(services))

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, actor: Actor, service: IdempotencyService
    ) -> None:
        try:
            key = parse_key([value for name, value in scope["headers"] if name == _KEY_HEADER])
        except AppError as exc:
            await _send_error(scope, receive, send, exc)
            return
        body = await _read_body(receive)
        if body is None:
            return
        request = IdempotentRequest(key, "POST", scope["path"], fingerprint("POST", _target(scope), body))
        try:
            outcome = await service.begin(actor, request)
        except AppError as exc:
            await _send_error(scope, receive, send, exc)
            return
        if isinstance(outcome, StoredResponse):
            await _send_replay(send, outcome)
            return
        await self._run_claimed(scope, _replaying(body, receive), send, service, outcome)

    async def _run_claimed(
        self, scope: Scope, receive: Receive, send: Send, service: IdempotencyService, claim: Claim
    ) -> None:
        captured = _CapturedResponse()
        try:
            await self.app(scope, receive, captured.send)
        except Exception:
            await service.release(claim)
            raise
        if captured.complete and captured.status is not None and is_decided(captured.status):
            await self._store(service, claim, captured)
        else:
            await service.release(claim)
        await captured.deliver(send)

    async def _store(self, service: IdempotencyService, claim: Claim, captured: _CapturedResponse) -> None:
        """The route's work is committed whatever happens here: if storing fails the client still
        gets the real answer, and the claim stays IN_PROGRESS (retries get 409 IN_USE until it
        expires) rather than being released into a second execution."""
        try:
            await service.complete(claim, captured.stored())
        except Exception as exc:
            log.warning("idempotency_store_failed", record_id=claim.record_id, error=type(exc).__name__)

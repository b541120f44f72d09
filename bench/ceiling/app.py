"""The ceiling: the least an API request that writes can cost on this machine. One raw ASGI app,
served by the same Uvicorn (uvloop, httptools, same worker count) on the same PostgreSQL through
the same engine settings as the service (`rodistaa.db.engine.create_engine`), doing one INSERT
per request and answering a small JSON body. No framework, validation, authentication, rate
limit, ACS or audit: what remains is HTTP parsing, one pooled transaction and the response.

    CEILING_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/rodistaa_load \
    .venv/bin/python -m uvicorn bench.ceiling.app:create_app --factory --workers 2 \
        --loop uvloop --http httptools --no-access-log --port 8200

`POST /v1/ceiling` stores the body's `reference` and the raw body; `GET /health` answers 200.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from rodistaa.db.engine import create_engine

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS ceiling_rows (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)
"""
INSERT = text(
    "INSERT INTO ceiling_rows (id, reference, body, created_at) VALUES (:id, :reference, :body, :at)"
)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def create_app() -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    engine = create_engine(os.environ["CEILING_DATABASE_URL"])

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                async with engine.begin() as conn:
                    await conn.execute(text(CREATE_TABLE))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await engine.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["method"] == "GET" and scope["path"] == "/health":
            await _answer(send, 200, {"status": "ok"})
            return
        if scope["method"] != "POST" or scope["path"] != "/v1/ceiling":
            await _answer(send, 404, {"code": "NOT_FOUND"})
            return
        raw = await _read_body(receive)
        try:
            reference = str(json.loads(raw)["reference"])
        except (ValueError, KeyError, TypeError):
            await _answer(send, 400, {"code": "VALIDATION_ERROR"})
            return
        row_id = uuid.uuid4().hex
        async with engine.begin() as conn:
            await conn.execute(
                INSERT, {"id": row_id, "reference": reference, "body": raw.decode(), "at": datetime.now(UTC)}
            )
        await _answer(send, 201, {"id": row_id})

    return app

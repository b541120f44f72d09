"""All SQL of partner API keys. The stored hash is read only by `get_credential` (the
authentication path); every other read leaves it out, so it cannot reach a response."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import person_blocked, person_suspended
from rodistaa.apikeys.tables import api_keys
from rodistaa.db.tables import users

# Every column but `secret_hash`.
_PUBLIC_COLUMNS = [c for c in api_keys.c if c.name != "secret_hash"]


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    owner_user_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    rotated_to: str | None

    def is_live(self, now: datetime) -> bool:
        """Not revoked and not expired (a rotated key stays live until its shortened expiry)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Credential:
    """What authentication needs: the key, its hash, and its owner's standing right now."""

    key: ApiKeyRecord
    secret_hash: str
    owner_role: str
    owner_status: str
    owner_blocked: bool
    owner_suspended: bool


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(json.loads(row.scopes)),
        owner_user_id=row.owner_user_id,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        rotated_to=row.rotated_to,
    )


async def insert_key(
    conn: AsyncConnection,
    *,
    key_id: str,
    name: str,
    prefix: str,
    secret_hash: str,
    scopes: Sequence[str],
    owner_user_id: str,
    created_by: str,
    expires_at: datetime,
    now: datetime,
) -> ApiKeyRecord:
    record = ApiKeyRecord(
        id=key_id,
        name=name,
        prefix=prefix,
        scopes=tuple(scopes),
        owner_user_id=owner_user_id,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
        last_used_at=None,
        revoked_at=None,
        revoked_by=None,
        rotated_to=None,
    )
    await conn.execute(
        api_keys.insert().values(
            id=key_id,
            name=name,
            prefix=prefix,
            secret_hash=secret_hash,
            scopes=json.dumps(list(scopes)),
            owner_user_id=owner_user_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return record


async def get_by_id(conn: AsyncConnection, key_id: str) -> ApiKeyRecord | None:
    row = (await conn.execute(select(*_PUBLIC_COLUMNS).where(api_keys.c.id == key_id))).first()
    return _record(row) if row is not None else None


async def list_keys(
    conn: AsyncConnection, *, owner_user_id: str | None, offset: int, limit: int
) -> tuple[list[ApiKeyRecord], int]:
    query = select(*_PUBLIC_COLUMNS)
    if owner_user_id is not None:
        query = query.where(api_keys.c.owner_user_id == owner_user_id)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(
        query.order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc()).offset(offset).limit(limit)
    )
    return [_record(r) for r in rows], int(total)


async def get_credential(conn: AsyncConnection, prefix: str, *, now: datetime) -> Credential | None:
    """The key with this prefix and its owner's role, status and any active ACS or admin block
    or suspension, in one query (it runs on every request made with a key)."""
    query = (
        select(
            *_PUBLIC_COLUMNS,
            api_keys.c.secret_hash,
            users.c.role.label("owner_role"),
            users.c.status.label("owner_status"),
            person_blocked(users.c.id, now).label("owner_blocked"),
            person_suspended(users.c.id, now).label("owner_suspended"),
        )
        .join(users, users.c.id == api_keys.c.owner_user_id)
        .where(api_keys.c.prefix == prefix)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Credential(
        key=_record(row),
        secret_hash=row.secret_hash,
        owner_role=row.owner_role,
        owner_status=row.owner_status,
        owner_blocked=bool(row.owner_blocked),
        owner_suspended=bool(row.owner_suspended),
    )


async def revoke(conn: AsyncConnection, key_id: str, *, revoked_by: str, now: datetime) -> bool:
    """Claim the revocation (`revoked_at IS NULL`): of two concurrent revocations one records
    who revoked and when, and only that one is audited."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=revoked_by)
    )
    return result.rowcount == 1


def _rotatable(now: datetime) -> ColumnElement[bool]:
    return (
        api_keys.c.rotated_to.is_(None)
        & api_keys.c.revoked_at.is_(None)
        & or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now)
    )


async def claim_rotation(
    conn: AsyncConnection, key_id: str, *, successor_id: str, expires_at: datetime, now: datetime
) -> bool:
    """Point the key at its successor and shorten its expiry, only if it is still rotatable.
    The conditional UPDATE is the claim that keeps two concurrent rotations of one key from
    both succeeding: on PostgreSQL the second waits for the first's row lock, re-reads the row
    and matches nothing; SQLite runs write transactions one at a time."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, _rotatable(now))
        .values(rotated_to=successor_id, expires_at=expires_at)
    )
    return result.rowcount == 1


async def touch_last_used(
    conn: AsyncConnection, key_id: str, *, now: datetime, min_interval: timedelta
) -> bool:
    """Record a use unless one was recorded less than `min_interval` ago: a busy partner
    writes once per interval, not once per request, and concurrent requests write once."""
    result = await conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < now - min_interval),
        )
        .values(last_used_at=now)
    )
    return result.rowcount == 1

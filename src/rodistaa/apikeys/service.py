"""Partner API key use cases: create, list, read, revoke, rotate (ADMIN), and authenticate a
presented key (every partner request).

A key acts as its owner user limited to its scopes, so every ownership rule of the routes
applies to it unchanged. Creation, revocation and rotation are audited last in their
transaction with ids, the public prefix and scopes only, never the key or its hash. The key is
returned once, by create and rotate.

Authentication refuses every bad key with the same 401 (unknown prefix, wrong secret, revoked,
expired, owner not ACTIVE or blocked/suspended), and reads the row on every request, so a
revocation takes effect on the next request on every instance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.apikeys import keys, repo
from rodistaa.apikeys.errors import ApiKeyNotFound, ApiKeyNotRotatable
from rodistaa.apikeys.repo import ApiKeyRecord, Credential
from rodistaa.apikeys.schemas import ApiKeyCreate
from rodistaa.apikeys.scopes import OWNER_ROLES, SCOPE_OWNER_ROLES, Scope
from rodistaa.core.actor import Actor
from rodistaa.core.errors import Unauthorized, ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role, UserStatus
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.users import repo as users_repo

ID_PREFIX = "APK"
# `last_used_at` is written at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _audit_data(record: ApiKeyRecord) -> dict[str, object]:
    return {
        "prefix": keys.public_prefix(record.prefix),
        "scopes": list(record.scopes),
        "ownerUserId": record.owner_user_id,
        "expiresAt": record.expires_at.isoformat() if record.expires_at else None,
    }


def _granted_scopes(requested: list[Scope], owner_role: Role) -> list[str]:
    """The requested scopes without duplicates, in order; 400 on `scopes` for one the owner's
    role cannot use."""
    scopes = list(dict.fromkeys(requested))
    refused = [s.value for s in scopes if owner_role not in SCOPE_OWNER_ROLES[s]]
    if refused:
        error = f"{', '.join(refused)} cannot be granted to a key owned by a {owner_role.value}"
        raise ValidationFailed.for_field("scopes", error)
    return [s.value for s in scopes]


def _usable(credential: Credential, now: datetime) -> bool:
    return (
        credential.key.is_live(now)
        and credential.owner_status == UserStatus.ACTIVE.value
        and not credential.owner_blocked
        and not credential.owner_suspended
    )


class ApiKeyService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock
        self._settings = services.settings
        self._hmac_key = services.settings.hmac_key.encode()

    @property
    def _max_ttl(self) -> timedelta:
        return timedelta(days=self._settings.api_key_max_ttl_days)

    # --- administration ------------------------------------------------------------------------

    async def create(self, actor: Actor, body: ApiKeyCreate) -> tuple[ApiKeyRecord, str]:
        """The new key's record and the key itself (shown once). 400 naming `ownerUserId` (not
        an active SHIPPER, OPERATOR or ADMIN), `scopes` (one the owner's role cannot use) or
        `expiresAt` (not in the future, or beyond API_KEY_MAX_TTL_DAYS)."""
        now = self._clock.now()
        expires_at = self._expiry(body.expiresAt, now)
        new = keys.new_key()
        async with self._db.transaction() as conn:
            owner_role = await self._owner_role(conn, body.ownerUserId)
            record = await repo.insert_key(
                conn,
                key_id=new_id(ID_PREFIX),
                name=body.name,
                prefix=new.prefix,
                secret_hash=keys.key_hash(self._hmac_key, new.key),
                scopes=_granted_scopes(body.scopes, owner_role),
                owner_user_id=body.ownerUserId,
                created_by=actor.user_id,
                expires_at=expires_at,
                now=now,
            )
            draft = AuditEntryDraft(
                actor.user_id, "api_key.created", "api_key", record.id, _audit_data(record)
            )
            await append(conn, draft, now=now)
        return record, new.key

    def _expiry(self, requested: datetime | None, now: datetime) -> datetime:
        latest = now + self._max_ttl
        if requested is None:
            return latest  # no eternal keys
        if requested <= now:
            raise ValidationFailed.for_field("expiresAt", "must be in the future")
        if requested > latest:
            days = self._settings.api_key_max_ttl_days
            raise ValidationFailed.for_field("expiresAt", f"must be at most {days} days ahead")
        return requested.astimezone(UTC)

    async def _owner_role(self, conn: AsyncConnection, owner_user_id: str) -> Role:
        owner = await users_repo.get_by_id(conn, owner_user_id)
        if owner is None:
            raise ValidationFailed.for_field("ownerUserId", "no such user")
        if owner.role not in OWNER_ROLES:
            raise ValidationFailed.for_field("ownerUserId", "must be a SHIPPER, OPERATOR or ADMIN")
        if owner.status is not UserStatus.ACTIVE:
            raise ValidationFailed.for_field("ownerUserId", "must be an active user")
        return owner.role

    async def list_keys(
        self, *, owner_user_id: str | None, page: PageRequest
    ) -> tuple[list[ApiKeyRecord], int]:
        """Newest first."""
        async with self._db.read() as conn:
            return await repo.list_keys(
                conn, owner_user_id=owner_user_id, offset=page.offset, limit=page.limit
            )

    async def get(self, key_id: str) -> ApiKeyRecord:
        """404 for an unknown key."""
        async with self._db.read() as conn:
            record = await repo.get_by_id(conn, key_id)
        if record is None:
            raise ApiKeyNotFound()
        return record

    async def revoke(self, actor: Actor, key_id: str) -> ApiKeyRecord:
        """The key, revoked from now on. Idempotent: revoking a revoked key answers it as it
        is (first revocation's time and admin) and audits nothing. 404 for an unknown key."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            revoked_now = await repo.revoke(conn, key_id, revoked_by=actor.user_id, now=now)
            record = await repo.get_by_id(conn, key_id)
            if record is None:
                raise ApiKeyNotFound()
            if revoked_now:
                draft = AuditEntryDraft(
                    actor.user_id, "api_key.revoked", "api_key", key_id, _audit_data(record)
                )
                await append(conn, draft, now=now)
        return record

    async def rotate(
        self, actor: Actor, key_id: str, *, overlap_minutes: int | None
    ) -> tuple[ApiKeyRecord, str]:
        """A successor with the same name, owner and scopes and a lifetime as long as the old
        key's (at most API_KEY_MAX_TTL_DAYS); the old key keeps working until min(its expiry,
        now + overlap) and names its successor in `rotatedTo`. 404 unknown key; 409
        INVALID_STATE for a revoked, expired or already rotated key (the claim decides between
        concurrent rotations)."""
        now = self._clock.now()
        overlap = timedelta(
            minutes=self._settings.api_key_rotation_overlap_minutes
            if overlap_minutes is None
            else overlap_minutes
        )
        new = keys.new_key()
        successor_id = new_id(ID_PREFIX)
        async with self._db.transaction() as conn:
            old = await repo.get_by_id(conn, key_id)
            if old is None:
                raise ApiKeyNotFound()
            old_expires_at = min(old.expires_at, now + overlap) if old.expires_at else now + overlap
            claimed = await repo.claim_rotation(
                conn, key_id, successor_id=successor_id, expires_at=old_expires_at, now=now
            )
            if not claimed:
                raise ApiKeyNotRotatable()
            lifetime = old.expires_at - old.created_at if old.expires_at else self._max_ttl
            successor = await repo.insert_key(
                conn,
                key_id=successor_id,
                name=old.name,
                prefix=new.prefix,
                secret_hash=keys.key_hash(self._hmac_key, new.key),
                scopes=old.scopes,
                owner_user_id=old.owner_user_id,
                created_by=actor.user_id,
                expires_at=now + min(lifetime, self._max_ttl),
                now=now,
            )
            data = {
                **_audit_data(successor),
                "previousKeyId": old.id,
                "previousPrefix": keys.public_prefix(old.prefix),
                "previousExpiresAt": old_expires_at.isoformat(),
            }
            await append(
                conn, AuditEntryDraft(actor.user_id, "api_key.rotated", "api_key", old.id, data), now=now
            )
        return successor, new.key

    # --- authentication ------------------------------------------------------------------------

    async def authenticate(self, presented: str) -> Actor:
        """The owner, acting through this key with its scopes. 401 UNAUTHORIZED, the same for
        every reason, when the key is malformed, unknown, wrong, revoked or expired, or its
        owner is not ACTIVE or is blocked or suspended."""
        prefix = keys.prefix_of(presented)
        if prefix is None:
            raise Unauthorized()
        now = self._clock.now()
        async with self._db.read() as conn:
            credential = await repo.get_credential(conn, prefix, now=now)
        if credential is None or not keys.matches(self._hmac_key, presented, credential.secret_hash):
            raise Unauthorized()
        if not _usable(credential, now):
            raise Unauthorized()
        await self._record_use(credential.key, now)
        key = credential.key
        return Actor(
            user_id=key.owner_user_id,
            role=Role(credential.owner_role),
            session_id=key.id,  # a key has no session; its id plays that part in traces
            api_key_id=key.id,
            scopes=frozenset(key.scopes),
        )

    async def _record_use(self, key: ApiKeyRecord, now: datetime) -> None:
        # Checked first on the row just read, so most requests open no write transaction (on
        # SQLite every write transaction takes the database's write lock).
        if key.last_used_at is not None and key.last_used_at >= now - LAST_USED_RESOLUTION:
            return
        async with self._db.transaction() as conn:
            await repo.touch_last_used(conn, key.id, now=now, min_interval=LAST_USED_RESOLUTION)

"""User use cases: profile, staff creation by admins (and by the CLI for the first admin)."""

from __future__ import annotations

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.actor import Actor
from rodistaa.core.clock import Clock
from rodistaa.core.errors import NotFound
from rodistaa.core.ids import new_user_id
from rodistaa.core.roles import Role
from rodistaa.db.engine import Database
from rodistaa.http.pagination import PageRequest
from rodistaa.users import repo
from rodistaa.users.errors import MobileTaken
from rodistaa.users.repo import MobileAlreadyRegistered, UserRecord


class UserService:
    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get_profile(self, actor: Actor) -> UserRecord:
        async with self._db.read() as conn:
            user = await repo.get_by_id(conn, actor.user_id)
        if user is None:
            raise NotFound()
        return user

    async def create_user(
        self, *, mobile: str, name: str, role: Role, email: str | None, created_by: str
    ) -> UserRecord:
        """Accounts made by someone else: staff by an admin, the first admin by the CLI."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            try:
                user = await repo.insert(
                    conn,
                    user_id=new_user_id(role.value),
                    mobile=mobile,
                    name=name,
                    email=email,
                    role=role,
                    created_by=created_by,
                    now=now,
                )
            except MobileAlreadyRegistered as exc:
                raise MobileTaken() from exc
            draft = AuditEntryDraft(created_by, "user.created", "user", user.id, {"role": role.value})
            await append(conn, draft, now=now)
        return user

    async def list_users(self, *, role: Role | None, page: PageRequest) -> tuple[list[UserRecord], int]:
        async with self._db.read() as conn:
            return await repo.list_page(conn, role=role, offset=page.offset, limit=page.limit)

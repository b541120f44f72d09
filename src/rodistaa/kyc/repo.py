"""All SQL for KYC documents, and the duplicate-document fraud signals they raise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Exists

from rodistaa.acs.tables import tickets
from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.kyc.numbers import DocumentType
from rodistaa.kyc.tables import kyc_documents

PENDING, VERIFIED, REJECTED = "PENDING", "VERIFIED", "REJECTED"


@dataclass(frozen=True)
class KycDocument:
    id: str
    user_id: str
    document_type: DocumentType
    status: str
    number_ciphertext: str
    number_masked: str
    storage_key: str
    content_type: str
    size_bytes: int
    rejection_reason: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> KycDocument:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            document_type=DocumentType(row["document_type"]),
            status=row["status"],
            number_ciphertext=row["number_ciphertext"],
            number_masked=row["number_masked"],
            storage_key=row["storage_key"],
            content_type=row["content_type"],
            size_bytes=row["size_bytes"],
            rejection_reason=row["rejection_reason"],
            reviewed_by=row["reviewed_by"],
            reviewed_at=row["reviewed_at"],
            created_at=row["created_at"],
        )


def readable(actor: Actor) -> Select[Any]:
    """The documents `actor` may see: KYC admins all of them, everyone else only their own.
    Every read of documents on behalf of a caller starts here."""
    query = select(kyc_documents)
    if actor.role is Role.KYC_ADMIN:
        return query
    return query.where(kyc_documents.c.user_id == actor.user_id)


def _newer_of_same_type() -> Exists:
    """A newer upload of the same type by the same user exists (the document is superseded).
    Same order as `status.latest_statuses`: created_at, then id."""
    newer = kyc_documents.alias("newer")
    return exists().where(
        newer.c.user_id == kyc_documents.c.user_id,
        newer.c.document_type == kyc_documents.c.document_type,
        or_(
            newer.c.created_at > kyc_documents.c.created_at,
            and_(newer.c.created_at == kyc_documents.c.created_at, newer.c.id > kyc_documents.c.id),
        ),
    )


async def get_visible(conn: AsyncConnection, actor: Actor, kyc_id: str) -> KycDocument | None:
    row = (await conn.execute(readable(actor).where(kyc_documents.c.id == kyc_id))).mappings().first()
    return KycDocument.from_row(row) if row else None


async def list_for_owner(conn: AsyncConnection, actor: Actor) -> list[KycDocument]:
    """The caller's own documents, newest first (a KYC admin has none of their own)."""
    query = readable(actor).where(kyc_documents.c.user_id == actor.user_id)
    rows = (
        await conn.execute(query.order_by(kyc_documents.c.created_at.desc(), kyc_documents.c.id.desc()))
    ).mappings()
    return [KycDocument.from_row(row) for row in rows]


async def list_review_queue(
    conn: AsyncConnection,
    actor: Actor,
    *,
    document_type: DocumentType | None,
    offset: int,
    limit: int,
) -> tuple[list[KycDocument], int]:
    """PENDING documents awaiting review, oldest first. A pending document its owner has since
    replaced with a newer upload of the same type no longer decides anything, so it is left
    out rather than costing a reviewer's time."""
    conditions = [kyc_documents.c.status == PENDING, ~_newer_of_same_type()]
    if document_type is not None:
        conditions.append(kyc_documents.c.document_type == document_type.value)
    query = readable(actor).where(*conditions)
    rows = (
        await conn.execute(
            query.order_by(kyc_documents.c.created_at, kyc_documents.c.id).offset(offset).limit(limit)
        )
    ).mappings()
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    return [KycDocument.from_row(row) for row in rows], total


@dataclass(frozen=True)
class NewDocument:
    """A document ready to be recorded: number and file already encrypted."""

    id: str
    user_id: str
    document_type: DocumentType
    number_ciphertext: str
    number_masked: str
    number_hash: str
    storage_key: str
    content_type: str
    size_bytes: int


async def insert(conn: AsyncConnection, new: NewDocument, *, now: datetime) -> KycDocument:
    await conn.execute(
        kyc_documents.insert().values(
            id=new.id,
            user_id=new.user_id,
            document_type=new.document_type.value,
            status=PENDING,
            number_ciphertext=new.number_ciphertext,
            number_masked=new.number_masked,
            number_hash=new.number_hash,
            storage_key=new.storage_key,
            content_type=new.content_type,
            size_bytes=new.size_bytes,
            created_at=now,
            updated_at=now,
        )
    )
    return KycDocument(
        id=new.id,
        user_id=new.user_id,
        document_type=new.document_type,
        status=PENDING,
        number_ciphertext=new.number_ciphertext,
        number_masked=new.number_masked,
        storage_key=new.storage_key,
        content_type=new.content_type,
        size_bytes=new.size_bytes,
        rejection_reason=None,
        reviewed_by=None,
        reviewed_at=None,
        created_at=now,
    )


async def claim_review(
    conn: AsyncConnection,
    kyc_id: str,
    *,
    status: str,
    reviewer_id: str,
    reason: str | None,
    now: datetime,
) -> bool:
    """Move a PENDING document to `status`. The `status = 'PENDING'` condition is the claim:
    of a concurrent verify and reject (or two verifies) exactly one updates the row."""
    result = await conn.execute(
        update(kyc_documents)
        .where(kyc_documents.c.id == kyc_id, kyc_documents.c.status == PENDING)
        .values(
            status=status,
            rejection_reason=reason,
            reviewed_by=reviewer_id,
            reviewed_at=now,
            updated_at=now,
        )
    )
    return result.rowcount == 1


async def lock_number_hash(conn: AsyncConnection, number_hash: str) -> None:
    """Serialise uploads of the same number until commit, so two accounts uploading one document
    at the same moment still see each other. PostgreSQL: a transaction-scoped advisory lock on
    the hash (60 bits of it, inside bigint). SQLite: the write transaction already excludes
    every other writer."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(number_hash[:15], 16)})


async def other_owners_of_number(conn: AsyncConnection, number_hash: str, *, user_id: str) -> list[str]:
    """Users other than `user_id` with a document of the same number (the hash binds the type)."""
    rows = await conn.execute(
        select(kyc_documents.c.user_id)
        .where(kyc_documents.c.number_hash == number_hash, kyc_documents.c.user_id != user_id)
        .distinct()
        .order_by(kyc_documents.c.user_id)
    )
    return list(rows.scalars())


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def open_ticket(
    conn: AsyncConnection, *, team: str, summary: str, refs: list[str], now: datetime
) -> str:
    ticket_id = new_id("TKT")
    await conn.execute(
        tickets.insert().values(
            id=ticket_id,
            team=team,
            kind="MANUAL_REVIEW",
            summary=summary,
            refs=_json(refs),
            status="OPEN",
            created_at=now,
            updated_at=now,
        )
    )
    return ticket_id

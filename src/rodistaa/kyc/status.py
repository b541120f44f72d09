"""A user's KYC status (PRODUCT §4), aggregated from the latest document of each type."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.roles import Role
from rodistaa.kyc.tables import kyc_documents

NOT_SUBMITTED, PENDING, VERIFIED, REJECTED = "NOT_SUBMITTED", "PENDING", "VERIFIED", "REJECTED"
_PERSON = ("AADHAAR", "PAN")
REQUIRED_DOCUMENTS: Mapping[Role, tuple[str, ...]] = {
    Role.SHIPPER: _PERSON,
    Role.OPERATOR: _PERSON,
    Role.DRIVER: (*_PERSON, "LICENSE"),
}


def aggregate(role: Role, latest_by_type: Mapping[str, str]) -> str:
    """NOT_SUBMITTED with no document; REJECTED if any is rejected; VERIFIED when every
    required document is verified (staff roles need none); else PENDING."""
    required = REQUIRED_DOCUMENTS.get(role, ())
    if not required:
        return VERIFIED
    if not latest_by_type:
        return NOT_SUBMITTED
    if REJECTED in latest_by_type.values():
        return REJECTED
    if all(latest_by_type.get(doc) == VERIFIED for doc in required):
        return VERIFIED
    return PENDING


async def latest_statuses(conn: AsyncConnection, user_id: str) -> dict[str, str]:
    """The status of the newest document of each type the user uploaded."""
    rows = (
        await conn.execute(
            select(kyc_documents.c.document_type, kyc_documents.c.status)
            .where(kyc_documents.c.user_id == user_id)
            .order_by(kyc_documents.c.created_at, kyc_documents.c.id)
        )
    ).all()
    return {doc_type: status for doc_type, status in rows}  # later rows win


async def kyc_status(conn: AsyncConnection, user_id: str, role: Role) -> str:
    return aggregate(role, await latest_statuses(conn, user_id))

"""All SQL for proofs of delivery (`pods`) and the delivery facts ACS reads (RF07's hash index,
RF19's triad frequency). Shipment rows are read and moved through `shipments.repo`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import case, func, select, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.delivery.tables import pods
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import shipments


@dataclass(frozen=True)
class PodRecord:
    id: str
    shipment_id: str
    uploaded_by: str
    storage_key: str
    file_sha256: str
    size_bytes: int
    content_type: str
    metadata_timestamp: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> PodRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


async def insert_pod(conn: AsyncConnection, pod: PodRecord) -> None:
    await conn.execute(pods.insert().values(**asdict(pod)))


async def lock_file_hash(conn: AsyncConnection, file_sha256: str) -> None:
    """Serialise the recording of PODs with the same file until commit, so two uploads of one
    file to two shipments at the same moment still see each other (RF07). PostgreSQL: a
    transaction-scoped advisory lock on 60 bits of the hash; SQLite: the write transaction
    already excludes every other writer."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(file_sha256[:15], 16)})


async def hash_used_on(conn: AsyncConnection, file_sha256: str, *, shipment_id: str) -> str | None:
    """The shipment on which a POD with this hash was stored, preferring one other than
    `shipment_id` (the RF07 signal); None if the hash is new. One query on the hash index."""
    same_shipment_last = case((pods.c.shipment_id == shipment_id, 1), else_=0)
    query = (
        select(pods.c.shipment_id)
        .where(pods.c.file_sha256 == file_sha256)
        .order_by(same_shipment_last, pods.c.created_at)
        .limit(1)
    )
    found: str | None = (await conn.execute(query)).scalar()
    return found


async def list_pods(conn: AsyncConnection, shipment_id: str) -> list[PodRecord]:
    """Oldest first: the order the driver sent them."""
    rows = await conn.execute(
        select(pods).where(pods.c.shipment_id == shipment_id).order_by(pods.c.created_at, pods.c.id)
    )
    return [PodRecord.from_row(r) for r in rows.mappings()]


async def latest_pod(conn: AsyncConnection, shipment_id: str) -> PodRecord | None:
    row = (
        (
            await conn.execute(
                select(pods)
                .where(pods.c.shipment_id == shipment_id)
                .order_by(pods.c.created_at.desc(), pods.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return PodRecord.from_row(row) if row else None


async def get_pod(conn: AsyncConnection, pod_id: str) -> PodRecord | None:
    row = (await conn.execute(select(pods).where(pods.c.id == pod_id))).mappings().first()
    return PodRecord.from_row(row) if row else None


async def triad_frequency(
    conn: AsyncConnection, *, shipper_id: str, operator_id: str, driver_id: str, since: datetime
) -> int:
    """COMPLETED shipments of this shipper, operator and driver completed at or after `since`."""
    query = (
        select(func.count())
        .select_from(shipments)
        .where(
            shipments.c.shipper_id == shipper_id,
            shipments.c.operator_id == operator_id,
            shipments.c.driver_id == driver_id,
            shipments.c.status == ShipmentStatus.COMPLETED.value,
            shipments.c.completed_at >= since,
        )
    )
    return int((await conn.execute(query)).scalar_one())

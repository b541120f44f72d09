"""The transactional outbox (PRODUCT §10): a domain event is written in the transaction of the
change it announces, so it exists exactly when the change does; the webhook worker delivers it
after commit. Payloads hold ids, statuses and numbers that every subscriber may see."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import outbox_events
from rodistaa.core.ids import new_id


async def insert_outbox_event(
    conn: AsyncConnection, *, name: str, payload: Mapping[str, Any], now: datetime
) -> str:
    event_id = new_id("OBX")
    await conn.execute(
        outbox_events.insert().values(
            id=event_id,
            name=name,
            payload=json.dumps(dict(payload), sort_keys=True, separators=(",", ":")),
            source_event_id=None,
            rule_id=None,
            created_at=now,
        )
    )
    return event_id

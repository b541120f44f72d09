"""ACS state seeded straight into its tables, as a rule's effect or an earlier admin would have
left it, for tests of what the rest of the platform does with it."""

from __future__ import annotations

from typing import Any

from rodistaa.acs.tables import acs_blocks
from rodistaa.core.ids import new_id
from tests.conftest import Harness


async def insert_block(h: Harness, entity_type: str, entity_id: str, **columns: Any) -> str:
    """An active block (unless `columns` say otherwise); ACS-sourced when it names a rule,
    an admin's otherwise. Returns its id."""
    values: dict[str, Any] = {
        "id": new_id("BLK"),
        "entity_type": entity_type,
        "entity_id": entity_id,
        "reason": "Seeded block",
        "severity": "high",
        "source": "ACS" if columns.get("rule_id") else "ADMIN",
        "created_at": h.clock.now(),
        **columns,
    }
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(acs_blocks.insert().values(**values))
    return str(values["id"])

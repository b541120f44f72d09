"""Building the events services raise: the acting context ACS rules read as `ctx`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rodistaa.acs.engine import AcsEvent
from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role


def actor_ctx(actor: Actor, *, kyc_status: str, ip: str | None = None, **extra: Any) -> dict[str, Any]:
    """`ctx` as the reference bundle expects it: the role in lower case, the operator id for
    operators (their fleet's owner), the device of the session."""
    ctx: dict[str, Any] = {
        "userId": actor.user_id,
        "userRole": actor.role.acs_name,
        "userKycStatus": kyc_status,
        "operatorId": actor.user_id if actor.role is Role.OPERATOR else None,
        "deviceId": actor.device_id,
        "ip": ip,
    }
    ctx.update(extra)
    return ctx


def new_event(
    event_type: str, ctx: Mapping[str, Any], *, at: datetime, payload: Mapping[str, Any] | None = None
) -> AcsEvent:
    return AcsEvent(type=event_type, id=new_id("EVT"), at=at, ctx=dict(ctx), payload=dict(payload or {}))

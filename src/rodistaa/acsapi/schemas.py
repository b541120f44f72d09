"""API models of the ACS endpoints: the contract's shapes first, extras after."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from rodistaa.acs.bundle import Rule


class AcsRuleOut(BaseModel):
    id: str
    priority: int
    condition: str
    action: str  # the contract's field: the action names, comma-separated
    severity: str
    description: str
    actions: list[str]
    enabled: bool
    mode: str
    version: int
    events: list[str] | None
    tags: list[str]
    audit: bool

    @classmethod
    def of(cls, rule: Rule) -> AcsRuleOut:
        names = [action.name for action in rule.actions]
        return cls(
            id=rule.id,
            priority=rule.priority,
            condition=rule.condition.source,
            action=",".join(names),
            severity=rule.severity,
            description=rule.description,
            actions=names,
            enabled=rule.enabled,
            mode=rule.mode,
            version=rule.version,
            events=sorted(rule.events) if rule.events is not None else None,
            tags=list(rule.tags),
            audit=rule.audit,
        )


class StoredBlock(Protocol):
    """What a block row carries, whoever read it (ACS enforcement, the governance queue)."""

    @property
    def id(self) -> str: ...
    @property
    def entity_type(self) -> str: ...
    @property
    def entity_id(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def rule_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime | None: ...


class BlockEntryOut(BaseModel):
    id: str
    entityType: str
    entityId: str
    reason: str
    severity: str
    createdAt: datetime
    expiresAt: datetime | None
    source: str
    ruleId: str | None

    @classmethod
    def of(cls, block: StoredBlock) -> BlockEntryOut:
        return cls(
            id=block.id,
            entityType=block.entity_type,
            entityId=block.entity_id,
            reason=block.reason,
            severity=block.severity.upper(),
            createdAt=block.created_at,
            expiresAt=block.expires_at,
            source=block.source,
            ruleId=block.rule_id,
        )


class ReloadOut(BaseModel):
    ok: bool
    revision: str | None
    changed: bool
    errors: list[str]


class ReloadAttemptOut(BaseModel):
    attemptedAt: datetime
    ok: bool
    revision: str | None
    source: str
    actor: str
    errors: list[str]


class ActiveBundleOut(BaseModel):
    revision: str
    rules: int
    enabledRules: int
    lastReload: ReloadAttemptOut | None

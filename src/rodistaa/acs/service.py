"""The ACS service: evaluates events against the active bundle, persists what a decision
causes, and keeps every instance on the same bundle revision.

Hot reload: a candidate bundle is loaded and validated, stored in the database with its
revision, and made active there; this instance swaps it in at once (one reference assignment,
so a concurrent evaluation sees the old or the new bundle, never a mix). Other instances notice
the new active revision when they poll (`sync`) and load the stored canonical bundle. A bundle
that fails validation changes nothing: the last good one stays active and the failure is
recorded, logged and counted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs import effects, metrics
from rodistaa.acs.bundle import Bundle, BundleError, bundle_from_canonical, load_bundle
from rodistaa.acs.contract import DEFAULT_SYSTEM_CONFIG
from rodistaa.acs.engine import AcsEvent, Decision, build_context, decide, fact_requests
from rodistaa.acs.facts import FactProvider
from rodistaa.acs.tables import acs_active_revision, acs_bundles, acs_reload_attempts
from rodistaa.core.clock import Clock
from rodistaa.core.errors import AppError
from rodistaa.core.ids import new_id
from rodistaa.db.engine import Database

log = structlog.get_logger("rodistaa.acs")


class PolicyRejected(AppError):
    """A REJECT or THROTTLE decision, rendered with the rule's code (403 unless it says so)."""

    def __init__(self, decision: Decision) -> None:
        headers = {"Retry-After": str(decision.retry_after_s)} if decision.retry_after_s else None
        super().__init__(
            decision.message,
            code=decision.code,
            status=decision.status or 403,
            details={"ruleId": decision.rule_id, "eventId": decision.event_id},
            headers=headers,
        )
        self.decision = decision


class NoBundleAvailable(RuntimeError):
    """Neither the database nor the configured path has a usable bundle: refusing to run
    without fraud rules."""


@dataclass(frozen=True)
class Evaluation:
    """A decision with what it was made from, as `AcsService.record` persists it."""

    event: AcsEvent
    context: Mapping[str, Any]
    facts: Mapping[str, Any]
    decision: Decision


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    revision: str | None
    errors: tuple[str, ...] = ()
    changed: bool = False


class AcsService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        system_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._system_config = dict(system_config or DEFAULT_SYSTEM_CONFIG)
        self._bundle: Bundle | None = None

    @property
    def system_config(self) -> Mapping[str, Any]:
        """`system.config` as the rules see it (services enforcing the same limits read it here)."""
        return MappingProxyType(self._system_config)

    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:
            raise NoBundleAvailable("the ACS bundle has not been loaded")
        return self._bundle

    def _swap(self, bundle: Bundle) -> None:
        self._bundle = bundle
        metrics.ACTIVE_RULES.set(sum(1 for rule in bundle.rules if rule.enabled))
        # Zero series for the new bundle's rules, so an alert on increase() sees their first match.
        metrics.declare_rules(bundle)

    # --- evaluation ----------------------------------------------------------------------------

    async def evaluate(self, event: AcsEvent, provider: FactProvider) -> Decision:
        """Decide, then persist the decision and its effects in their own transaction.

        The caller obeys the decision (see `enforce`); persistence happens whatever it is."""
        evaluation = await self.decide(event, provider)
        async with self._db.transaction() as conn:
            await self.record(conn, [evaluation])
        return evaluation.decision

    async def decide(self, event: AcsEvent, provider: FactProvider) -> Evaluation:
        """The decision on `event`, not persisted yet: `record` it (a caller deciding several
        events in a row records them together, in one transaction)."""
        bundle = self.bundle  # one snapshot for the whole evaluation
        names = await provider.context(event)
        context = build_context(event, names, self._system_config)
        now_ms = event.at_ms
        requests = fact_requests(bundle, event.type, context, now_ms)
        facts = await provider.answer(requests) if requests else {}
        started = time.perf_counter()
        decision = decide(bundle, event, context, facts=facts, now_ms=now_ms)
        metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
        self._count(bundle, event, decision)
        return Evaluation(event, context, facts, decision)

    async def enforce(self, event: AcsEvent, provider: FactProvider) -> Decision:
        """Evaluate and raise PolicyRejected unless the decision allows the request."""
        decision = await self.evaluate(event, provider)
        if not decision.allowed:
            raise PolicyRejected(decision)
        return decision

    async def record(self, conn: AsyncConnection, evaluations: Sequence[Evaluation]) -> None:
        """Persist decisions in the caller's transaction (ACS's own: never a business
        transaction that may roll back): the evaluated events, in one statement, then the
        effects of the events recorded for the first time (a re-evaluated event id has its
        effects already), then their audit entries, last, so the audit chain's head lock is
        held only until the commit."""
        now = self._clock.now()
        new_ids = await effects.record_decisions(
            conn, [(e.event, e.context, e.facts, e.decision) for e in evaluations]
        )
        fresh = [e for e in evaluations if e.event.id in new_ids]
        for evaluation in fresh:
            problems = await effects.apply_effects(
                conn, evaluation.event, evaluation.context, evaluation.decision, now=now
            )
            for problem in problems:
                log.warning("acs_effect_skipped", event_id=evaluation.event.id, problem=problem)
        for evaluation in fresh:
            await effects.append_rule_audits(conn, evaluation.event, evaluation.decision, now=now)
        for evaluation in fresh:
            for error in evaluation.decision.errors:
                log.warning(
                    "acs_rule_errored",
                    event_id=evaluation.event.id,
                    rule_id=error.rule_id,
                    error=error.message,
                )

    @staticmethod
    def _count(bundle: Bundle, event: AcsEvent, decision: Decision) -> None:
        for rule in bundle.rules_for(event.type):
            metrics.EVALUATIONS.labels(rule.id).inc()
        for match in (*decision.matched, *decision.shadow_matched):
            mode = "shadow" if match.shadow else "enforce"
            metrics.MATCHES.labels(match.rule_id, mode, match.severity).inc()
            if match.severity == "critical" and not match.shadow:
                metrics.CRITICAL_MATCHES.labels(match.rule_id).inc()
        for error in decision.errors:
            metrics.ERRORS.labels(error.rule_id).inc()
        metrics.DECISIONS.labels(event.type, decision.outcome.value).inc()

    # --- bundles -------------------------------------------------------------------------------

    async def start(self, default_path: str | Path | None) -> Bundle:
        """Run the active revision stored in the database; on a fresh database, activate the
        bundle at `default_path`. A new file on disk is not activated silently: use reload."""
        if await self.sync():
            return self.bundle
        if default_path is None:
            raise NoBundleAvailable("no active ACS revision in the database and no bundle path")
        result = await self.reload_from_path(default_path, actor="system:startup")
        if not result.ok:
            raise NoBundleAvailable("the default ACS bundle is invalid:\n" + "\n".join(result.errors))
        return self.bundle

    async def reload_from_path(self, path: str | Path, *, actor: str) -> ReloadResult:
        try:
            bundle = load_bundle(path)
        except BundleError as exc:
            return await self._reload_failed(str(path), actor, [str(i) for i in exc.issues])
        return await self.activate(bundle, source=str(path), actor=actor)

    async def activate(self, bundle: Bundle, *, source: str, actor: str) -> ReloadResult:
        """Store `bundle`, make it the active revision everywhere, and run it here."""
        now = self._clock.now()
        changed = self._bundle is None or self._bundle.revision != bundle.revision
        async with self._db.transaction() as conn:
            await _store_bundle(conn, bundle, source, now)
            await _set_active(conn, bundle.revision, actor, now)
            await _record_attempt(
                conn, source=source, ok=True, revision=bundle.revision, errors=None, actor=actor, now=now
            )
        self._swap(bundle)
        metrics.RELOADS.labels("ok").inc()
        log.info("acs_bundle_activated", revision=bundle.revision, rules=len(bundle.rules), source=source)
        return ReloadResult(True, bundle.revision, changed=changed)

    async def _reload_failed(self, source: str, actor: str, errors: list[str]) -> ReloadResult:
        async with self._db.transaction() as conn:
            await _record_attempt(
                conn,
                source=source,
                ok=False,
                revision=None,
                errors="\n".join(errors),
                actor=actor,
                now=self._clock.now(),
            )
        metrics.RELOADS.labels("failed").inc()
        log.error(
            "acs_bundle_reload_failed",
            source=source,
            errors=len(errors),
            active_revision=self._bundle.revision if self._bundle else None,
        )
        return ReloadResult(False, self._bundle.revision if self._bundle else None, tuple(errors))

    async def sync(self) -> bool:
        """Converge on the database's active revision; True when one is active here now."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(acs_active_revision.c.revision, acs_bundles.c.canonical)
                    .join(acs_bundles, acs_bundles.c.revision == acs_active_revision.c.revision)
                    .where(acs_active_revision.c.id == 1)
                )
            ).first()
        if row is None:
            return False
        if self._bundle is None or self._bundle.revision != row.revision:
            bundle = bundle_from_canonical(row.canonical)
            self._swap(bundle)
            log.info("acs_bundle_synced", revision=bundle.revision)
        return True

    async def last_reload_attempt(self) -> dict[str, Any] | None:
        """The newest reload attempt on any instance: a refused bundle is reported here."""
        async with self._db.read() as conn:
            row = (
                (
                    await conn.execute(
                        select(acs_reload_attempts)
                        .order_by(acs_reload_attempts.c.attempted_at.desc())
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None


async def _store_bundle(conn: AsyncConnection, bundle: Bundle, source: str, now: Any) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(acs_bundles).values(
        revision=bundle.revision,
        canonical=bundle.canonical,
        source=source[:512],
        rule_count=len(bundle.rules),
        stored_at=now,
    )
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=[acs_bundles.c.revision]))


async def _set_active(conn: AsyncConnection, revision: str, actor: str, now: Any) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(acs_active_revision).values(id=1, revision=revision, activated_by=actor, activated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[acs_active_revision.c.id],
        set_={"revision": revision, "activated_by": actor, "activated_at": now},
    )
    await conn.execute(stmt)


async def _record_attempt(
    conn: AsyncConnection,
    *,
    source: str,
    ok: bool,
    revision: str | None,
    errors: str | None,
    actor: str,
    now: Any,
) -> None:
    await conn.execute(
        acs_reload_attempts.insert().values(
            id=new_id("RLD"),
            source=source[:512],
            ok=ok,
            revision=revision,
            errors=errors,
            actor=actor,
            attempted_at=now,
        )
    )

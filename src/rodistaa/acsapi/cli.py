"""`rodistaa acs ...`: lint, eval, reload, rules, backtest."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select

from rodistaa.acs.bundle import Bundle, BundleError, load_bundle
from rodistaa.acs.engine import AcsEvent, build_context, decide
from rodistaa.acs.service import AcsService
from rodistaa.acs.tables import acs_events
from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.settings import Settings

acs_app = typer.Typer(help="The ACS rule engine.", no_args_is_help=True)


def _load_or_exit(path: Path) -> Bundle:
    try:
        return load_bundle(path)
    except BundleError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(exc.issues)} error(s): bundle refused", err=True)
        raise typer.Exit(1) from exc


@acs_app.command("lint")
def lint(bundle: Path = typer.Argument(..., help="Bundle file or directory.")) -> None:
    """Validate a bundle (schema, expressions, functions, actions, templates, context paths)."""
    loaded = _load_or_exit(bundle)
    enabled = sum(1 for rule in loaded.rules if rule.enabled)
    typer.echo(f"OK {len(loaded.rules)} rules ({enabled} enabled), revision {loaded.revision}")


@acs_app.command("eval")
def evaluate(
    bundle: Path = typer.Argument(..., help="Bundle file or directory."),
    event: Path = typer.Option(..., "--event", help="JSON: {type, id?, at?, ctx, context?, facts?}."),
) -> None:
    """Print the decision for one event as JSON. Nothing is written anywhere."""
    loaded = _load_or_exit(bundle)
    try:
        spec = json.loads(event.read_text())
        acs_event, context, facts = _event_from_spec(spec)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        typer.echo(f"invalid event file: {exc}", err=True)
        raise typer.Exit(2) from exc
    decision = decide(loaded, acs_event, context, facts=facts)
    typer.echo(json.dumps(decision.to_dict(), indent=2, sort_keys=True, default=str))


def _event_from_spec(spec: Any) -> tuple[AcsEvent, dict[str, Any], dict[str, Any]]:
    """The event, its evaluation context and its facts from an event file; TypeError or
    KeyError when the file does not have the documented shape."""
    if not isinstance(spec, dict):
        raise TypeError("the event file must hold a JSON object")
    for key in ("ctx", "payload", "context", "facts", "systemConfig"):
        if spec.get(key) is not None and not isinstance(spec[key], dict):
            raise TypeError(f"'{key}' must be an object")
    acs_event = AcsEvent(
        type=spec["type"],
        id=spec.get("id", "EVT-CLI"),
        at=datetime.fromisoformat(spec["at"]) if "at" in spec else datetime.now(UTC),
        ctx=spec.get("ctx") or {},
        payload=spec.get("payload") or {},
    )
    context = build_context(acs_event, spec.get("context") or {}, spec.get("systemConfig"))
    return acs_event, context, spec.get("facts") or {}


@acs_app.command("reload")
def reload(
    bundle: Path | None = typer.Argument(None, help="Bundle to activate (default: ACS_BUNDLE_PATH)."),
) -> None:
    """Validate and activate a bundle; every instance converges on it within seconds."""
    settings = load_cli_settings()
    path = bundle or Path(settings.acs_bundle_path)

    async def reload_synced(acs: AcsService) -> Any:
        await acs.sync()  # know the active revision first, so "unchanged" and refusals say it
        return await acs.reload_from_path(path, actor="cli")

    result = asyncio.run(_with_service(settings, reload_synced))
    if not result.ok:
        for error in result.errors:
            typer.echo(error, err=True)
        typer.echo(f"bundle refused; active revision unchanged: {result.revision}", err=True)
        raise typer.Exit(1)
    typer.echo(f"active revision {result.revision}" + ("" if result.changed else " (unchanged)"))


@acs_app.command("rules")
def rules() -> None:
    """Show the active revision and its rules."""
    settings = load_cli_settings()

    async def show(acs: AcsService) -> Bundle | None:
        return acs.bundle if await acs.sync() else None

    active = asyncio.run(_with_service(settings, show))
    if active is None:
        typer.echo("no active revision", err=True)
        raise typer.Exit(1)
    typer.echo(f"revision {active.revision}")
    for rule in active.rules:
        state = "" if rule.enabled else " (disabled)"
        typer.echo(f"{rule.priority:>5} {rule.severity:<8} {rule.mode:<7} {rule.id}{state}")


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database(create_engine(settings.database_url))
    try:
        return await work(db)
    finally:
        await db.dispose()


async def _with_service(settings: Settings, work: Any) -> Any:
    return await _with_db(settings, lambda db: work(AcsService(db=db, clock=SystemClock())))


@dataclass
class BacktestReport:
    events: int = 0
    outcome_changes: int = 0
    per_rule: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, rule_id: str, change: str) -> None:
        self.per_rule.setdefault(rule_id, Counter())[change] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "decisionsChanged": self.outcome_changes,
            "rules": {rule: dict(changes) for rule, changes in sorted(self.per_rule.items())},
        }


def backtest_rows(bundle: Bundle, rows: list[Any]) -> BacktestReport:
    """Re-decide stored events with a candidate bundle and count, per rule, the events it would
    newly match and no longer match, and the decisions whose outcome or code would change."""
    report = BacktestReport()
    for row in rows:
        stored_event, context = json.loads(row.event), json.loads(row.context)
        event = AcsEvent(
            type=row.event_type,
            id=row.event_id,
            at=row.at,
            ctx=context.get("ctx", {}),
            payload=stored_event.get("payload", {}),
        )
        names = {k: v for k, v in context.items() if k not in {"ctx", "system"}}
        config = context.get("system", {}).get("config")
        decision = decide(bundle, event, build_context(event, names, config), facts=json.loads(row.facts))
        before, after = set(json.loads(row.matched)), {m.rule_id for m in decision.matched}
        for rule_id in after - before:
            report.count(rule_id, "newlyMatched")
        for rule_id in before - after:
            report.count(rule_id, "noLongerMatched")
        if (decision.outcome.value, decision.code) != (row.outcome, row.code):
            report.outcome_changes += 1
            report.count(decision.rule_id or row.rule_id or "-", "decisionChanged")
        report.events += 1
    return report


@acs_app.command("backtest")
def backtest(
    bundle: Path = typer.Argument(..., help="Candidate bundle."),
    since: datetime = typer.Option(..., "--since", help="Re-evaluate events at or after this date."),
) -> None:
    """Report how a candidate bundle would change the decisions of stored events."""
    candidate = _load_or_exit(bundle)
    settings = load_cli_settings()
    start = since if since.tzinfo else since.replace(tzinfo=UTC)

    async def load_rows(db: Database) -> list[Any]:
        async with db.read() as conn:
            query = select(acs_events).where(acs_events.c.at >= start).order_by(acs_events.c.at)
            return list((await conn.execute(query)).all())

    rows = asyncio.run(_with_db(settings, load_rows))
    typer.echo(json.dumps(backtest_rows(candidate, rows).to_dict(), indent=2, sort_keys=True))

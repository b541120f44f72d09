"""`rodistaa acs lint|eval|reload|rules|backtest`, driven in-process against a throw-away SQLite file.

Every test runs in an empty temporary working directory (so the development key file lands
there) with every settings variable removed from the environment except the ones set here.
Bundles are read in place; a test that needs an edited bundle copies the reference into
tmp_path first.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from rodistaa import cli
from rodistaa.acs.bundle import load_bundle
from rodistaa.acs.engine import AcsEvent, Outcome
from rodistaa.acs.facts import StaticFacts
from rodistaa.acs.lang import fact_key
from rodistaa.acs.service import AcsService
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO_ROOT / "rules"
REFERENCE_BUNDLE = REPO_ROOT.parent / "shared" / "reference" / "acs_rules_top25.yaml"
REVISION = r"[0-9a-f]{64}"

NOW = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
OPERATOR = "USR-OP-01JHBZK7M2Q9XXXXXXXXXX0PRA"
SHIPPER = "USR-SH-01JHBZK7M2Q9XXXXXXXXXXSHPR"
BOOKING = {
    "id": "RID-20250115-0042",
    "shipperId": SHIPPER,
    "status": "OPEN",
    "tonnage": 10,
    "distanceKm": 500,
    "expectedPrice": 1_250_000,
    "priceRange": {"min": 1_125_000, "max": 1_375_000},
}
# One-line mistakes made in a copy of the reference bundle: (original text, broken text).
BAD_PATH = ("truck.status == 'EXPIRED_DOCS'", "truck.statsu == 'EXPIRED_DOCS'")  # RF02
BAD_FUNCTION = ("textContainsPII(ctx.payload.text)", "textContainsPll(ctx.payload.text)")  # RF16
MAINTENANCE_FACT = fact_key("operator.maintenanceWindowActive", [OPERATOR, NOW_MS])


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "acs.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ENV", "development")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def migrated(runner: CliRunner, db_path: Path) -> Path:
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return db_path


def invoke(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(cli.app, [str(arg) for arg in args])


def row_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # Table names come from sqlite_master, not from input.
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}  # noqa: S608
    finally:
        conn.close()


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def active_revision(path: Path) -> str | None:
    rows = query(path, "SELECT revision FROM acs_active_revision WHERE id = 1")
    return rows[0][0] if rows else None


def edited_reference(tmp_path: Path, old: str, new: str, name: str = "bundle.yaml") -> Path:
    """A copy of the reference bundle in tmp_path with exactly one occurrence of `old` replaced."""
    text = REFERENCE_BUNDLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in the reference bundle"
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def line_of(old: str) -> int:
    """The line of the reference bundle (and of an `edited_reference` copy) where `old` starts."""
    text = REFERENCE_BUNDLE.read_text(encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def with_rf01_disabled(tmp_path: Path) -> Path:
    return edited_reference(
        tmp_path,
        "- id: RF01_KYC_MANDATORY\n",
        "- id: RF01_KYC_MANDATORY\n  enabled: false\n",
        name="candidate.yaml",
    )


def bid_event(kyc: str, event_id: str = "EVT-CLI-BID") -> dict[str, Any]:
    """An event file for `acs eval`: an operator's bid, clean except for the KYC status."""
    return {
        "type": "bid.create",
        "id": event_id,
        "at": NOW.isoformat(),
        "ctx": {"userId": OPERATOR, "userRole": "operator", "userKycStatus": kyc, "operatorId": OPERATOR},
        "payload": {"amount": 12_000.0, "text": "Can load on Friday morning"},
        "context": {
            "bid": {"bookingId": BOOKING["id"], "operatorId": OPERATOR, "amount": 1_200_000},
            "booking": BOOKING,
            "truck": {"id": "TRK-MH12AB1234", "operatorId": OPERATOR, "status": "ACTIVE"},
            "operator": {"id": OPERATOR, "status": "ACTIVE", "ledgerBalance": 50_000},
            "computedFees": {"bidFee": 17_500},
        },
        "facts": {MAINTENANCE_FACT: False},
    }


def write_event(tmp_path: Path, spec: Any, name: str = "event.json") -> Path:
    path = tmp_path / name
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec), encoding="utf-8")
    return path


def decision_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert isinstance(decision, dict)
    return decision


# --- lint ---------------------------------------------------------------------------------------


class TestLint:
    @pytest.mark.parametrize("bundle", ["rules", str(REFERENCE_BUNDLE)], ids=["default", "reference"])
    def test_valid_bundle_prints_rule_count_and_revision(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, bundle: str
    ) -> None:
        monkeypatch.chdir(REPO_ROOT)  # `acs lint rules`, as an operator would type it
        result = invoke(runner, "acs", "lint", bundle)
        assert result.exit_code == 0, result.output
        match = re.fullmatch(rf"OK 25 rules \(25 enabled\), revision ({REVISION})", result.stdout.strip())
        assert match, result.stdout
        assert match[1] == load_bundle(REPO_ROOT / bundle).revision

    def test_disabled_rules_are_counted_apart(self, runner: CliRunner, tmp_path: Path) -> None:
        result = invoke(runner, "acs", "lint", with_rf01_disabled(tmp_path))
        assert result.exit_code == 0, result.output
        assert re.fullmatch(rf"OK 25 rules \(24 enabled\), revision {REVISION}", result.stdout.strip())
        assert load_bundle(REFERENCE_BUNDLE).revision not in result.stdout

    @pytest.mark.parametrize(
        ("old", "new", "rule_id", "message"),
        [
            pytest.param(
                "ctx.userKycStatus != 'VERIFIED'",
                "(ctx.userKycStatus != 'VERIFIED'",
                "RF01_KYC_MANDATORY",
                "condition: expected ')' to close '('",
                id="syntax-error",
            ),
            pytest.param(
                *BAD_FUNCTION,
                "RF16_PII_LEAK_REDACTION",
                "condition: unknown function 'textContainsPll'",
                id="unknown-function",
            ),
            pytest.param(
                '    - emitEvent: { name: "fraud.flagged", payload: { reason: "KYC_MISSING"',
                '    - launchMissiles: { name: "fraud.flagged", payload: { reason: "KYC_MISSING"',
                "RF01_KYC_MANDATORY",
                "action[1]: unknown action 'launchMissiles'",
                id="unknown-action",
            ),
            pytest.param(
                "- id: RF02_TRUCK_DOCS_EXPIRED",
                "- id: RF01_KYC_MANDATORY",
                "RF01_KYC_MANDATORY",
                "id: duplicate rule id",
                id="duplicate-id",
            ),
            pytest.param(
                *BAD_PATH,
                "RF02_TRUCK_DOCS_EXPIRED",
                "condition: unknown context path 'truck.statsu'",
                id="unknown-context-path",
            ),
        ],
    )
    def test_broken_bundle_exits_1_naming_rule_field_and_position(
        self, runner: CliRunner, tmp_path: Path, old: str, new: str, rule_id: str, message: str
    ) -> None:
        bundle = edited_reference(tmp_path, old, new)
        line = line_of(old)  # the line of the mistake itself (for an action: its own list item)

        result = invoke(runner, "acs", "lint", bundle)

        assert result.exit_code == 1, result.output
        assert "OK" not in result.stdout
        issues = result.stderr.strip().splitlines()
        assert issues[-1] == "1 error(s): bundle refused"
        assert len(issues) == 2, result.stderr
        pattern = rf"{rule_id}: {re.escape(message)}.* \({re.escape(str(bundle))}:{line}:(\d+)\)"
        match = re.fullmatch(pattern, issues[0])
        assert match, issues[0]
        assert 1 <= int(match[1]) <= len(bundle.read_text().splitlines()[line - 1]) + 1

    def test_every_error_is_reported(self, runner: CliRunner, tmp_path: Path) -> None:
        first = edited_reference(tmp_path, *BAD_PATH)
        text = first.read_text().replace(*BAD_FUNCTION)
        first.write_text(text)

        result = invoke(runner, "acs", "lint", first)

        assert result.exit_code == 1, result.output
        issues = result.stderr.strip().splitlines()
        assert issues[-1] == "2 error(s): bundle refused"
        assert [issue.split(":", 1)[0] for issue in issues[:-1]] == [
            "RF02_TRUCK_DOCS_EXPIRED",
            "RF16_PII_LEAK_REDACTION",
        ]

    def test_missing_path_exits_1(self, runner: CliRunner, tmp_path: Path) -> None:
        result = invoke(runner, "acs", "lint", tmp_path / "nowhere.yaml")
        assert result.exit_code == 1, result.output
        assert "no such file or directory" in result.stderr
        assert "OK" not in result.stdout


# --- eval ---------------------------------------------------------------------------------------


class TestEval:
    @pytest.mark.parametrize("bundle", [DEFAULT_BUNDLE, REFERENCE_BUNDLE], ids=["default", "reference"])
    def test_unverified_operator_bid_is_rejected_by_rf01(
        self, runner: CliRunner, db_path: Path, tmp_path: Path, bundle: Path
    ) -> None:
        event = write_event(tmp_path, bid_event("PENDING"))

        decision = decision_of(invoke(runner, "acs", "eval", bundle, "--event", event))

        assert decision["outcome"] == "REJECT"
        assert decision["code"] == "KYC_REQUIRED"
        assert decision["ruleId"] == "RF01_KYC_MANDATORY"
        assert decision["status"] == 403
        assert decision["eventId"] == "EVT-CLI-BID"
        assert decision["eventType"] == "bid.create"
        assert decision["revision"] == load_bundle(bundle).revision
        assert [m["ruleId"] for m in decision["matched"]] == ["RF01_KYC_MANDATORY"]
        assert decision["errors"] == []
        # Nothing needed a database, and none was created.
        assert not db_path.exists()

    def test_verified_operator_bid_is_allowed(self, runner: CliRunner, db_path: Path, tmp_path: Path) -> None:
        event = write_event(tmp_path, bid_event("VERIFIED"))

        decision = decision_of(invoke(runner, "acs", "eval", REFERENCE_BUNDLE, "--event", event))

        assert decision["outcome"] == "ALLOW"
        assert decision["code"] is None
        assert decision["ruleId"] is None
        assert decision["matched"] == []
        # The prefetched answer in the event file reached the data-backed rule (RF22).
        assert decision["errors"] == []
        assert not db_path.exists()

    def test_facts_from_the_event_file_are_used(
        self, runner: CliRunner, db_path: Path, tmp_path: Path
    ) -> None:
        spec = bid_event("VERIFIED")
        spec["facts"] = {MAINTENANCE_FACT: True}
        decision = decision_of(
            invoke(runner, "acs", "eval", REFERENCE_BUNDLE, "--event", write_event(tmp_path, spec))
        )
        assert decision["outcome"] == "REJECT"
        assert decision["code"] == "MAINTENANCE_WINDOW"
        assert decision["ruleId"] == "RF22_MAINTENANCE_WINDOW_BLOCK"

    def test_writes_nothing_to_an_existing_database(
        self, runner: CliRunner, migrated: Path, tmp_path: Path
    ) -> None:
        assert invoke(runner, "acs", "reload", REFERENCE_BUNDLE).exit_code == 0
        before = row_counts(migrated)
        event = write_event(tmp_path, bid_event("PENDING"))

        decision = decision_of(invoke(runner, "acs", "eval", REFERENCE_BUNDLE, "--event", event))

        assert decision["outcome"] == "REJECT"
        assert row_counts(migrated) == before
        assert before["acs_events"] == 0 and before["audit_log"] == 0

    @pytest.mark.parametrize(
        "spec",
        [
            pytest.param("{not json", id="not-json"),
            pytest.param("[1, 2]", id="not-an-object"),
            pytest.param({"id": "EVT-1", "ctx": {}}, id="no-type"),
            pytest.param({"type": "bid.create", "at": "yesterday"}, id="bad-at"),
            pytest.param({"type": "bid.create", "ctx": "operator"}, id="ctx-not-an-object"),
            pytest.param({"type": "bid.create", "context": [1]}, id="context-not-an-object"),
            pytest.param({"type": "bid.create", "payload": "text"}, id="payload-not-an-object"),
        ],
    )
    def test_malformed_event_file_exits_2(
        self, runner: CliRunner, db_path: Path, tmp_path: Path, spec: Any
    ) -> None:
        result = invoke(runner, "acs", "eval", REFERENCE_BUNDLE, "--event", write_event(tmp_path, spec))
        assert result.exit_code == 2, (result.output, result.exception)
        assert "invalid event file" in result.stderr
        assert result.stdout == ""

    def test_missing_event_file_exits_2(self, runner: CliRunner, db_path: Path, tmp_path: Path) -> None:
        result = invoke(runner, "acs", "eval", REFERENCE_BUNDLE, "--event", tmp_path / "missing.json")
        assert result.exit_code == 2, result.output
        assert "invalid event file" in result.stderr

    def test_broken_bundle_exits_1_before_reading_the_event(
        self, runner: CliRunner, db_path: Path, tmp_path: Path
    ) -> None:
        bundle = edited_reference(tmp_path, *BAD_PATH)
        event = write_event(tmp_path, bid_event("PENDING"))
        result = invoke(runner, "acs", "eval", bundle, "--event", event)
        assert result.exit_code == 1, result.output
        assert "RF02_TRUCK_DOCS_EXPIRED: condition: unknown context path" in result.stderr
        assert result.stdout == ""


# --- reload and rules ---------------------------------------------------------------------------


def activated(result: Result) -> str:
    assert result.exit_code == 0, result.output
    match = re.search(rf"^active revision ({REVISION})( \(unchanged\))?$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match[0]


class TestReload:
    def test_activates_the_bundle(self, runner: CliRunner, migrated: Path) -> None:
        revision = load_bundle(REFERENCE_BUNDLE).revision

        line = activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))

        assert line == f"active revision {revision}"
        assert active_revision(migrated) == revision
        assert query(migrated, "SELECT revision, rule_count FROM acs_bundles") == [(revision, 25)]
        assert query(migrated, "SELECT ok, revision, actor FROM acs_reload_attempts") == [
            (1, revision, "cli")
        ]

    def test_default_path_comes_from_the_settings(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ACS_BUNDLE_PATH", str(DEFAULT_BUNDLE))
        revision = load_bundle(DEFAULT_BUNDLE).revision

        line = activated(invoke(runner, "acs", "reload"))

        assert line == f"active revision {revision}"
        assert active_revision(migrated) == revision

    def test_reloading_the_active_bundle_reports_unchanged(self, runner: CliRunner, migrated: Path) -> None:
        revision = load_bundle(REFERENCE_BUNDLE).revision
        activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))

        line = activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))

        assert line == f"active revision {revision} (unchanged)"
        assert active_revision(migrated) == revision

    def test_switching_bundles_is_a_change(self, runner: CliRunner, migrated: Path) -> None:
        activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))
        revision = load_bundle(DEFAULT_BUNDLE).revision

        line = activated(invoke(runner, "acs", "reload", DEFAULT_BUNDLE))

        assert line == f"active revision {revision}"
        assert active_revision(migrated) == revision

    def test_invalid_bundle_keeps_the_active_revision(
        self, runner: CliRunner, migrated: Path, tmp_path: Path
    ) -> None:
        previous = load_bundle(REFERENCE_BUNDLE).revision
        activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))
        bundle = edited_reference(tmp_path, *BAD_PATH)

        line = line_of(BAD_PATH[0])

        result = invoke(runner, "acs", "reload", bundle)

        assert result.exit_code == 1, result.output
        assert re.search(
            rf"^RF02_TRUCK_DOCS_EXPIRED: condition: unknown context path 'truck.statsu'.* "
            rf"\({re.escape(str(bundle))}:{line}:\d+\)$",
            result.stderr,
            re.MULTILINE,
        ), result.stderr
        assert f"active revision unchanged: {previous}" in result.stderr
        assert "active revision unchanged: None" not in result.stderr
        assert active_revision(migrated) == previous
        failed = query(migrated, "SELECT revision, errors FROM acs_reload_attempts WHERE ok = 0")
        assert len(failed) == 1
        assert failed[0][0] is None
        assert "truck.statsu" in failed[0][1]

    def test_invalid_bundle_on_a_fresh_database_activates_nothing(
        self, runner: CliRunner, migrated: Path, tmp_path: Path
    ) -> None:
        bundle = edited_reference(tmp_path, "- id: RF02_TRUCK_DOCS_EXPIRED", "- id: RF01_KYC_MANDATORY")
        result = invoke(runner, "acs", "reload", bundle)
        assert result.exit_code == 1, result.output
        assert "RF01_KYC_MANDATORY: id: duplicate rule id" in result.stderr
        assert "bundle refused" in result.stderr
        assert active_revision(migrated) is None


def rule_lines(result: Result) -> tuple[str, list[str]]:
    """(revision, rule lines) of `acs rules`, skipping log lines."""
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if not re.match(r"\d{4}-\d\d-\d\d[ T]", line)]
    header = re.fullmatch(rf"revision ({REVISION})", lines[0])
    assert header, result.stdout
    return header[1], lines[1:]


class TestRules:
    def test_shows_the_active_revision_and_its_rules(self, runner: CliRunner, migrated: Path) -> None:
        activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))
        bundle = load_bundle(REFERENCE_BUNDLE)

        revision, lines = rule_lines(invoke(runner, "acs", "rules"))

        assert revision == bundle.revision
        assert len(lines) == 25
        parsed = [re.fullmatch(r"\s*(\d+) (\w+)\s+(enforce|shadow)\s+([A-Z0-9_]+)", line) for line in lines]
        assert all(parsed), lines
        assert [m[4] for m in parsed if m] == [rule.id for rule in bundle.rules]
        assert lines[0].split() == ["1000", "critical", "enforce", "RF01_KYC_MANDATORY"]
        priorities = [int(m[1]) for m in parsed if m]
        assert priorities == sorted(priorities, reverse=True)

    def test_follows_a_reload_and_marks_disabled_rules(
        self, runner: CliRunner, migrated: Path, tmp_path: Path
    ) -> None:
        activated(invoke(runner, "acs", "reload", REFERENCE_BUNDLE))
        candidate = with_rf01_disabled(tmp_path)
        activated(invoke(runner, "acs", "reload", candidate))

        revision, lines = rule_lines(invoke(runner, "acs", "rules"))

        assert revision == load_bundle(candidate).revision
        assert len(lines) == 25
        assert [line for line in lines if line.endswith("(disabled)")] == [
            " 1000 critical enforce RF01_KYC_MANDATORY (disabled)"
        ]

    def test_no_active_revision_exits_1(self, runner: CliRunner, migrated: Path) -> None:
        result = invoke(runner, "acs", "rules")
        assert result.exit_code == 1, result.output
        assert "no active revision" in result.stderr
        assert "revision" not in result.stdout


# --- backtest -----------------------------------------------------------------------------------


def _seed_events(url: str) -> list[tuple[str, str, str | None]]:
    """Evaluate four events through the service with the reference bundle active: two RF01
    rejects (an unverified operator's bid, an unverified shipper's booking) and two allows."""

    def operator(kyc: str) -> dict[str, str]:
        return {"userId": OPERATOR, "userRole": "operator", "operatorId": OPERATOR, "userKycStatus": kyc}

    def shipper(kyc: str) -> dict[str, str]:
        return {"userId": SHIPPER, "userRole": "shipper", "userKycStatus": kyc}

    bid_facts = StaticFacts(bid_event("VERIFIED")["context"], {MAINTENANCE_FACT: False})
    booking_facts = StaticFacts({"booking": BOOKING})
    events = [
        (AcsEvent("bid.create", "EVT-BT-1", NOW, operator("PENDING")), bid_facts),
        (AcsEvent("booking.create", "EVT-BT-2", NOW, shipper("REJECTED")), booking_facts),
        (AcsEvent("bid.create", "EVT-BT-3", NOW, operator("VERIFIED")), bid_facts),
        (AcsEvent("booking.create", "EVT-BT-4", NOW, shipper("VERIFIED")), booking_facts),
    ]

    async def run() -> list[tuple[str, str, str | None]]:
        db = Database(create_engine(url))
        try:
            service = AcsService(db=db, clock=SystemClock())
            result = await service.activate(load_bundle(REFERENCE_BUNDLE), source="t", actor="t")
            assert result.ok
            decisions = [await service.evaluate(event, facts) for event, facts in events]
            return [(d.event_id, d.outcome.value, d.rule_id) for d in decisions]
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def seeded(migrated: Path) -> Path:
    decisions = _seed_events(f"sqlite+aiosqlite:///{migrated}")
    # The premise of every backtest below: two RF01 rejects, two clean allows, all stored.
    assert decisions == [
        ("EVT-BT-1", Outcome.REJECT.value, "RF01_KYC_MANDATORY"),
        ("EVT-BT-2", Outcome.REJECT.value, "RF01_KYC_MANDATORY"),
        ("EVT-BT-3", Outcome.ALLOW.value, None),
        ("EVT-BT-4", Outcome.ALLOW.value, None),
    ]
    assert query(migrated, "SELECT COUNT(*) FROM acs_events") == [(4,)]
    return migrated


def report_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return report


class TestBacktest:
    def test_disabling_rf01_changes_its_decisions(
        self, runner: CliRunner, seeded: Path, tmp_path: Path
    ) -> None:
        candidate = with_rf01_disabled(tmp_path)
        before = row_counts(seeded)

        report = report_of(invoke(runner, "acs", "backtest", candidate, "--since", "2020-01-01"))

        assert report["events"] == 4
        assert report["decisionsChanged"] == 2
        assert report["rules"] == {"RF01_KYC_MANDATORY": {"noLongerMatched": 2, "decisionChanged": 2}}
        # A backtest is read-only: nothing stored, nothing activated.
        assert row_counts(seeded) == before
        assert active_revision(seeded) == load_bundle(REFERENCE_BUNDLE).revision

    def test_same_bundle_changes_nothing(self, runner: CliRunner, seeded: Path) -> None:
        report = report_of(invoke(runner, "acs", "backtest", REFERENCE_BUNDLE, "--since", "2020-01-01"))
        assert report == {"events": 4, "decisionsChanged": 0, "rules": {}}

    def test_since_excludes_older_events(self, runner: CliRunner, seeded: Path, tmp_path: Path) -> None:
        candidate = with_rf01_disabled(tmp_path)
        report = report_of(invoke(runner, "acs", "backtest", candidate, "--since", "2025-01-16"))
        assert report == {"events": 0, "decisionsChanged": 0, "rules": {}}

    def test_invalid_candidate_exits_1(self, runner: CliRunner, seeded: Path, tmp_path: Path) -> None:
        bundle = edited_reference(tmp_path, *BAD_FUNCTION)
        result = invoke(runner, "acs", "backtest", bundle, "--since", "2020-01-01")
        assert result.exit_code == 1, result.output
        assert "RF16_PII_LEAK_REDACTION: condition: unknown function 'textContainsPll'" in result.stderr
        assert result.stdout == ""

"""Bundle loading refuses every kind of mistake, naming the rule, the field and the position."""

from __future__ import annotations

from pathlib import Path

import pytest

from rodistaa.acs.bundle import BundleError, load_bundle, parse_bundle

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "acs_rules_top25.yaml"

GOOD_RULE = """\
- id: RULE_OK
  priority: 500
  severity: high
  condition: "event.type == 'bid.create' && bid.amount < 100"
  action:
    - rejectRequest: { code: "TOO_LOW", message: "Too low" }
"""


def refused(text: str) -> list[str]:
    with pytest.raises(BundleError) as error:
        parse_bundle([("bundle.yaml", text)])
    return [str(issue) for issue in error.value.issues]


def rule(
    condition: str = "event.type == 'bid.create' && bid.amount < 100", action: str = "", **fields: str
) -> str:
    lines = [
        f"- id: {fields.pop('id', 'RULE_X')}",
        "  priority: 10",
        f"  severity: {fields.pop('severity', 'high')}",
    ]
    lines.append(f'  condition: "{condition}"')
    lines.append("  action:")
    lines.append(action or '    - rejectRequest: { code: "NO", message: "No" }')
    lines += [f"  {key}: {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


class TestReferenceBundles:
    def test_reference_bundle_loads_unchanged(self) -> None:
        bundle = load_bundle(REFERENCE)
        assert len(bundle.rules) == 25
        assert [r.priority for r in bundle.rules] == sorted((r.priority for r in bundle.rules), reverse=True)
        assert {r.id for r in bundle.rules_for("bid.create")} == {
            "RF01_KYC_MANDATORY",
            "RF02_TRUCK_DOCS_EXPIRED",
            "RF13_LEDGER_NEGATIVE_PREVENTION",
            "RF16_PII_LEAK_REDACTION",
            "RF21_PREDATORY_BID_DETECT",
            "RF22_MAINTENANCE_WINDOW_BLOCK",
        }

    def test_revision_is_canonical(self) -> None:
        text = REFERENCE.read_text()
        first = parse_bundle([("a.yaml", text)])
        # Comments and key order do not change what the bundle means, so not its revision.
        reordered = "# another comment\n" + text.replace(
            "priority: 1000\n  severity: critical", "severity: critical\n  priority: 1000"
        )
        assert parse_bundle([("b.yaml", reordered)]).revision == first.revision
        changed = text.replace("priority: 1000", "priority: 1001")
        assert parse_bundle([("c.yaml", changed)]).revision != first.revision
        assert len(first.revision) == 64

    def test_directory_is_merged_in_name_order(self, tmp_path: Path) -> None:
        (tmp_path / "20-b.yaml").write_text(rule(id="RULE_B"))
        (tmp_path / "10-a.yaml").write_text(rule(id="RULE_A"))
        (tmp_path / "notes.txt").write_text("not a bundle")
        assert {r.id for r in load_bundle(tmp_path).rules} == {"RULE_A", "RULE_B"}


class TestRefusals:
    def test_syntax_error_names_rule_and_position(self) -> None:
        issues = refused(rule(condition="event.type == 'bid.create' && (bid.amount < 100"))
        assert len(issues) == 1
        assert issues[0].startswith("RULE_X: condition: ")
        assert "(bundle.yaml:4:" in issues[0]

    def test_unknown_function(self) -> None:
        issues = refused(rule(condition="event.type == 'bid.create' && os.system('ls')"))
        assert issues[0].startswith("RULE_X: condition: ") and "os.system" in issues[0]

    def test_unknown_action(self) -> None:
        issues = refused(rule(action="    - launchMissiles: { target: 'x' }"))
        assert issues == ["RULE_X: action[0]: unknown action 'launchMissiles' (bundle.yaml:6:5)"]

    def test_action_missing_required_parameter(self) -> None:
        issues = refused(rule(action='    - rejectRequest: { code: "NO" }'))
        assert issues == ["RULE_X: action[0].rejectRequest: missing parameter 'message' (bundle.yaml:6:5)"]

    def test_duplicate_id(self) -> None:
        issues = refused(rule(id="RULE_D") + rule(id="RULE_D"))
        assert len(issues) == 1
        assert issues[0].startswith("RULE_D: id: duplicate rule id (first defined at 1:7)")
        assert "(bundle.yaml:7:7)" in issues[0]

    def test_mixed_and_or_without_parentheses(self) -> None:
        issues = refused(rule(condition="event.type == 'bid.create' && bid.amount < 1 || bid.amount > 9"))
        assert len(issues) == 1 and issues[0].startswith("RULE_X: condition: ")
        assert "&&" in issues[0] and "||" in issues[0]

    def test_unknown_context_path(self) -> None:
        issues = refused(rule(condition="event.type == 'bid.create' && bid.amuont < 100"))
        expected = "RULE_X: condition: unknown context path 'bid.amuont' for event types bid.create"
        assert issues == [f"{expected} (bundle.yaml:4:14)"]

    def test_unknown_path_in_a_template(self) -> None:
        action = (
            '    - flagWatchlist: { entityType: "operator", entityId: "{{ctx.operatorIdd}}", reason: "R" }'
        )
        issues = refused(rule(action=action))
        assert issues == [
            "RULE_X: action[0].flagWatchlist: unknown context path 'ctx.operatorIdd' (bundle.yaml:6:5)"
        ]

    def test_bad_template_syntax(self) -> None:
        action = '    - emitEvent: { name: "x", payload: { id: "{{bid.id &&}}" } }'
        issues = refused(rule(action=action))
        assert len(issues) == 1 and issues[0].startswith("RULE_X: action[0].emitEvent: template: ")

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"severity": "urgent"}, "RULE_X: severity: must be low, medium, high or critical"),
            ({"id": "lower_case"}, "lower_case: id: must match ^[A-Z0-9_]+$"),
            ({"mode": "loud"}, "RULE_X: mode: must be enforce or shadow"),
            ({"version": "0"}, "RULE_X: version: must be >= 1"),
            ({"priority2": "5"}, "RULE_X: priority2: unknown field"),
            ({"events": "bid.create"}, "RULE_X: events: must be a list of strings"),
            ({"audit": "'yes'"}, "RULE_X: audit: must be bool"),
        ],
    )
    def test_field_checks(self, fields: dict[str, str], expected: str) -> None:
        issues = refused(rule(**fields))
        assert any(issue.startswith(expected) for issue in issues), issues

    def test_every_error_is_listed(self) -> None:
        text = rule(id="RULE_1", condition="event.type == 'bid.create' && nope(1)") + rule(
            id="RULE_2", action="    - launch: {}"
        )
        issues = refused(text)
        assert [i.split(":")[0] for i in issues] == ["RULE_1", "RULE_2"]

    def test_not_a_list(self) -> None:
        assert refused("id: X\n") == ["-: bundle: a bundle is a list of rules (bundle.yaml:1:1)"]

    def test_broken_yaml(self) -> None:
        issues = refused("- id: [unclosed\n")
        assert issues[0].startswith("-: yaml: ")

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(BundleError) as error:
            load_bundle(tmp_path / "missing.yaml")
        assert "no such file or directory" in str(error.value)


class TestExtensions:
    def test_events_extension_and_index(self) -> None:
        text = rule(condition="bid.amount < 100", events="[bid.create, bid.modify]")
        bundle = parse_bundle([("b.yaml", text)])
        assert [r.id for r in bundle.rules_for("bid.modify")] == ["RULE_X"]
        assert bundle.rules_for("gps.ping") == ()

    def test_disabled_rules_are_not_indexed(self) -> None:
        bundle = parse_bundle([("b.yaml", rule(enabled="false"))])
        assert bundle.rules_for("bid.create") == ()
        assert bundle.get("RULE_X") is not None and not bundle.get("RULE_X").enabled  # type: ignore[union-attr]

    def test_rule_without_guard_runs_for_every_event(self) -> None:
        bundle = parse_bundle([("b.yaml", rule(condition="ctx.userRole == 'operator'"))])
        assert [r.id for r in bundle.rules_for("gps.ping")] == ["RULE_X"]
        assert [r.id for r in bundle.rules_for("anything.else")] == ["RULE_X"]

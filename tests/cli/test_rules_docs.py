"""`sendready rules list` and `sendready rules show ID`: rule documentation generated from the rule files.

The expectations are read from the loaded rule files themselves, so a rule added or reworded
keeps these tests honest without editing them.
"""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.engine.rules import load_rules
from auditor.resources import rules_dir

runner = CliRunner()
RULES = load_rules([rules_dir()])


def _flat(text: str) -> str:
    """The text with line wrapping undone (rich wraps long lines to the terminal width)."""
    return " ".join(text.split())


def test_rules_list_names_every_rule_outside_profiles_once() -> None:
    result = runner.invoke(app, ["rules", "list"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.splitlines() if line[:1].isupper() and line.split()]
    expected = sorted(r.id for r in RULES.rules if r.profile is None)
    assert sorted(i for i in listed if i in {r.id for r in RULES.rules}) == expected
    assert len(expected) > 60  # SPF, DKIM, DMARC, MX, MTA-STS, TLS-RPT, BIMI, DNSSEC, SMTP, account...


@pytest.mark.parametrize("rule_id", ["SPF003", "DMARC007", "MTASTS005", "DNSSEC001", "STRICT005"])
def test_rules_show_prints_purpose_rationale_remediation_and_references(rule_id: str) -> None:
    rule = RULES.by_id(rule_id)
    assert rule is not None
    spec = rule.spec
    result = runner.invoke(app, ["rules", "show", rule_id])
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert out.startswith(f"{spec.id} {spec.name}: {_flat(spec.title)}")
    assert f"severity: {spec.severity}" in out
    assert _flat(spec.rationale) in out
    assert _flat(spec.remediation.summary) in out
    for ref in spec.references:
        assert _flat(ref.title) in out
    assert f"Defined in {rule.source}" in out
    assert ("profile: strict" in out) is (rule.profile == "strict")


def test_rules_show_unknown_id_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["rules", "show", "NOPE999"])
    assert result.exit_code == 2
    lines = [line for line in textwrap.dedent(result.output).splitlines() if line.strip()]
    assert len(lines) == 1 and "NOPE999" in lines[0]
    assert "Traceback" not in result.output

"""Broken rule files stop the run with `file:line: field: message`; the rule format's JSON Schema.

Each broken variant is the good user rule below with one mistake, written into its own directory
and loaded after the built-in rules, exactly as `--rules DIR` and `sendready rules check` do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.engine.rules import load_rules
from auditor.engine.schema import RuleFile
from auditor.errors import RuleFileError
from auditor.resources import rules_dir

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "rules" / "schema" / "rules.schema.json"
REGENERATE = (
    'python -c "import json; from auditor.engine.schema import RuleFile; '
    'print(json.dumps(RuleFile.model_json_schema(by_alias=True), indent=2, sort_keys=True))" '
    "> rules/schema/rules.schema.json"
)

GOOD_RULE = """\
schema: sendready.rules/v1
rules:
  - id: CUST001
    name: custom-spf-softfail
    title: SPF ends in softfail rather than fail
    severity: info
    category: spf
    requires: [dns.spf]
    when: "spf.count == 1"
    condition: "spf.all_qualifier == '~'"
    message: "{{ domain }} ends its SPF record in ~all."
    rationale: "Some teams prefer -all once every sender is known."
    remediation:
      summary: "Consider -all."
    references:
      - {rfc: 7208, section: "5.1", title: "RFC 7208 §5.1: all"}
"""
# Line numbers of GOOD_RULE, for the expectations below.
LINE = {"id": 3, "severity": 6, "category": 7, "when": 9, "message": 11}


def _replace(old: str, new: str) -> str:
    assert old in GOOD_RULE, old
    return GOOD_RULE.replace(old, new, 1)


BROKEN: dict[str, tuple[str, int, str]] = {
    # name: (file text, expected line, expected text after "file:line: ")
    "yaml-syntax": (_replace("    category: spf\n", "    category: [spf\n"), 8, "invalid YAML"),
    "unknown-key": (
        _replace("    category: spf\n", "    category: spf\n    colour: red\n"),
        8,
        "rules[0].colour: unknown key",
    ),
    "bad-severity": (_replace("severity: info", "severity: fatal"), LINE["severity"], "rules[0].severity:"),
    "bad-id": (_replace("id: CUST001", "id: cust1"), LINE["id"], "rules[0].id:"),
    "unknown-name": (
        _replace('when: "spf.count == 1"', 'when: "spff.present"'),
        LINE["when"],
        "rules[0].when: unknown name 'spff'",
    ),
    "unknown-attribute": (
        _replace('when: "spf.count == 1"', 'when: "spf.nonexistent"'),
        LINE["when"],
        "rules[0].when: spf has no attribute 'nonexistent'",
    ),
    "private-attribute": (
        _replace('when: "spf.count == 1"', 'when: "().__class__.__base__"'),
        LINE["when"],
        "rules[0].when: attribute '__base__' is not allowed",
    ),
    "method-call": (
        _replace("{{ domain }} ends", "{{ spf.records.append(domain) }} ends"),
        LINE["message"],
        "rules[0].message: only the helper functions can be called",
    ),
    "jinja-syntax": (
        _replace("{{ domain }} ends", "{{ domain ends"),
        LINE["message"],
        "rules[0].message: syntax error",
    ),
    "missing-references": (
        _replace('    references:\n      - {rfc: 7208, section: "5.1", title: "RFC 7208 §5.1: all"}\n', ""),
        LINE["id"],
        "rules[0].references: required field is missing",
    ),
}


def _rule_dir(base: Path, name: str, text: str) -> Path:
    directory = base / name
    directory.mkdir()
    (directory / "custom.yaml").write_text(text, encoding="utf-8")
    return directory


def test_good_user_rule_loads(tmp_path: Path) -> None:
    """The unbroken rule loads next to the built-in ones."""
    directory = _rule_dir(tmp_path, "good", GOOD_RULE)
    ruleset = load_rules([rules_dir(), directory])
    assert ruleset.by_id("CUST001") is not None


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_rule_file_names_file_line_and_field(tmp_path: Path, name: str) -> None:
    """Each broken variant gives a RuleFileError reading `<file>:<line>: <field>: ...`."""
    text, line, expected = BROKEN[name]
    directory = _rule_dir(tmp_path, name, text)
    with pytest.raises(RuleFileError) as caught:
        load_rules([rules_dir(), directory])
    message = str(caught.value)
    assert message.startswith(f"{directory / 'custom.yaml'}:{line}: "), message
    assert expected in message, message
    assert "\n" not in message


def test_duplicate_id_across_directories_names_file_and_line(tmp_path: Path) -> None:
    """A rule id already used by a built-in rule names the second file and its line."""
    directory = _rule_dir(tmp_path, "dup", _replace("id: CUST001", "id: SPF001"))
    with pytest.raises(RuleFileError) as caught:
        load_rules([rules_dir(), directory])
    message = str(caught.value)
    assert "duplicate rule id SPF001" in message
    assert message.startswith(f"{directory / 'custom.yaml'}:{LINE['id']}: id: "), message


def test_duplicate_id_across_directories_names_file_and_field(tmp_path: Path) -> None:
    """What works today: the error names the later file, the field and the earlier definition."""
    first = _rule_dir(tmp_path, "first", GOOD_RULE)
    second = _rule_dir(tmp_path, "second", GOOD_RULE)
    with pytest.raises(RuleFileError) as caught:
        load_rules([rules_dir(), first, second])
    message = str(caught.value)
    assert message.startswith(f"{second / 'custom.yaml'}"), message
    assert "id: duplicate rule id CUST001" in message
    assert f"{first / 'custom.yaml'}:{LINE['id']}" in message


def test_rules_check_accepts_a_good_directory(tmp_path: Path) -> None:
    """`sendready rules check DIR` exits 0 and counts the directory's own rules."""
    directory = _rule_dir(tmp_path, "good", GOOD_RULE)
    result = CliRunner().invoke(app, ["rules", "check", str(directory)])
    assert result.exit_code == 0, result.output
    assert "1 rules OK" in result.stdout


@pytest.mark.parametrize("name", ["unknown-name", "bad-severity", "yaml-syntax"])
def test_rules_check_rejects_a_broken_directory(tmp_path: Path, name: str) -> None:
    """A broken directory: exit 2 and one line on stderr, no traceback."""
    text, line, expected = BROKEN[name]
    directory = _rule_dir(tmp_path, name, text)
    result = CliRunner().invoke(app, ["rules", "check", str(directory)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"sendready: error: {directory / 'custom.yaml'}:{line}: "), lines[0]
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_rules_check_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """The real entry point (`python -m auditor`) prints one line and exits 2."""
    text, line, _ = BROKEN["unknown-attribute"]
    directory = _rule_dir(tmp_path, "broken", text)
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "rules", "check", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"sendready: error: {directory / 'custom.yaml'}:{line}: rules[0].when: "
        "spf has no attribute 'nonexistent'"
    ]


def test_committed_rule_schema_is_current() -> None:
    """`rules/schema/rules.schema.json` is exactly what the pydantic models generate."""
    generated = RuleFile.model_json_schema(by_alias=True)
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == generated, (
        f"{SCHEMA_FILE.relative_to(REPO)} is out of date with auditor/engine/schema.py; "
        f"regenerate it from the repository root with:\n  {REGENERATE}"
    )


def test_built_in_rules_validate_against_the_committed_schema() -> None:
    """Every built-in rule file is valid under the published JSON Schema too."""
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for path in sorted(rules_dir().glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_docs_rule_index_lists_every_built_in_rule() -> None:
    """docs/rules.md has a row for each rule (id and name), and no row for a rule that is gone."""
    text = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    index = text[text.index("## Rule index") :]
    rows = dict(re.findall(r"^\| ([A-Z]+[0-9]{3}) \| `([a-z0-9-]+)` \|", index, flags=re.MULTILINE))
    rules = {r.id: r.spec.name for r in load_rules([rules_dir()]).rules}
    assert rows == rules

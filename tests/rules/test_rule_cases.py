"""Every built-in rule, tested from data: `cases/<RULE_ID>.yaml` lists facts and expected outcomes.

A case is `name`, optional `target` (DomainTarget overrides), optional `facts` (see
`factories.py`), `expect` (pass | fail | unknown | skipped) and, for failures, an optional
`record` (`{type, name, value[, priority]}`) that the first remediation record must equal.
`xfail: <reason>` marks a case that documents a known product bug (strict: it must fail).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.engine.catalogue import Catalogue, load_catalogue
from auditor.engine.evaluate import Evaluator
from auditor.engine.rules import RuleSet, load_rules
from auditor.model.findings import Finding, Status
from auditor.resources import rules_dir
from tests.rules.factories import build_facts, build_target

CASES_DIR = Path(__file__).parent / "cases"
CASE_KEYS = frozenset({"name", "target", "facts", "expect", "record", "xfail"})
STATUSES = frozenset(s.value for s in Status)


@dataclass(frozen=True)
class Case:
    """One row of a case file."""

    rule_id: str
    name: str
    target: dict[str, Any]
    facts: dict[str, Any]
    expect: str
    record: dict[str, Any] | None
    xfail: str | None
    source: str

    @property
    def id(self) -> str:
        return f"{self.rule_id}-{self.name}"


@cache
def ruleset() -> RuleSet:
    """The built-in rules, loaded once."""
    return load_rules([rules_dir()])


@cache
def catalogue() -> Catalogue:
    """The built-in provider catalogue, loaded once."""
    return load_catalogue(rules_dir() / "providers" / "catalogue.yaml")


def case_files() -> list[Path]:
    return sorted(CASES_DIR.glob("*.yaml"))


def load_cases() -> Iterator[Case]:
    """Every case of every case file, validated just enough to fail loudly on typos."""
    for path in case_files():
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(rows, list) and rows, f"{path.name}: expected a non-empty list of cases"
        for index, row in enumerate(rows):
            where = f"{path.name}[{index}]"
            assert isinstance(row, dict), f"{where}: a case is a mapping"
            assert not set(row) - CASE_KEYS, f"{where}: unknown key(s) {set(row) - CASE_KEYS}"
            assert row.get("expect") in STATUSES, f"{where}: expect must be one of {sorted(STATUSES)}"
            assert row.get("name"), f"{where}: a case needs a name"
            if row.get("record") is not None:
                assert row["expect"] == "fail", f"{where}: only failing cases have a record"
            yield Case(
                rule_id=path.stem,
                name=str(row["name"]),
                target=row.get("target") or {},
                facts=row.get("facts") or {},
                expect=row["expect"],
                record=row.get("record"),
                xfail=row.get("xfail"),
                source=where,
            )


CASES = list(load_cases())


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def finding_for(case: Case) -> Finding:
    """Evaluate the case's facts and return the one finding of its rule."""
    target = build_target(case.target)
    facts = build_facts(case.facts, target)
    report = Evaluator(ruleset(), catalogue()).evaluate(target, facts)
    findings = [f for f in report.findings if f.rule_id == case.rule_id]
    assert len(findings) == 1, (
        f"{case.source}: expected exactly one {case.rule_id} finding, got {len(findings)} "
        "(a dkim_selector rule gives one per selector; give exactly one selector)"
    )
    return findings[0]


@pytest.mark.parametrize("case", _params())
def test_rule_case(case: Case) -> None:
    """The rule reaches the expected status (and remediation record) for the case's facts."""
    finding = finding_for(case)
    detail = f"{case.source}: message={finding.message!r} reason={finding.reason!r}"
    assert finding.status == case.expect, detail
    if case.expect == "fail":
        assert finding.message, f"{case.source}: a failure needs a message"
        assert finding.remediation is not None, detail
        rendered = [finding.message, finding.remediation.summary, *finding.remediation.steps]
        rendered += [text for r in finding.remediation.records for text in (r.name, r.value)]
        for text in rendered:
            assert "(unavailable" not in text and "(template error" not in text, (
                f"{case.source}: rendered {text!r}"
            )
    if case.expect == "unknown":
        assert finding.reason and finding.reason.startswith("could not verify"), detail
    if case.record is not None:
        assert finding.remediation is not None and finding.remediation.records, detail
        first = finding.remediation.records[0]
        actual = {"type": first.type, "name": first.name, "value": first.value}
        if "priority" in case.record:
            actual["priority"] = first.priority
        assert actual == case.record, detail


def test_every_rule_has_a_pass_and_a_fail_case() -> None:
    """Each loaded rule has ≥1 pass and ≥1 fail case (not counting cases marked xfail)."""
    for rule in ruleset().rules:
        statuses = {c.expect for c in CASES if c.rule_id == rule.id and not c.xfail}
        assert {"pass", "fail"} <= statuses, f"{rule.id}: needs a pass and a fail case"


def test_rules_that_can_be_unknown_or_skipped_have_such_cases() -> None:
    """A rule with `requires` has an unknown case; a rule with `when` has a skipped case."""
    for rule in ruleset().rules:
        statuses = {c.expect for c in CASES if c.rule_id == rule.id and not c.xfail}
        if rule.spec.requires:
            assert "unknown" in statuses, f"{rule.id}: requires facts but has no unknown case"
        if rule.spec.when:
            assert "skipped" in statuses, f"{rule.id}: has a when but no skipped case"


def test_every_case_file_names_an_existing_rule() -> None:
    """No case file for a rule that does not exist (renamed or typo)."""
    known = {r.id for r in ruleset().rules}
    for path in case_files():
        assert path.stem in known, f"{path.name}: no rule {path.stem}"


def test_case_names_are_unique() -> None:
    """Test ids stay unique and stable."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})

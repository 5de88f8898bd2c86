"""One cause, one finding: a probe that could not start is reported once, not by every SMTP rule."""

from __future__ import annotations

from auditor.engine.evaluate import Evaluator
from auditor.model.findings import Status
from tests.rules.factories import build_facts, build_target
from tests.rules.test_rule_cases import catalogue, ruleset

NO_HOST = "the region is unknown, so the submission host is too; declare the region"


def smtp_statuses(facts_spec: dict, target_spec: dict) -> dict[str, Status]:
    target = build_target(target_spec)
    report = Evaluator(ruleset(), catalogue()).evaluate(target, build_facts(facts_spec, target))
    return {f.rule_id: f.status for f in report.findings if f.rule_id.startswith("SMTP")}


def test_probe_without_a_host_is_one_unknown_finding() -> None:
    # Given credentials, but no region declared or visible (no MX, no tracking CNAME)
    statuses = smtp_statuses(
        {
            "smtp": {"failure": "not_attempted", "detail": NO_HOST},
            "mx": {"hosts": []},
            "tracking": {"cname": None},
        },
        {"region": "auto", "smtp": {}},
    )
    # Then SMTP013 alone says the probe could not run; every rule about its replies is skipped
    unknown = [rule for rule, status in statuses.items() if status is Status.UNKNOWN]
    assert unknown == ["SMTP013"], statuses
    assert all(s is Status.SKIPPED for r, s in statuses.items() if r != "SMTP013"), statuses


def test_probe_that_ran_is_judged_by_every_rule() -> None:
    statuses = smtp_statuses({"smtp": {"outcome": "auth_failed"}}, {"smtp": {}})
    assert statuses["SMTP003"] is Status.FAIL
    assert sum(s is Status.SKIPPED for s in statuses.values()) <= 3, statuses  # only rules with extra whens

"""The closure compiler evaluates rule expressions and templates exactly as jinja2's sandbox does.

The reference is always jinja2 itself: the same text compiled by `ENVIRONMENT.compile_expression`
or `ENVIRONMENT.from_string`, evaluated on the same facts; values, rendered text and raised
exceptions must agree. Sandbox escapes are refused when the rule is loaded, on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jinja2
import pytest

from auditor.engine import expressions
from auditor.engine.catalogue import load_catalogue
from auditor.engine.evaluate import Evaluator
from auditor.engine.expressions import (
    ENVIRONMENT,
    ROOTS,
    CompileError,
    Unavailable,
    compile_condition,
    compile_template,
)
from auditor.engine.rules import RuleSet, load_rules
from auditor.resources import rules_dir
from tests.rules.factories import build_facts, build_target
from tests.rules.test_rule_cases import CASES


def _namespace() -> dict[str, Any]:
    """Real facts: a domain with two SPF includes, two MX hosts (one unresolvable), failed DMARC."""
    target = build_target()
    facts = build_facts(
        {
            "txt": {"records": ["v=spf1 include:mailgun.org include:_spf.example.net ~all", "hello"]},
            "mx": {"hosts": [{"host": "mxa.mailgun.org", "resolves": False}, "mxb.mailgun.org"]},
        },
        target,
    )
    catalogue = load_catalogue(rules_dir() / "providers" / "catalogue.yaml")
    return {
        "domain": target.name,
        "provider": catalogue.region("mailgun", "us"),
        "txt": facts.txt,
        "spf": facts.spf,
        "spf_tree": facts.spf_tree,
        "mx": facts.mx,
        "dkim": facts.dkim,
        "dmarc": Unavailable("dmarc", "TXT _dmarc.mg.example.com: timeout"),
        "tracking": facts.tracking,
    }


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a call gives, comparable across the two evaluators (undefined values by their error)."""
    try:
        value = call()
    except Exception as exc:
        return ("raises", type(exc), str(exc))
    if isinstance(value, jinja2.Undefined):
        try:
            str(value)
        except jinja2.UndefinedError as exc:
            return ("undefined", type(value), str(exc))
    if isinstance(value, Unavailable):
        return ("unavailable", id(value))
    if isinstance(value, Iterator):
        return ("iterator", list(value))
    return ("value", type(value), value)


EXPRESSIONS = [
    # names, attributes, items
    "domain",
    "spf.includes",
    "mx.hosts[0].host",
    "mx.hosts[1].resolves",
    "mx.hosts[5]",
    "txt.records['0']",
    "mx.hosts[0].nope",
    "mx.hosts[0].nope == 1",
    "mx.hosts.count",
    "spf.records.append",
    "provider.mx_hosts",
    "dmarc",
    "dmarc.records",
    "dmarc.records is none",
    # comparisons, logic, arithmetic, text
    "spf.count == 1",
    "1 <= spf.count < 3",
    "0 < spf.count > 5",
    "spf.count == 1 == 1",
    "spf.all_qualifier in ('+', '?')",
    "spf.all_qualifier not in ['+', '?']",
    "'mailgun.org' in spf.includes and not mx.null_mx",
    "mx.null_mx or mx.names",
    "not mx.hosts or spf.count",
    "spf.count or mx.names",
    "spf.count and mx.names",
    "mx.names and spf.count",
    "spf.count + 1",
    "spf.count * 3 - 1",
    "spf.count / 2",
    "7 // spf.count % 4",
    "-spf.count",
    "+spf.count",
    "domain ~ '/' ~ spf.count",
    "domain ~ dmarc.policy",
    "spf.count ~ mx.hosts[0].nope",
    "mx.hosts[0].nope ~ dmarc.policy",
    "spf.record if spf.present else 'none'",
    "dmarc.policy if not spf.present else mx.names",
    "[spf.count, domain]",
    "(spf.count, domain)",
    # filters and tests
    "mx.hosts | map(attribute='host') | join(', ')",
    "mx.hosts | selectattr('resolves', 'false') | list | length > 0",
    "mx.hosts | sort(attribute='host', reverse=true) | map(attribute='preference') | list",
    "spf.includes | select('in', provider.spf_includes) | list",
    "mx.names | reject('in', provider.mx_hosts) | list",
    "txt.records | first | upper",
    "spf.record is string",
    "spf.count is divisibleby 2",
    "spf.count is not none and spf.count is number",
    "dmarc | length",
    # helpers
    "spf_with_include(spf.record, provider.spf_include)",
    "spf_with_all(spf.record, qualifier='-')",
    "spf_merged(txt.records, include=provider.spf_include)",
    "dkim_placeholder()",
    "unverifiable(mx.hosts | selectattr('resolves', 'false') | map(attribute='host'), 'mx', 'no address')",
    "unverifiable([], 'mx', 'no address')",
]

TEMPLATES = [
    "",
    "plain text, no tags\n",
    "{{ domain }}",
    "{{ spf.count }} include(s) at {{ domain }}: {{ spf.includes | join(', ') }}.",
    "{{ mx.hosts[0] }}",
    "{{ none }} {{ true }} {{ 1.5 }}",
    "{% if spf.count > 1 %}many{% elif spf.present %}one: {{ spf.record }}{% else %}none{% endif %}!",
    "{% if mx.null_mx %}null{% endif %}{% if mx.names %}{{ mx.names | join(' ') | upper }}{% endif %}",
    "Policy {{ dmarc.policy }} for {{ domain }}",
    "{{ domain }} {% if dmarc.records %}x{% endif %}",
    "{{ mx.hosts[0].nope }}",
    "{{ spf_with_include(spf.record, provider.spf_include) }}",
    "  leading and trailing  \n\n",
]


@pytest.fixture(scope="module")
def namespace() -> dict[str, Any]:
    return _namespace()


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_expression_agrees_with_jinja2(text: str, namespace: dict[str, Any]) -> None:
    compiled = compile_condition(text, ROOTS)
    assert compiled.native, f"{text!r} fell back to jinja2"
    reference = ENVIRONMENT.compile_expression(text, undefined_to_none=False)
    assert _outcome(lambda: compiled(namespace)) == _outcome(lambda: reference(**namespace))


@pytest.mark.parametrize("text", TEMPLATES)
def test_template_agrees_with_jinja2(text: str, namespace: dict[str, Any]) -> None:
    compiled = compile_template(text, ROOTS)
    assert compiled.native, f"{text!r} fell back to jinja2"
    reference = ENVIRONMENT.from_string(text)
    assert _outcome(lambda: compiled.render(namespace)) == _outcome(lambda: reference.render(**namespace))


def test_expressions_the_outcome_check_can_tell_apart(namespace: dict[str, Any]) -> None:
    """The comparison above is not vacuous: different results compare unequal."""
    one = compile_condition("spf.count", ROOTS)
    other = compile_condition("spf.count + 1", ROOTS)
    failing = compile_condition("dmarc.records", ROOTS)
    assert _outcome(lambda: one(namespace)) != _outcome(lambda: other(namespace))
    assert _outcome(lambda: failing(namespace))[0] == "raises"


@pytest.mark.parametrize(
    "text",
    [
        "spf.count ** 2",
        "spf.records[0:1]",
        "'yes' if spf.present",
        "spf.includes | map('upper', *spf.includes) | list",
    ],
)
def test_other_constructs_keep_jinja2(text: str, namespace: dict[str, Any]) -> None:
    """Outside the compiled subset the rule still works, through jinja2's sandbox code."""
    compiled = compile_condition(text, ROOTS)
    assert not compiled.native
    reference = ENVIRONMENT.compile_expression(text, undefined_to_none=False)
    assert _outcome(lambda: compiled(namespace)) == _outcome(lambda: reference(**namespace))


def test_template_with_a_loop_keeps_jinja2(namespace: dict[str, Any]) -> None:
    text = "{% for r in txt.records %}[{{ r }}]{% endfor %}"
    compiled = compile_template(text, ROOTS)
    assert not compiled.native
    assert compiled.render(namespace) == ENVIRONMENT.from_string(text).render(**namespace)
    assert compiled.render(namespace).startswith("[v=spf1 include:mailgun.org")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spf.__class__", "attribute '__class__' is not allowed"),
        ("().__class__.__mro__", "attribute '__mro__' is not allowed"),
        ("spf.records.__len__()", "not method '__len__'"),
        ("spf._fields", "attribute '_fields' is not allowed"),
        ("spf.records['__class__']", "attribute '__class__' is not allowed"),
        ("mx.hosts | map(attribute='__class__') | list", "attribute '__class__' is not allowed"),
        ("mx.hosts | selectattr('host.__class__') | list", "attribute '__class__' is not allowed"),
        ("spf | attr('__class__')", "attribute '__class__' is not allowed"),
        ("spf.records.append('x')", "not method 'append'"),
        ("spf.record.upper() == 'X'", "not method 'upper'"),
        ("spf.record.format(spf)", "not method 'format'"),
        ("[spf_with_all][0](spf.record)", "only the helper functions can be called"),
    ],
)
def test_sandbox_escapes_are_refused_at_load(text: str, message: str) -> None:
    with pytest.raises(CompileError) as caught:
        compile_condition(text, ROOTS)
    assert message in str(caught.value)
    with pytest.raises(CompileError) as caught:
        compile_template("{{ " + text + " }}", ROOTS)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spf.records | no_such_filter", "No filter named 'no_such_filter'"),
        ("spf.record is no_such_test", "No test named 'no_such_test'"),
        ("spf.count +", "syntax error"),
        ("spf.count }} {{ domain", "syntax error"),
    ],
)
def test_what_jinja2_refuses_is_still_a_load_error(text: str, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        compile_condition(text, ROOTS)
    if message.startswith("No "):
        with pytest.raises(CompileError, match=message):
            compile_template("{{ " + text + " }}", ROOTS)


def test_a_loop_variable_cannot_reach_private_attributes() -> None:
    with pytest.raises(CompileError, match="'__class__' is not allowed"):
        compile_template("{% for r in txt.records %}{{ r.__class__ }}{% endfor %}", ROOTS)


def test_every_built_in_rule_is_compiled_to_closures() -> None:
    """No built-in rule silently takes the slower jinja2 path."""
    for rule in load_rules([rules_dir()]).rules:
        parts: list[Any] = [rule.when, rule.condition, rule.message, rule.pass_message, rule.summary]
        parts += [*rule.steps, *(e for _, e in rule.evidence)]
        parts += [p for r in rule.records for p in (r.name, r.value, r.priority, r.each)]
        for part in parts:
            if part is not None:
                assert part.native, f"{rule.id}: {part!r}"


def _jinja2_ruleset(monkeypatch: pytest.MonkeyPatch) -> RuleSet:
    """The built-in rules compiled without closures: every part runs jinja2's own code."""
    with monkeypatch.context() as patch:
        patch.setattr(expressions.COMPILER, "build_expression", lambda tree: None)
        patch.setattr(expressions.COMPILER, "build_template", lambda tree: None)
        ruleset = load_rules([rules_dir()])
    assert not ruleset.rules[0].condition.native
    return ruleset


def test_every_rule_case_gives_the_same_report_as_jinja2(monkeypatch: pytest.MonkeyPatch) -> None:
    """All rules over the facts of every rule case: the whole report is the same either way."""
    catalogue = load_catalogue(rules_dir() / "providers" / "catalogue.yaml")
    native = Evaluator(load_rules([rules_dir()]), catalogue)
    reference = Evaluator(_jinja2_ruleset(monkeypatch), catalogue)
    statuses = set()
    for case in CASES:
        target = build_target(case.target)
        facts = build_facts(case.facts, target)
        report = native.evaluate(target, facts)
        assert report == reference.evaluate(target, facts), case.source
        statuses |= {f.status for f in report.findings}
    assert {s.value for s in statuses} == {"pass", "fail", "unknown", "skipped"}

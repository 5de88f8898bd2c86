"""Rule conditions and message templates, compiled once from jinja2's syntax (no `eval`).

Conditions are jinja2 expressions (`spf_tree.lookups > 10`); messages and records are jinja2
templates (`{{ domain }}`). Unknown names, unknown attributes of fact areas, private attributes
(`x.__class__`) and calls of anything but the helpers (`x.append(1)`) are load errors, so a typo
never silently passes and no sandbox escape reaches evaluation. What remains is evaluated by
closures built from the syntax tree (`auditor.engine.compiler`): no jinja2 Context per call. A
construct the closure compiler does not cover keeps jinja2's immutable sandbox code instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from auditor.engine.account_compare import AccountView
from auditor.engine.catalogue import ProviderRegion, common_attributes
from auditor.engine.compiler import ClosureCompiler
from auditor.engine.dmarc_alignment import DmarcAlignment
from auditor.engine.dmarc_helpers import DMARC_HELPERS
from auditor.engine.mail_domain_helpers import MAIL_DOMAIN_HELPERS
from auditor.engine.provider_helpers import PROVIDER_HELPERS
from auditor.model.dnssec import DnssecFacts
from auditor.model.facts import (
    DkimFacts,
    DkimKeyFacts,
    DmarcFacts,
    MxFacts,
    ReturnPathFacts,
    SpfFacts,
    SpfTreeFacts,
    TrackingFacts,
    TxtFacts,
)
from auditor.model.mail_domain import BimiFacts, MtaStsFacts, TlsRptFacts
from auditor.model.report import RegionView
from auditor.model.smtp import SmtpPlan, SmtpProbeFacts
from auditor.protocol.spf import merge_records, with_all, with_include
from auditor.protocol.spf_eval import SpfCheck


class FactUnavailable(Exception):
    """Raised when a rule touches a fact area that could not be collected."""

    def __init__(self, area: str, detail: str) -> None:
        super().__init__(f"{area}: {detail}")
        self.area = area
        self.detail = detail


class Unavailable:
    """Stands in for a failed fact area; any use of it raises `FactUnavailable`."""

    __slots__ = ("_area", "_detail")

    def __init__(self, area: str, detail: str) -> None:
        self._area = area
        self._detail = detail

    def _raise(self, *_: object, **__: object) -> Any:
        raise FactUnavailable(self._area, self._detail)

    __getattr__ = _raise
    __getitem__ = _raise
    __contains__ = _raise
    __iter__ = _raise
    __len__ = _raise
    __bool__ = _raise
    __eq__ = _raise  # type: ignore[assignment]
    __lt__ = _raise
    __gt__ = _raise
    __str__ = _raise
    __hash__ = None  # type: ignore[assignment]


class RegionlessProvider:
    """The provider when its region is unknown: region-independent facts only.

    Whatever the catalogue says identically for every region is available (the title, the DKIM
    selectors, Mailgun's include:mailgun.org, documented for both regions); `spf_includes` is the
    union of every region's. Asking for a region-specific value (MX hosts, tracking target)
    raises `FactUnavailable`, which makes region-specific rules `unknown`.
    """

    __slots__ = ("_detail", "_values")

    def __init__(self, regions: list[ProviderRegion], detail: str) -> None:
        self._values = common_attributes(regions)
        self._detail = detail

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise FactUnavailable("region", self._detail) from None


def unavailable(value: object) -> FactUnavailable | None:
    """Why `value` stands in for a fact that could not be collected, or None if it is real."""
    if isinstance(value, Unavailable):
        return FactUnavailable(
            object.__getattribute__(value, "_area"), object.__getattribute__(value, "_detail")
        )
    if isinstance(value, RegionlessProvider):
        return FactUnavailable("region", object.__getattribute__(value, "_detail"))
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class TargetView:
    """What the inventory says about the domain, as rules see it (`target.receiving`...)."""

    provider: str
    region: str
    receiving: bool
    tracking: bool
    dkim_selectors: tuple[str, ...]
    smtp_configured: bool = False
    smtp_username: str | None = None
    smtp_password_ref: str | None = None
    """The reference (`env:NAME`), never the secret."""
    smtp_probed: bool = False
    """The probe ran (it has replies to judge); false when it could not start, e.g. no host."""
    account_checked: bool = False
    """An API key was given, so the provider's account was asked about the domain."""
    dnssec_checked: bool = False
    """DNSSEC was validated for this run (`--dnssec`); the DNSSEC rules are skipped otherwise."""
    mta_sts_fetched: bool = True
    """MTA-STS policies were fetched (not `--no-mta-sts-fetch`); the policy rules are skipped otherwise."""


# Root names a rule may use, with the type behind each (for load-time attribute checks).
ROOTS: dict[str, type | None] = {
    "domain": None,
    "target": TargetView,
    "provider": ProviderRegion,
    "region": RegionView,
    "txt": TxtFacts,
    "spf": SpfFacts,
    "spf_tree": SpfTreeFacts,
    "spf_check": SpfCheck,
    "dkim": DkimFacts,
    "mx": MxFacts,
    "dmarc": DmarcFacts,
    "tracking": TrackingFacts,
    "return_path": ReturnPathFacts,
    "dnssec": DnssecFacts,
    "smtp": SmtpProbeFacts,
    "smtp_plan": SmtpPlan,
    "account": AccountView,
    "mta_sts": MtaStsFacts,
    "tlsrpt": TlsRptFacts,
    "bimi": BimiFacts,
    "item": None,
    "dmarc_alignment": DmarcAlignment,
}
SELECTOR_ROOTS: dict[str, type | None] = {**ROOTS, "dkim": DkimKeyFacts}


def _dkim_placeholder(provider: ProviderRegion | None = None) -> str:
    return "k=rsa; p=<the public key shown in your provider's DNS settings for this selector>"


def _unverifiable(items: Any, area: str, what: str) -> bool:
    """False when `items` is empty; otherwise the rule is `unknown` because of them."""
    items = list(items)
    if items:
        raise FactUnavailable(area, f"{what}: {', '.join(str(i) for i in items)}")
    return False


HELPERS: dict[str, Callable[..., Any]] = {
    "unverifiable": _unverifiable,
    "spf_with_all": with_all,
    "spf_with_include": with_include,
    "spf_merged": merge_records,
    "dkim_placeholder": _dkim_placeholder,
    **PROVIDER_HELPERS,
    **DMARC_HELPERS,
    **MAIL_DOMAIN_HELPERS,
}


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.globals.update(HELPERS)
    return env


ENVIRONMENT = _environment()
COMPILER = ClosureCompiler(ENVIRONMENT, HELPERS)

# Filters whose argument names an attribute to read (`map(attribute='x')`, `selectattr('x')`).
_ATTRIBUTE_FILTERS = frozenset({"attr", "selectattr", "rejectattr"})


class CompileError(ValueError):
    """A condition or template that does not compile or names something unknown."""


class Expression:
    """A compiled condition, `when`, evidence or `each`: `expression(namespace)` is its value."""

    __slots__ = ("_evaluate", "native", "source")

    def __init__(self, source: str, evaluate: Callable[[Mapping[str, Any]], Any], native: bool) -> None:
        self.source = source
        self.native = native
        """True when evaluated by closures, False when by jinja2's compiled code."""
        self._evaluate = evaluate

    def __call__(self, namespace: Mapping[str, Any]) -> Any:
        return self._evaluate(namespace)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class TextTemplate:
    """A compiled message, remediation or record template: `template.render(namespace)`."""

    __slots__ = ("_render", "native", "source")

    def __init__(self, source: str, render: Callable[[Mapping[str, Any]], str], native: bool) -> None:
        self.source = source
        self.native = native
        self._render = render

    def render(self, namespace: Mapping[str, Any]) -> str:
        return self._render(namespace)

    def __repr__(self) -> str:
        return f"TextTemplate({self.source!r})"


def _names(tree: nodes.Node) -> Iterator[nodes.Name]:
    yield from tree.find_all(nodes.Name)


def _check_names(tree: nodes.Node, roots: dict[str, type | None], local: set[str]) -> None:
    _check_safety(tree, local)
    for name in _names(tree):
        if name.ctx != "load" or name.name in local:
            continue
        if name.name not in roots and name.name not in HELPERS:
            raise CompileError(f"unknown name {name.name!r}")
    for getattr_node in tree.find_all(nodes.Getattr):
        base = getattr_node.node
        if isinstance(base, nodes.Name) and roots.get(base.name) is not None:
            owner = roots[base.name]
            assert owner is not None
            if not _has_attribute(owner, getattr_node.attr):
                raise CompileError(f"{base.name} has no attribute {getattr_node.attr!r}")


def _check_safety(tree: nodes.Node, local: set[str]) -> None:
    """Refuse, at load, what jinja2's sandbox would only refuse (or quietly undefine) at run time."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            _refuse_private(node.attr)
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                _refuse_private(node.arg.value)
        elif isinstance(node, nodes.Call):
            callee = node.node
            if not (isinstance(callee, nodes.Name) and callee.name in HELPERS and callee.name not in local):
                helpers = ", ".join(sorted(HELPERS))
                raise CompileError(
                    f"only the helper functions can be called ({helpers}), not {_describe(callee)}"
                )
        else:
            named = [k.value for k in node.kwargs if k.key == "attribute"]
            if node.name in _ATTRIBUTE_FILTERS and node.args:
                named.append(node.args[0])
            for value in named:
                if isinstance(value, nodes.Const) and isinstance(value.value, str):
                    for part in value.value.split("."):
                        _refuse_private(part)


def _refuse_private(attr: str) -> None:
    if attr.startswith("_"):
        raise CompileError(f"attribute {attr!r} is not allowed (names starting with '_' are private)")


def _describe(node: nodes.Node) -> str:
    if isinstance(node, nodes.Getattr):
        return f"method {node.attr!r}"
    if isinstance(node, nodes.Name):
        return repr(node.name)
    return f"a {type(node).__name__.lower()} expression"


def _has_attribute(owner: type, attr: str) -> bool:
    if dataclasses.is_dataclass(owner) and attr in {f.name for f in dataclasses.fields(owner)}:
        return True
    return isinstance(getattr(owner, attr, None), property)


def _parse_expression(text: str) -> nodes.Expr:
    """The expression exactly as `Environment.compile_expression` parses it."""
    parser = Parser(ENVIRONMENT, text, state="variable")
    expression = parser.parse_expression()
    if not parser.stream.eos:
        raise jinja2.TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
    expression.set_environment(ENVIRONMENT)
    return expression


def compile_condition(text: str, roots: dict[str, type | None]) -> Expression:
    """Compile a one-line jinja2 expression, checking every name it uses."""
    try:
        tree = ENVIRONMENT.parse("{{ " + text + " }}")
        _check_names(tree, roots, local=set())
        expression = _parse_expression(text)
        _check_names(expression, roots, local=set())
        evaluate = COMPILER.build_expression(expression)
        if evaluate is not None:
            return Expression(text, evaluate, native=True)
        # jinja2's code generator only for what the closures do not cover (it also reports what
        # only it can: an unknown filter or test name, for one).
        fallback = ENVIRONMENT.compile_expression(text, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(f"syntax error: {exc.message}") from None
    return Expression(text, lambda namespace: fallback(namespace), native=False)


def compile_template(text: str, roots: dict[str, type | None]) -> TextTemplate:
    """Compile a message or record template, checking every name it uses."""
    try:
        tree = ENVIRONMENT.parse(text)
        local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        if any(True for _ in tree.find_all(nodes.For)):
            local.add("loop")  # jinja2's loop variable inside {% for %}
        _check_names(tree, roots, local)
        render = COMPILER.build_template(tree)
        if render is not None:
            return TextTemplate(text, render, native=True)
        fallback = ENVIRONMENT.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(f"syntax error: {exc.message}") from None
    return TextTemplate(text, lambda namespace: fallback.render(namespace), native=False)

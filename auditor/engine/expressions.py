"""Rule conditions and message templates, compiled once by jinja2's sandbox (no `eval`).

Conditions are jinja2 expressions (`spf_tree.lookups > 10`); messages and records are jinja2
templates (`{{ domain }}`). The immutable sandbox refuses attribute tricks and mutation; unknown
names and unknown attributes of fact areas are load errors, so a typo never silently passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from auditor.engine.catalogue import ProviderRegion, common_attributes
from auditor.engine.provider_helpers import PROVIDER_HELPERS
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
from auditor.model.report import RegionView
from auditor.model.smtp import SmtpPlan, SmtpProbeFacts
from auditor.protocol.spf import merge_records, with_all, with_include


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


# Root names a rule may use, with the type behind each (for load-time attribute checks).
ROOTS: dict[str, type | None] = {
    "domain": None,
    "target": TargetView,
    "provider": ProviderRegion,
    "region": RegionView,
    "txt": TxtFacts,
    "spf": SpfFacts,
    "spf_tree": SpfTreeFacts,
    "dkim": DkimFacts,
    "mx": MxFacts,
    "dmarc": DmarcFacts,
    "tracking": TrackingFacts,
    "return_path": ReturnPathFacts,
    "smtp": SmtpProbeFacts,
    "smtp_plan": SmtpPlan,
    "item": None,
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
}


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.globals.update(HELPERS)
    return env


ENVIRONMENT = _environment()


class CompileError(ValueError):
    """A condition or template that does not compile or names something unknown."""


def _names(tree: nodes.Node) -> Iterator[nodes.Name]:
    yield from tree.find_all(nodes.Name)


def _check_names(tree: nodes.Node, roots: dict[str, type | None], local: set[str]) -> None:
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


def _has_attribute(owner: type, attr: str) -> bool:
    if dataclasses.is_dataclass(owner) and attr in {f.name for f in dataclasses.fields(owner)}:
        return True
    return isinstance(getattr(owner, attr, None), property)


def compile_condition(text: str, roots: dict[str, type | None]) -> Callable[..., Any]:
    """Compile a one-line jinja2 expression, checking every name it uses."""
    try:
        tree = ENVIRONMENT.parse("{{ " + text + " }}")
        _check_names(tree, roots, local=set())
        return ENVIRONMENT.compile_expression(text, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(f"syntax error: {exc.message}") from None


def compile_template(text: str, roots: dict[str, type | None]) -> jinja2.Template:
    """Compile a message or record template, checking every name it uses."""
    try:
        tree = ENVIRONMENT.parse(text)
        local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        _check_names(tree, roots, local)
        return ENVIRONMENT.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(f"syntax error: {exc.message}") from None

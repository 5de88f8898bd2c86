"""The strict RFC 7208 record grammar (§4.6.1, §5, §6, §12), for check_host(), pure.

`auditor.protocol.spf` is the lenient parser behind the record facts: it splits on any
whitespace and collects problems so a report can list them all. check_host() needs the opposite:
the first deviation from the ABNF is a permerror (§4.6), terms are separated by spaces only (a
tab, CR or LF inside a record is an error, not a separator), and every domain-spec and macro is
checked before anything is evaluated. So this module parses into typed terms or raises
`SpfSyntaxError` naming the offending term.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from auditor.protocol.spf import is_spf
from auditor.protocol.spf_macro import MacroString, MacroSyntaxError, parse_domain_spec, parse_macro_string

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.\-]*)=(.*)", re.DOTALL)
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"  # §12: no leading zeros
_IP4 = re.compile(rf"{_QNUM}(?:\.{_QNUM}){{3}}")
_IP6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
_CIDR = re.compile(r"0|[1-9][0-9]*")
_DUAL_CIDR = re.compile(r"(?P<spec>.*?)(?:/(?P<v4>[0-9]+))?(?://(?P<v6>[0-9]+))?", re.DOTALL)


class SpfSyntaxError(ValueError):
    """The record breaks the RFC 7208 grammar: check_host() returns permerror."""


class Mechanism(StrEnum):
    ALL = "all"
    INCLUDE = "include"
    A = "a"
    MX = "mx"
    PTR = "ptr"
    IP4 = "ip4"
    IP6 = "ip6"
    EXISTS = "exists"

    @property
    def queries_dns(self) -> bool:
        """§4.6.4: these mechanisms count toward the limit of 10 DNS-querying terms."""
        return self in (Mechanism.INCLUDE, Mechanism.A, Mechanism.MX, Mechanism.PTR, Mechanism.EXISTS)


class Qualifier(StrEnum):
    PASS = "+"
    FAIL = "-"
    SOFTFAIL = "~"
    NEUTRAL = "?"


@dataclass(frozen=True, slots=True)
class Directive:
    """A qualifier and a mechanism with its arguments."""

    text: str
    qualifier: Qualifier
    mechanism: Mechanism
    domain_spec: MacroString | None = None  # include, a, mx, ptr, exists
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # ip4, ip6
    cidr4: int = 32  # a, mx
    cidr6: int = 128  # a, mx


@dataclass(frozen=True, slots=True)
class Modifier:
    """`name=value`; redirect and exp carry a parsed domain-spec, others are kept as text."""

    text: str
    name: str
    value: str
    domain_spec: MacroString | None = None


@dataclass(frozen=True, slots=True)
class SpfRecordTerms:
    """A record that parsed without error: its directives in order and its modifiers."""

    text: str
    directives: tuple[Directive, ...]
    redirect: Modifier | None
    explanation: Modifier | None
    other_modifiers: tuple[Modifier, ...]

    @property
    def has_all(self) -> bool:
        return any(d.mechanism is Mechanism.ALL for d in self.directives)


@lru_cache(maxsize=4096)
def parse_record(text: str) -> SpfRecordTerms:
    """Parse an SPF record (already selected by its `v=spf1` prefix) or raise `SpfSyntaxError`.

    Memoised: a provider's include records (and the many identical customer records) are parsed
    once per process instead of once per domain that reaches them; the result is immutable.
    """
    if not is_spf(text):
        raise SpfSyntaxError("record does not start with 'v=spf1'")
    directives: list[Directive] = []
    modifiers: dict[str, Modifier] = {}
    others: list[Modifier] = []
    for term in text[len("v=spf1") :].split(" "):
        if not term:
            continue  # 1*SP between terms and *SP at the end
        modifier = _MODIFIER.fullmatch(term)
        if modifier is not None:
            parsed = _parse_modifier(term, modifier.group(1).lower(), modifier.group(2))
            if parsed.name in ("redirect", "exp"):
                if parsed.name in modifiers:
                    raise SpfSyntaxError(f"{parsed.name}= appears more than once (RFC 7208 §6)")
                modifiers[parsed.name] = parsed
            else:
                others.append(parsed)
            continue
        directives.append(_parse_directive(term))
    return SpfRecordTerms(
        text, tuple(directives), modifiers.get("redirect"), modifiers.get("exp"), tuple(others)
    )


def strict_errors(text: str) -> tuple[str, ...]:
    """The §12 grammar's verdict on `text` for a report: () when valid, else the first error."""
    try:
        parse_record(text)
    except SpfSyntaxError as exc:
        return (str(exc),)
    return ()


def _parse_modifier(term: str, name: str, value: str) -> Modifier:
    try:
        if name in ("redirect", "exp"):
            return Modifier(term, name, value, parse_domain_spec(value))
        parse_macro_string(value)  # unknown modifiers are ignored, but must be well-formed (§6)
    except MacroSyntaxError as exc:
        raise SpfSyntaxError(f"{term!r}: {exc}") from None
    return Modifier(term, name, value)


def _parse_directive(term: str) -> Directive:
    qualifier = Qualifier.PASS
    body = term
    if body[0] in "+-~?":
        qualifier, body = Qualifier(body[0]), body[1:]
    split = re.search(r"[:/]", body)
    name = (body[: split.start()] if split else body).lower()
    rest = body[split.start() :] if split else ""
    try:
        mechanism = Mechanism(name)
    except ValueError:
        raise SpfSyntaxError(f"unknown mechanism in {term!r}") from None
    try:
        return _parse_arguments(term, qualifier, mechanism, rest)
    except MacroSyntaxError as exc:
        raise SpfSyntaxError(f"{term!r}: {exc}") from None


def _parse_arguments(term: str, qualifier: Qualifier, mechanism: Mechanism, rest: str) -> Directive:
    if mechanism is Mechanism.ALL:
        if rest:
            raise SpfSyntaxError(f"'all' takes no argument: {term!r}")
        return Directive(term, qualifier, mechanism)
    if mechanism in (Mechanism.INCLUDE, Mechanism.EXISTS, Mechanism.PTR):
        if not rest and mechanism is Mechanism.PTR:
            return Directive(term, qualifier, mechanism)
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{mechanism.value} needs ':' and a domain: {term!r}")
        return Directive(term, qualifier, mechanism, domain_spec=parse_domain_spec(rest[1:]))
    if mechanism in (Mechanism.A, Mechanism.MX):
        return _parse_a_or_mx(term, qualifier, mechanism, rest)
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"{mechanism.value} needs ':' and an address: {term!r}")
    return Directive(term, qualifier, mechanism, network=_parse_network(term, mechanism, rest[1:]))


def _parse_a_or_mx(term: str, qualifier: Qualifier, mechanism: Mechanism, rest: str) -> Directive:
    has_domain = rest.startswith(":")
    match = _DUAL_CIDR.fullmatch(rest[1:] if has_domain else rest)
    assert match is not None  # the pattern matches any text
    spec_text, v4, v6 = match.group("spec"), match.group("v4"), match.group("v6")
    if not has_domain and spec_text:
        raise SpfSyntaxError(f"invalid CIDR length in {term!r}")
    cidr4 = _cidr(v4, 32, term) if v4 is not None else 32
    cidr6 = _cidr(v6, 128, term) if v6 is not None else 128
    spec = parse_domain_spec(spec_text) if has_domain else None
    return Directive(term, qualifier, mechanism, domain_spec=spec, cidr4=cidr4, cidr6=cidr6)


def _cidr(text: str, maximum: int, term: str) -> int:
    if not _CIDR.fullmatch(text) or int(text) > maximum:
        raise SpfSyntaxError(f"invalid CIDR length /{text} in {term!r}")
    return int(text)


def _parse_network(
    term: str, mechanism: Mechanism, value: str
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address, slash, length_text = value.partition("/")
    maximum = 32 if mechanism is Mechanism.IP4 else 128
    length = _cidr(length_text, maximum, term) if slash else maximum
    if mechanism is Mechanism.IP4:
        if not _IP4.fullmatch(address):
            raise SpfSyntaxError(f"invalid IPv4 address in {term!r}")
        return ipaddress.IPv4Network(f"{address}/{length}", strict=False)
    # RFC 4291 §2.2 text forms only: Python would also take a zone index ("%eth0").
    if not _IP6_CHARS.fullmatch(address):
        raise SpfSyntaxError(f"invalid IPv6 address in {term!r}")
    try:
        return ipaddress.IPv6Network(f"{address}/{length}", strict=False)
    except ValueError:
        raise SpfSyntaxError(f"invalid IPv6 address in {term!r}") from None

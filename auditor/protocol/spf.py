"""SPF record parsing (RFC 7208 §4.6, §5, §6, §12), pure: no lookups happen here.

The walker in `auditor.collect.dns.spf` asks this module what a record needs resolved next.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# RFC 7208 §4.6.4: these terms cause DNS queries and count toward the limit of 10.
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
QUALIFIERS = "+-~?"
LOOKUP_LIMIT = 10
VOID_LOOKUP_LIMIT = 2

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MACRO = re.compile(r"%(?:\{[slodiphcrtv]\d*r?[-.+,/_=]*\}|%|_|-)", re.IGNORECASE)


def is_spf(text: str) -> bool:
    """RFC 7208 §4.5: a record is SPF when it is exactly `v=spf1` or starts with `v=spf1 `."""
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


@dataclass(frozen=True, slots=True)
class SpfTerm:
    """One directive (`~all`, `include:x`) or modifier (`redirect=x`)."""

    text: str
    name: str
    qualifier: str
    value: str | None
    modifier: bool

    @property
    def counts_lookup(self) -> bool:
        return (not self.modifier and self.name in LOOKUP_MECHANISMS) or (
            self.modifier and self.name == "redirect"
        )

    @property
    def has_macro(self) -> bool:
        return self.value is not None and "%" in self.value

    def target(self, current_domain: str) -> str:
        """The domain this term queries: its domain-spec, without any CIDR suffix."""
        if self.value is None:
            return current_domain
        spec = self.value.split("/", 1)[0] if self.name in ("a", "mx") else self.value
        return spec.rstrip(".").lower() or current_domain


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed SPF record."""

    text: str
    terms: tuple[SpfTerm, ...]
    errors: tuple[str, ...]

    @property
    def includes(self) -> tuple[str, ...]:
        return tuple(
            t.value.rstrip(".").lower()
            for t in self.terms
            if t.name == "include" and not t.modifier and t.value
        )

    @property
    def redirect(self) -> str | None:
        for term in self.terms:
            if term.modifier and term.name == "redirect" and term.value:
                return term.value.rstrip(".").lower()
        return None

    @property
    def all_qualifier(self) -> str | None:
        for term in self.terms:
            if term.name == "all" and not term.modifier:
                return term.qualifier
        return None

    @property
    def lookup_terms(self) -> tuple[SpfTerm, ...]:
        """Terms that cost a DNS lookup; `redirect` is ignored when `all` is present (§6.1)."""
        has_all = self.all_qualifier is not None
        return tuple(
            t for t in self.terms if t.counts_lookup and not (t.modifier and t.name == "redirect" and has_all)
        )


def parse_spf(text: str) -> SpfRecord:
    """Parse `text` (an SPF record); problems are collected, never raised."""
    tokens = text.split()
    errors: list[str] = []
    if not tokens or tokens[0].lower() != "v=spf1":
        return SpfRecord(text, (), ("record does not start with v=spf1",))
    terms: list[SpfTerm] = []
    seen_modifiers: set[str] = set()
    for token in tokens[1:]:
        term = _parse_term(token, errors)
        if term is None:
            continue
        if term.modifier and term.name in ("redirect", "exp"):
            if term.name in seen_modifiers:
                errors.append(f"{term.name}= appears more than once (RFC 7208 §6)")
            seen_modifiers.add(term.name)
        terms.append(term)
    return SpfRecord(text, tuple(terms), tuple(errors))


def _parse_term(token: str, errors: list[str]) -> SpfTerm | None:
    modifier = _MODIFIER.match(token)
    if modifier and ":" not in modifier.group(1):
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            if not value:
                errors.append(f"{name}= has no domain")
                return None
            _check_domain_spec(value, token, errors)
        return SpfTerm(token, name, "", value, True)
    qualifier = "+"
    body = token
    if body[0] in QUALIFIERS:
        qualifier, body = body[0], body[1:]
    name, sep, value = body.partition(":")
    name = name.lower()
    cidr_only = None
    if not sep and "/" in name and name.split("/", 1)[0] in ("a", "mx"):
        name, cidr_only = name.split("/", 1)
    if name not in MECHANISMS:
        errors.append(f"unknown mechanism {token!r}")
        return None
    if name in ("include", "exists", "ip4", "ip6") and not value:
        errors.append(f"{name} needs a value in {token!r}")
        return None
    if name == "all" and sep:
        errors.append(f"'all' takes no value in {token!r}")
        return None
    if name == "ip4" or name == "ip6":
        _check_network(name, value, token, errors)
    elif name in ("a", "mx"):
        spec, _, cidr = value.partition("/") if sep else ("", "", cidr_only or "")
        if spec:
            _check_domain_spec(spec, token, errors)
        if cidr and not _valid_dual_cidr(cidr):
            errors.append(f"invalid CIDR length in {token!r}")
    elif name in ("include", "exists", "ptr") and value:
        _check_domain_spec(value, token, errors)
    full_value = value if sep else (f"/{cidr_only}" if cidr_only else None)
    return SpfTerm(token, name, qualifier, full_value or None, False)


def _valid_dual_cidr(text: str) -> bool:
    parts = text.split("/")
    try:
        if len(parts) == 1:
            return 0 <= int(parts[0]) <= 32
        if len(parts) == 3 and parts[1] == "":
            v4_ok = parts[0] == "" or 0 <= int(parts[0]) <= 32
            return v4_ok and 0 <= int(parts[2]) <= 128
    except ValueError:
        return False
    return False


def _check_network(name: str, value: str, token: str, errors: list[str]) -> None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        errors.append(f"invalid address in {token!r}")
        return
    if (name == "ip4") != (network.version == 4):
        errors.append(f"{name} holds an IPv{network.version} address in {token!r}")


def _check_domain_spec(spec: str, token: str, errors: list[str]) -> None:
    stripped = _MACRO.sub("x", spec)
    if "%" in stripped:
        errors.append(f"invalid macro in {token!r}")
        return
    if "%" in spec:
        return  # macro-expanded names are checked when they are expanded
    labels = spec.rstrip(".").split(".")
    if len(labels) < 2 or not labels[-1] or labels[-1].isdigit():
        errors.append(f"invalid domain in {token!r}")


def with_include(record: str | None, include: str) -> str:
    """`record` with `include:<include>` added before its `all`/`redirect`, or a fresh record."""
    if not record:
        return f"v=spf1 include:{include} ~all"
    tokens = record.split()
    if f"include:{include}" in (t.lower() for t in tokens):
        return record
    position = len(tokens)
    for index, token in enumerate(tokens[1:], start=1):
        bare = token.lstrip(QUALIFIERS).lower()
        if bare == "all" or bare.startswith("redirect="):
            position = index
            break
    tokens.insert(position, f"include:{include}")
    return " ".join(tokens)


def merge_records(records: list[str] | tuple[str, ...], include: str | None = None) -> str:
    """One SPF record holding the mechanisms of several (RFC 7208 §3.2 allows only one).

    Keeps the first record's `all` (or `~all`), drops duplicates, and adds `include` if given.
    """
    seen: list[str] = []
    final_all: str | None = None
    for record in records:
        for token in record.split()[1:]:
            bare = token.lstrip(QUALIFIERS).lower()
            if bare == "all":
                final_all = final_all or token
            elif token.lower() not in (s.lower() for s in seen):
                seen.append(token)
    merged = " ".join(["v=spf1", *seen, final_all or "~all"])
    return with_include(merged, include) if include else merged


def with_all(record: str, qualifier: str = "~") -> str:
    """`record` with its `all` term (any qualifier, any case) set to `<qualifier>all`."""
    tokens = record.split()
    for index, token in enumerate(tokens[1:], start=1):
        if token.lstrip(QUALIFIERS).lower() == "all":
            tokens[index] = f"{qualifier}all"
            return " ".join(tokens)
    return " ".join([*tokens, f"{qualifier}all"])

"""DMARC policy records as typed values (RFC 7489 §6.3, DMARCbis / RFC 9989 §4.7), pure.

checkdmarc is the parser of record (`auditor.collect.dns.checkdmarc_adapter`): its values win for
every tag it returns. This module exists for what it does not give: checkdmarc 6 follows RFC 9989
and drops `pct`, `ri` and `rf` (removed there, but still read by RFC 7489 receivers), and it stops
at the first bad value, so `p=rejet; adkim=x` would name only one problem and no other tag. Here
every tag is read on its own and each bad value becomes a `TagProblem` naming the tag, the value
and what was expected, while the rest of the record stays usable.

Also here, because rules need them as one-line facts: which of p / sp / np applies to a given
domain, and identifier alignment (RFC 7489 §3.1) in relaxed and strict mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from auditor.protocol.psl import organisational_domain

POLICIES = ("none", "quarantine", "reject")
_STRENGTH = {p: i for i, p in enumerate(POLICIES)}
_FO_OPTIONS = ("0", "1", "d", "s")
_RF_FORMATS = ("afrf",)
_KNOWN_TAGS = frozenset(
    {"v", "p", "sp", "np", "pct", "adkim", "aspf", "rua", "ruf", "fo", "ri", "rf", "t", "psd"}
)
_SIZE = re.compile(r"^(\d+)([kmgt]?)$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_RI_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One `rua`/`ruf` destination (RFC 7489 §6.2: a URI with an optional `!size` limit)."""

    uri: str
    """The URI as written, without the size limit."""
    scheme: str
    domain: str | None
    """For `mailto:`, the lower-cased domain of the address; None for other schemes."""
    size_limit: str | None = None
    """The limit as written after `!` (`10m`), or None."""
    size_limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class TagProblem:
    """A tag whose value a receiver cannot use: `p=rejet` gives ("p", "rejet", "not one of ...")."""

    tag: str
    value: str
    reason: str

    @property
    def text(self) -> str:
        return f"{self.tag}={self.value}: {self.reason}" if self.value else f"{self.tag}: {self.reason}"


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """Every tag of one DMARC record, typed; defaults where the tag is absent or unusable.

    `p`, `sp` and `np` are None when absent (or invalid): the effective subdomain and non-existent
    subdomain policies are the properties, which apply the defaults of RFC 7489 §6.3 and
    RFC 9989 §4.7 (np falls back to sp, sp to p).
    """

    p: str | None = None
    sp: str | None = None
    np: str | None = None
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    fo: tuple[str, ...] = ("0",)
    ri: int = 86400
    rf: tuple[str, ...] = ("afrf",)
    t: bool = False
    """`t=y`: DMARCbis test mode (the policy is applied one step weaker)."""
    psd: str = "u"
    """`y` (a public suffix operator's record), `n` (an organisational domain) or `u` (unsaid)."""
    explicit: tuple[str, ...] = ()
    """Tags the record writes (lower-case), in order, whether or not their value is usable."""
    problems: tuple[TagProblem, ...] = ()
    unknown_tags: tuple[str, ...] = ()

    @property
    def policy(self) -> str:
        """The domain policy; a record without a usable `p` counts as `none` (RFC 9989 §4.7)."""
        return self.p or "none"

    @property
    def subdomain_policy(self) -> str:
        return self.sp or self.policy

    @property
    def nonexistent_policy(self) -> str:
        return self.np or self.subdomain_policy

    @property
    def weaker_subdomain_tags(self) -> tuple[str, ...]:
        """`sp` / `np` when they enforce less than `p` (explicitly or through sp's fallback)."""
        weak = []
        if weaker(self.subdomain_policy, self.policy):
            weak.append("sp")
        if weaker(self.nonexistent_policy, self.policy):
            weak.append("np")
        return tuple(weak)


def parse_dmarc(record: str) -> DmarcRecord:
    """Every tag of `record`; never raises. Unusable values become `problems` and defaults."""
    values: dict[str, Any] = {}
    explicit: list[str] = []
    problems: list[TagProblem] = []
    unknown: list[str] = []
    parts = [part.strip() for part in record.strip().strip('"').split(";")]
    for index, part in enumerate(parts):
        if not part:
            continue
        tag, equals, raw = (s.strip() for s in part.partition("="))
        tag = tag.lower()
        if not equals or not tag:
            problems.append(TagProblem(part, "", "not a tag=value pair"))
            continue
        if index == 0 and tag != "v":
            problems.append(TagProblem("v", "", "the record must start with v=DMARC1 (RFC 7489 §6.4)"))
        if tag not in _KNOWN_TAGS:
            unknown.append(tag)  # RFC 7489 §6.3: unknown tags are ignored
            continue
        if tag in explicit:
            problems.append(TagProblem(tag, raw, "tag given more than once"))
            continue
        explicit.append(tag)
        value, reason = _TAG_PARSERS[tag](raw)
        if reason is not None:
            problems.append(TagProblem(tag, raw, reason))
        elif tag != "v":
            values[tag] = value
    if "p" not in explicit:
        problems.append(
            TagProblem("p", "", "missing: required by RFC 7489 §6.3 (none if omitted in RFC 9989)")
        )
    return DmarcRecord(
        **values, explicit=tuple(explicit), problems=tuple(problems), unknown_tags=tuple(unknown)
    )


_Parsed = tuple[Any, str | None]


def _version(raw: str) -> _Parsed:
    return (raw, None) if raw == "DMARC1" else (raw, "must be DMARC1 (upper case)")


def _policy(raw: str) -> _Parsed:
    value = raw.lower()
    return (value, None) if value in POLICIES else (None, f"not one of {', '.join(POLICIES)}")


def _percent(raw: str) -> _Parsed:
    if raw.isdigit() and 0 <= int(raw) <= 100:
        return int(raw), None
    return None, "not a whole number from 0 to 100"


def _mode(raw: str) -> _Parsed:
    value = raw.lower()
    return (value, None) if value in ("r", "s") else (None, "not r (relaxed) or s (strict)")


def _report_uris(raw: str) -> _Parsed:
    uris = []
    for item in (i.strip() for i in raw.split(",")):
        uri, reason = parse_report_uri(item)
        if reason is not None:
            return None, reason
        uris.append(uri)
    return tuple(uris), None


def _failure_options(raw: str) -> _Parsed:
    options = tuple(o.strip().lower() for o in raw.split(":"))
    bad = [o for o in options if o not in _FO_OPTIONS]
    if bad:
        return None, f"{', '.join(repr(b) for b in bad)} not among {', '.join(_FO_OPTIONS)}"
    return options, None


def _interval(raw: str) -> _Parsed:
    if raw.isdigit() and int(raw) <= _RI_MAX:
        return int(raw), None
    return None, "not a number of seconds (32-bit unsigned)"


def _formats(raw: str) -> _Parsed:
    formats = tuple(f.strip().lower() for f in raw.split(":"))
    bad = [f for f in formats if f not in _RF_FORMATS]
    return (None, f"unknown report format {', '.join(bad)} (only afrf)") if bad else (formats, None)


def _testing(raw: str) -> _Parsed:
    value = raw.lower()
    return (value == "y", None) if value in ("y", "n") else (None, "not y or n")


def _psd(raw: str) -> _Parsed:
    value = raw.lower()
    return (value, None) if value in ("y", "n", "u") else (None, "not y, n or u")


_TAG_PARSERS = {
    "v": _version,
    "p": _policy,
    "sp": _policy,
    "np": _policy,
    "pct": _percent,
    "adkim": _mode,
    "aspf": _mode,
    "rua": _report_uris,
    "ruf": _report_uris,
    "fo": _failure_options,
    "ri": _interval,
    "rf": _formats,
    "t": _testing,
    "psd": _psd,
}


def parse_report_uri(text: str) -> tuple[ReportUri | None, str | None]:
    """One `rua`/`ruf` entry: (uri, None), or (None, why it is unusable)."""
    uri, bang, size = text.strip().rpartition("!") if "!" in text else (text.strip(), "", "")
    size = size.strip().lower()
    limit_bytes = None
    if bang:
        match = _SIZE.match(size)
        if match is None:
            return None, f"size limit {size!r} in {text!r} is not a number with k, m, g or t"
        limit_bytes = int(match.group(1)) * _UNITS[match.group(2)]
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme or not rest or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return None, f"{text!r} is not a URI (mailto:address@domain)"
    scheme = scheme.lower()
    domain = None
    if scheme == "mailto":
        local, at, domain_part = rest.rpartition("@")
        domain_part = domain_part.split("?", 1)[0].strip().rstrip(".").lower()
        if not at or not local or not domain_part or "." not in domain_part:
            return None, f"{text!r} is not a mailto: address"
        domain = domain_part
    return ReportUri(uri, scheme, domain, size if bang else None, limit_bytes), None


def with_checkdmarc(record: DmarcRecord, tags: dict[str, Any]) -> DmarcRecord:
    """`record` with the values checkdmarc parsed (its `tags` output) where it gives one.

    checkdmarc is the reference for the tags it knows; `pct`, `ri` and `rf` (which it drops as
    removed in RFC 9989) and the problem list stay from `parse_dmarc`. Implicit (default) values
    of checkdmarc are not taken for p/sp/np: `None` there means "not written", as above.
    """
    changes: dict[str, Any] = {}
    for tag in ("p", "sp", "np"):
        entry = tags.get(tag)
        if isinstance(entry, dict) and entry.get("explicit") and entry.get("value") in POLICIES:
            changes[tag] = entry["value"]
    for tag in ("adkim", "aspf", "psd"):
        entry = tags.get(tag)
        if isinstance(entry, dict) and isinstance(entry.get("value"), str):
            changes[tag] = entry["value"]
    fo = tags.get("fo")
    if isinstance(fo, dict) and isinstance(fo.get("value"), str):
        changes["fo"] = tuple(fo["value"].split(":"))
    t = tags.get("t")
    if isinstance(t, dict) and t.get("value") in ("y", "n"):
        changes["t"] = t["value"] == "y"
    for tag in ("rua", "ruf"):
        entry = tags.get(tag)
        if isinstance(entry, dict) and isinstance(entry.get("value"), list):
            uris = [_from_checkdmarc(item) for item in entry["value"]]
            if all(u is not None for u in uris):
                changes[tag] = tuple(u for u in uris if u is not None)
    return replace(record, **changes)


def _from_checkdmarc(item: Any) -> ReportUri | None:
    if not isinstance(item, dict) or not isinstance(item.get("address"), str):
        return None
    scheme = str(item.get("scheme") or "").lower()
    address = item["address"]
    uri = (
        f"{scheme}:{address}" if scheme == "mailto" and not address.lower().startswith("mailto:") else address
    )
    parsed, _ = parse_report_uri(uri + (f"!{item['size_limit']}" if item.get("size_limit") else ""))
    return parsed


def applicable_policy(record: DmarcRecord, inherited: bool, exists: bool | None) -> tuple[str, str]:
    """(policy, tag it came from) for mail from the audited domain under `record`.

    The domain's own record: `p`. A record inherited from the organisational domain (RFC 7489
    §6.6.3): `sp` (else `p`); for a domain that does not exist (NXDOMAIN) RFC 9989's `np`
    (else `sp`, else `p`). `exists` None (unknown) is treated as existing.
    """
    if not inherited:
        return record.policy, "p"
    if exists is False:
        tag = "np" if record.np else ("sp" if record.sp else "p")
        return record.nonexistent_policy, tag
    return record.subdomain_policy, "sp" if record.sp else "p"


def weaker(policy: str, than: str) -> bool:
    """Whether `policy` enforces less than `than` (none < quarantine < reject)."""
    return _STRENGTH.get(policy, 0) < _STRENGTH.get(than, 0)


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1: strict needs the same name, relaxed the same organisational domain."""
    a, b = identifier.rstrip(".").lower(), from_domain.rstrip(".").lower()
    if mode == "s":
        return a == b
    return organisational_domain(a) == organisational_domain(b)


def authorisation_name(policy_domain: str, destination: str) -> str:
    """RFC 7489 §7.1: where `destination` says it accepts reports about `policy_domain`."""
    return f"{policy_domain.rstrip('.').lower()}._report._dmarc.{destination.rstrip('.').lower()}"


def is_external(policy_domain: str, destination: str) -> bool:
    """RFC 7489 §7.1: a destination outside the policy domain's organisational domain."""
    return organisational_domain(policy_domain) != organisational_domain(destination)


def with_tag(record: str | None, tag: str, value: str) -> str:
    """`record` with `tag` set to `value` (added after `p`, or removed when `value` is empty).

    For remediation: the user's own record with one change, every other tag kept as written.
    A missing record starts from `v=DMARC1; p=none`.
    """
    parts = [p.strip() for p in (record or "v=DMARC1; p=none").strip().strip('"').split(";") if p.strip()]
    tag = tag.lower()
    found = False
    out = []
    for part in parts:
        name = part.partition("=")[0].strip().lower()
        if name != tag:
            out.append(part)
        elif value and not found:
            out.append(f"{tag}={value}")
            found = True
    if value and not found:
        names = [p.partition("=")[0].strip().lower() for p in out]
        at = names.index("p") + 1 if "p" in names else min(1, len(out))
        out.insert(at, f"{tag}={value}")
    return "; ".join(out)


def repaired(record: str | None) -> str:
    """`record` without the tags whose values are unusable, with `p=none` if `p` was unusable."""
    parsed = parse_dmarc(record or "")
    text = record or "v=DMARC1; p=none"
    for problem in parsed.problems:
        if problem.tag in _KNOWN_TAGS and problem.tag != "v":
            text = with_tag(text, problem.tag, "")
    if parsed.p is None:
        text = with_tag(text, "p", "none")
    if not text.replace(" ", "").startswith("v=DMARC1"):
        text = "v=DMARC1; " + "; ".join(
            p.strip() for p in text.split(";") if p.strip() and p.partition("=")[0].strip().lower() != "v"
        )
    return text

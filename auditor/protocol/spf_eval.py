"""RFC 7208 check_host(): the SPF result for an IP, a domain and a sender, with its lookup counts.

The evaluation is pure: every DNS question goes through `SpfDns`, a one-method async protocol
(the dnspython `_Resolution` split: decisions here, sockets in `auditor.collect.dns.spf_check`).
Tests drive it with a dictionary; production drives it with the run's caching resolver.

How the limits of §4.6.4 are counted (the place where SPF tools disagree):

* **DNS-querying terms** (`lookups`): each `include`, `a`, `mx`, `ptr` and `exists` mechanism
  and each `redirect` modifier that evaluation reaches counts one, across includes and redirects,
  before its query is sent. Reaching an 11th is a permerror, so `lookups` then reads 11. Terms
  after the one that decided the result are never reached and never counted; `exp=` and the
  `%{p}` macro are not terms and are not counted; `ip4`, `ip6` and `all` cost nothing.
* **Void lookups** (`void_lookups`): §4.6.4 limits the number of *terms* whose DNS query came back
  NXDOMAIN or with no answer records. Each DNS-querying term counts at most once, when the query
  that defines it is void: the A/AAAA query of `a`, the A query of `exists`, the MX query of `mx`,
  the PTR query of `ptr`, the TXT query of an `include` or `redirect` target. The address lookups
  of MX exchanges and of PTR names are not terms and are not counted. A third void term is a
  permerror. The TXT lookup of the domain check_host() starts from, the exp= lookup and the
  `%{p}` lookups are not counted either.
* **MX names**: an `mx` may look up the addresses of at most 10 exchanges; needing an 11th is a
  permerror (§4.6.4). A match among the first 10 is a match, as the text limits the lookups made.
* **PTR names**: only the first 10 PTR names are used, for `ptr` and for `%{p}` (§4.6.4).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from auditor.protocol.spf import is_spf
from auditor.protocol.spf_macro import (
    MacroString,
    MacroSyntaxError,
    MacroValues,
    expand,
    parse_macro_string,
    reverse_name,
    target_name,
    valid_name,
)
from auditor.protocol.spf_syntax import (
    Directive,
    Mechanism,
    Qualifier,
    SpfRecordTerms,
    SpfSyntaxError,
    parse_record,
)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SpfResult(StrEnum):
    """The seven check_host() results (RFC 7208 §2.6)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


_QUALIFIER_RESULT = {
    Qualifier.PASS: SpfResult.PASS,
    Qualifier.FAIL: SpfResult.FAIL,
    Qualifier.SOFTFAIL: SpfResult.SOFTFAIL,
    Qualifier.NEUTRAL: SpfResult.NEUTRAL,
}


class RRType(StrEnum):
    """The record types check_host() asks for."""

    TXT = "TXT"
    A = "A"
    AAAA = "AAAA"
    MX = "MX"
    PTR = "PTR"


class DnsStatus(StrEnum):
    """What one DNS question produced; ERROR (timeout, SERVFAIL, any other rcode) is a temperror."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    ERROR = "error"

    @property
    def void(self) -> bool:
        return self in (DnsStatus.NXDOMAIN, DnsStatus.NODATA)


@dataclass(frozen=True, slots=True)
class DnsReply:
    """An answer, CNAMEs already followed.

    `texts` holds one entry per TXT record, its character-strings joined with nothing between them
    (§3.3). `names` holds MX exchanges (in preference order; the root, a Null MX, is "") or PTR
    targets, without the trailing dot. `addresses` holds A or AAAA addresses as text.
    """

    status: DnsStatus
    texts: tuple[bytes, ...] = ()
    names: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    detail: str = ""

    @property
    def empty(self) -> bool:
        return not (self.texts or self.names or self.addresses)


class SpfDns(Protocol):
    """The only way check_host() reaches DNS."""

    async def query(self, name: str, rrtype: RRType) -> DnsReply:
        """Ask for `rrtype` at `name` (no trailing dot); never raise for DNS trouble."""
        ...


@dataclass(frozen=True, slots=True)
class SpfLimits:
    """RFC 7208 §4.6.4 processing limits (the defaults are the RFC's)."""

    lookups: int = 10
    void_lookups: int = 2
    mx_names: int = 10
    ptr_names: int = 10


@dataclass(frozen=True, slots=True)
class SpfTraceStep:
    """One step of the evaluation, for evidence: which term, in which record, and what it did."""

    depth: int
    domain: str
    term: str
    # "record" (detail: the record text), "match", "no match", "redirect" (detail: the target),
    # "permerror" or "temperror" (detail: why), "explanation" (detail: the text, or "ignored")
    outcome: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SpfCheck:
    """The outcome of check_host(ip, domain, sender) and how it was reached."""

    result: SpfResult
    domain: str
    ip: str
    sender: str
    lookups: int
    void_lookups: int
    explanation: str | None = None  # the expanded exp= text (fail only); None when none applies
    matched_term: str | None = None  # the directive that decided the result
    matched_domain: str | None = None  # the domain whose record holds it (differs after redirect)
    record: str | None = None  # the SPF record of `domain` itself
    problem: str | None = None  # why the result is none, permerror or temperror
    trace: tuple[SpfTraceStep, ...] = ()


class _PermError(Exception):
    """Evaluation stops with permerror."""


class _TempError(Exception):
    """Evaluation stops with temperror."""


@dataclass(slots=True)
class _Outcome:
    result: SpfResult
    domain: str
    record: SpfRecordTerms | None = None
    directive: Directive | None = None
    problem: str | None = None


@dataclass(slots=True)
class _State:
    dns: SpfDns
    ip: IpAddress
    sender: str
    local_part: str
    sender_domain: str
    helo: str
    receiver: str
    timestamp: int
    limits: SpfLimits
    lookups: int = 0
    void_lookups: int = 0
    trace: list[SpfTraceStep] = field(default_factory=list)
    validated_ptr_names: tuple[str, ...] | None = None


async def check_host(
    dns: SpfDns,
    ip: str | IpAddress,
    domain: str,
    sender: str,
    helo: str = "",
    *,
    receiver: str = "unknown",
    timestamp: int | None = None,
    limits: SpfLimits | None = None,
) -> SpfCheck:
    """Evaluate SPF for `ip` sending as `sender` on behalf of `domain` (RFC 7208 §4).

    An empty `sender` becomes `postmaster@<helo>` and a sender without a local part gets
    `postmaster` (§2.4, §4.3). An IPv4-mapped IPv6 address is treated as the IPv4 address (§5).
    `receiver` and `timestamp` are the `%{r}` and `%{t}` macros of explanation text.
    """
    address = _client_address(ip)
    if not sender:
        sender = f"postmaster@{helo}"
    local_part, at, sender_domain = sender.rpartition("@")
    if not at:
        sender_domain = sender
    local_part = local_part or "postmaster"
    sender = f"{local_part}@{sender_domain}"
    state = _State(
        dns=dns,
        ip=address,
        sender=sender,
        local_part=local_part,
        sender_domain=sender_domain,
        helo=helo,
        receiver=receiver,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        limits=limits or SpfLimits(),
    )
    name = domain[:-1] if domain.endswith(".") else domain
    record_text: str | None = None
    if not _checkable_domain(name):
        outcome = _Outcome(SpfResult.NONE, name, problem=f"{domain!r} is not a valid multi-label domain")
    else:
        try:
            outcome = await _check_domain(state, name, depth=0)
        except _PermError as exc:
            outcome = _Outcome(SpfResult.PERMERROR, name, problem=str(exc))
        except _TempError as exc:
            outcome = _Outcome(SpfResult.TEMPERROR, name, problem=str(exc))
        # The first record fetched is always the domain's own; later ones belong to its terms.
        record_text = next((s.detail for s in state.trace if s.outcome == "record"), None)
    explanation = None
    if outcome.result is SpfResult.FAIL and outcome.record is not None and outcome.record.explanation:
        explanation = await _explanation(state, outcome)
    return SpfCheck(
        result=outcome.result,
        domain=name,
        ip=str(address),
        sender=sender,
        lookups=state.lookups,
        void_lookups=state.void_lookups,
        explanation=explanation,
        matched_term=outcome.directive.text if outcome.directive else None,
        matched_domain=outcome.domain if outcome.directive else None,
        record=record_text,
        problem=outcome.problem,
        trace=tuple(state.trace),
    )


def _client_address(ip: str | IpAddress) -> IpAddress:
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _checkable_domain(name: str) -> bool:
    """§4.3: a malformed or single-label domain (or an address literal) gives `none`."""
    return not name.startswith("[") and "." in name and valid_name(name)


async def _check_domain(state: _State, domain: str, depth: int, *, via_term: bool = False) -> _Outcome:
    """check_host() on one domain: fetch, select and parse its record, then evaluate it.

    `via_term` is true for the targets of include and redirect, whose TXT query is that term's
    own query and so may be a void lookup.
    """
    reply = await state.dns.query(domain, RRType.TXT)
    if reply.status is DnsStatus.ERROR:
        raise _TempError(f"TXT lookup for {domain} failed: {reply.detail or 'no answer'}")
    if reply.status.void and via_term:
        _count_void(state, domain)
    records = [text for text in reply.texts if _is_spf_bytes(text)]
    if not records:
        why = "does not exist" if reply.status is DnsStatus.NXDOMAIN else "has no SPF record"
        return _Outcome(SpfResult.NONE, domain, problem=f"{domain} {why}")
    if len(records) > 1:
        raise _PermError(f"{domain} has {len(records)} SPF records (RFC 7208 §4.5)")
    text = records[0].decode("latin-1")
    state.trace.append(SpfTraceStep(depth, domain, "v=spf1", "record", text))
    try:
        record = parse_record(text)
    except SpfSyntaxError as exc:
        raise _PermError(f"syntax error in the SPF record of {domain}: {exc}") from None
    for directive in record.directives:
        if await _matches(state, directive, domain, depth):
            state.trace.append(SpfTraceStep(depth, domain, directive.text, "match"))
            return _Outcome(_QUALIFIER_RESULT[directive.qualifier], domain, record, directive)
        state.trace.append(SpfTraceStep(depth, domain, directive.text, "no match"))
    if record.redirect is not None:  # an `all` would have matched, so the redirect applies (§6.1)
        _count_lookup(state, record.redirect.text, domain, depth)
        target = await _target(state, record.redirect.domain_spec, domain)
        if target is None:
            raise _PermError(f"{record.redirect.text} in {domain} expands to an invalid domain")
        state.trace.append(SpfTraceStep(depth, domain, record.redirect.text, "redirect", target))
        outcome = await _check_domain(state, target, depth, via_term=True)
        if outcome.result is SpfResult.NONE:
            raise _PermError(f"{record.redirect.text}: {outcome.problem} (RFC 7208 §6.1)")
        return outcome
    return _Outcome(SpfResult.NEUTRAL, domain, record)


def _is_spf_bytes(text: bytes) -> bool:
    return is_spf(text[:7].decode("latin-1"))


def _count_lookup(state: _State, term: str, domain: str, depth: int) -> None:
    state.lookups += 1
    if state.lookups > state.limits.lookups:
        state.trace.append(SpfTraceStep(depth, domain, term, "permerror", "DNS lookup limit"))
        raise _PermError(
            f"{term} in {domain} is DNS-querying term {state.lookups}; "
            f"RFC 7208 §4.6.4 allows {state.limits.lookups}"
        )


def _count_void(state: _State, name: str) -> None:
    state.void_lookups += 1
    if state.void_lookups > state.limits.void_lookups:
        raise _PermError(
            f"void lookup {state.void_lookups} ({name}); RFC 7208 §4.6.4 allows {state.limits.void_lookups}"
        )


async def _matches(state: _State, directive: Directive, domain: str, depth: int) -> bool:
    mechanism = directive.mechanism
    if mechanism is Mechanism.ALL:
        return True
    if mechanism is Mechanism.IP4 or mechanism is Mechanism.IP6:
        assert directive.network is not None
        return state.ip.version == directive.network.version and state.ip in directive.network
    _count_lookup(state, directive.text, domain, depth)
    try:
        target = await _target(state, directive.domain_spec, domain)
        if mechanism is Mechanism.INCLUDE:
            return await _include(state, directive, target, depth)
        if target is None:
            return False  # a name no query can carry cannot exist (§4.3, §4.8): no match
        if mechanism is Mechanism.A:
            return await _address_match(state, target, directive, count_void=True)
        if mechanism is Mechanism.MX:
            return await _mx(state, target, directive)
        if mechanism is Mechanism.PTR:
            return await _ptr(state, target)
        return await _exists(state, target)
    except _PermError as exc:
        state.trace.append(SpfTraceStep(depth, domain, directive.text, "permerror", str(exc)))
        raise
    except _TempError as exc:
        state.trace.append(SpfTraceStep(depth, domain, directive.text, "temperror", str(exc)))
        raise


async def _target(state: _State, spec: MacroString | None, domain: str) -> str | None:
    if spec is None:
        return domain
    return target_name(await _expand(state, spec, domain))


async def _expand(state: _State, spec: MacroString, domain: str) -> str:
    validated = await _validated_name(state, domain) if "p" in spec.letters else None
    values = MacroValues(
        sender=state.sender,
        local_part=state.local_part,
        sender_domain=state.sender_domain,
        domain=domain,
        ip=state.ip,
        helo=state.helo,
        receiver=state.receiver,
        timestamp=state.timestamp,
        validated_name=validated,
    )
    return expand(spec, values)


async def _include(state: _State, directive: Directive, target: str | None, depth: int) -> bool:
    """§5.2: pass matches; fail, softfail and neutral do not; errors and none propagate."""
    if target is None:
        raise _PermError(f"{directive.text} expands to an invalid domain")
    outcome = await _check_domain(state, target, depth + 1, via_term=True)
    if outcome.result is SpfResult.NONE:
        raise _PermError(f"{directive.text}: {outcome.problem} (RFC 7208 §5.2)")
    return outcome.result is SpfResult.PASS


async def _addresses(state: _State, name: str, rrtype: RRType, *, count_void: bool) -> tuple[str, ...]:
    reply = await state.dns.query(name, rrtype)
    if reply.status is DnsStatus.ERROR:
        raise _TempError(f"{rrtype} lookup for {name} failed: {reply.detail or 'no answer'}")
    if count_void and (reply.status.void or not reply.addresses):
        _count_void(state, name)
    return reply.addresses


def _address_rrtype(state: _State) -> RRType:
    return RRType.A if state.ip.version == 4 else RRType.AAAA


def _in_cidr(state: _State, addresses: tuple[str, ...], directive: Directive) -> bool:
    length = directive.cidr4 if state.ip.version == 4 else directive.cidr6
    for text in addresses:
        try:
            network = ipaddress.ip_network(f"{text}/{length}", strict=False)
        except ValueError:
            continue
        if network.version == state.ip.version and state.ip in network:
            return True
    return False


async def _address_match(state: _State, name: str, directive: Directive, *, count_void: bool) -> bool:
    addresses = await _addresses(state, name, _address_rrtype(state), count_void=count_void)
    return _in_cidr(state, addresses, directive)


async def _mx(state: _State, target: str, directive: Directive) -> bool:
    """§5.4: the addresses of each MX exchange, in preference order, until one matches.

    §4.6.4: "the evaluation of each MX record MUST NOT result in querying more than 10 address
    records"; exceeding it is a permerror. So an 11th exchange is a permerror when (and only when)
    evaluation gets to it: a match among the first 10 still matches.
    """
    reply = await state.dns.query(target, RRType.MX)
    if reply.status is DnsStatus.ERROR:
        raise _TempError(f"MX lookup for {target} failed: {reply.detail or 'no answer'}")
    if reply.status.void or not reply.names:
        _count_void(state, target)
        return False
    looked_up = 0
    for exchange in reply.names:
        if not exchange or not valid_name(exchange):
            continue  # Null MX (RFC 7505) or a name no query can carry
        looked_up += 1
        if looked_up > state.limits.mx_names:
            raise _PermError(
                f"{target} has {len(reply.names)} MX records; checking them needs more than "
                f"{state.limits.mx_names} address lookups (RFC 7208 §4.6.4)"
            )
        if await _address_match(state, exchange, directive, count_void=False):
            return True
    return False


async def _ptr_names(state: _State) -> tuple[str, ...] | None:
    """The first 10 PTR names of the client address, or None on a DNS error."""
    reply = await state.dns.query(reverse_name(state.ip), RRType.PTR)
    if reply.status is DnsStatus.ERROR:
        return None
    return reply.names[: state.limits.ptr_names]


async def _is_validated(state: _State, name: str) -> bool:
    """§5.5: a PTR name is validated when one of its addresses is the client's; errors skip it."""
    if not valid_name(name):
        return False
    reply = await state.dns.query(name, _address_rrtype(state))
    if reply.status is not DnsStatus.OK:
        return False
    return any(_same_address(text, state.ip) for text in reply.addresses)


def _same_address(text: str, ip: IpAddress) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def _within(name: str, domain: str) -> bool:
    name, domain = name.lower(), domain.lower()
    return name == domain or name.endswith("." + domain)


async def _ptr(state: _State, target: str) -> bool:
    """§5.5: a validated PTR name equal to or under the target; a PTR lookup error is no match."""
    reverse = reverse_name(state.ip)
    reply = await state.dns.query(reverse, RRType.PTR)
    if reply.status is DnsStatus.ERROR:
        return False
    if reply.status.void or not reply.names:
        _count_void(state, reverse)
        return False
    for name in reply.names[: state.limits.ptr_names]:
        # Only names under the target can make this match, so only they need validating.
        if _within(name, target) and await _is_validated(state, name):
            return True
    return False


async def _exists(state: _State, target: str) -> bool:
    """§5.7: any A record, whatever the client's address family."""
    return bool(await _addresses(state, target, RRType.A, count_void=True))


async def _validated_name(state: _State, domain: str) -> str:
    """§7.3 `p`: the domain itself if validated, else a validated subdomain, else any, else unknown."""
    if state.validated_ptr_names is None:
        names = await _ptr_names(state) or ()
        state.validated_ptr_names = tuple([n for n in names if await _is_validated(state, n)])
    validated = state.validated_ptr_names
    for name in validated:
        if name.lower() == domain.lower():
            return name
    for name in validated:
        if _within(name, domain):
            return name
    return validated[0] if validated else "unknown"


async def _explanation(state: _State, outcome: _Outcome) -> str | None:
    """§6.2: the expanded exp= text, or None when anything about it goes wrong."""
    assert outcome.record is not None and outcome.record.explanation is not None
    modifier = outcome.record.explanation
    assert modifier.domain_spec is not None
    try:
        target = target_name(await _expand(state, modifier.domain_spec, outcome.domain))
    except _TempError:
        return None
    if target is None:
        return None
    reply = await state.dns.query(target, RRType.TXT)
    if reply.status is not DnsStatus.OK or len(reply.texts) != 1:
        state.trace.append(SpfTraceStep(0, outcome.domain, modifier.text, "explanation", "ignored"))
        return None
    try:
        text = parse_macro_string(reply.texts[0].decode("latin-1"), explanation=True)
        expanded = await _expand(state, text, outcome.domain)
    except (MacroSyntaxError, _TempError):
        state.trace.append(SpfTraceStep(0, outcome.domain, modifier.text, "explanation", "ignored"))
        return None
    state.trace.append(SpfTraceStep(0, outcome.domain, modifier.text, "explanation", expanded))
    return expanded

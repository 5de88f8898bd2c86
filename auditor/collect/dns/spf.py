"""Walks a domain's SPF tree as RFC 7208 check_host() evaluates it for an unauthorised address.

What the counts mean: `lookups` and `void_lookups` are what check_host() reaches for a client
address that no term matches except `all` — the path every sender the domain did not authorise
takes, and the longest a receiver meets for this record. Terms are evaluated in order, with the
strict §12 grammar (`auditor.protocol.spf_syntax`; a syntax error anywhere in a record reached is a
permerror); an include whose record ends in `+all` matches and ends the walk; evaluation stops at
`all`, so `redirect=` is ignored when `all` is present (§6.1) and terms after `all` are not
reached; the 11th DNS-querying term or the 3rd void lookup is a permerror (§4.6.4) and the count
then reads 11 or 3. Which steps count is `auditor.protocol.spf_eval`'s reading, the arithmetic is
`auditor.protocol.spf_walk`.

Two things depend on the client and not on DNS, so the walk cannot know them: `ptr` (the client's
PTR names) and terms whose domain-spec holds a macro other than `%{d}`. They count as lookups (they
always do) but are never void here and never match; they are listed in `unresolved`. Addresses
are those of an IPv4 client (the A query of `a` decides a void lookup; an IPv6 client asks for
AAAA). The addresses of MX exchanges are not fetched (they never count, §4.6.4), only their
number (more than 10 is a permerror).

Sub-trees reached through include/redirect are memoised for the run once finished, so
`include:mailgun.org` is walked once for all domains; answers come from the run's resolver.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.exception
import dns.rdatatype

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.spf_check import query_name, reply_from_answer
from auditor.model.facts import Failure, FailureKind, SpfNode, SpfTreeFacts
from auditor.protocol.spf import is_spf
from auditor.protocol.spf_eval import RRType, SpfLimits, SpfResult
from auditor.protocol.spf_macro import MacroString, MacroValues, expand, target_name, valid_name
from auditor.protocol.spf_syntax import Directive, Mechanism, Qualifier, SpfSyntaxError, parse_record
from auditor.protocol.spf_walk import StepKind, WalkStep, within_limits

_QUALIFIER_RESULT = {
    Qualifier.PASS: SpfResult.PASS,
    Qualifier.FAIL: SpfResult.FAIL,
    Qualifier.SOFTFAIL: SpfResult.SOFTFAIL,
    Qualifier.NEUTRAL: SpfResult.NEUTRAL,
}


@dataclass(slots=True)
class _End:
    """How the evaluation of one record ended (before the limits are applied to the whole path)."""

    result: SpfResult
    problem: str | None = None
    failure: Failure | None = None  # the DNS failure behind a temperror


@dataclass(slots=True)
class _Subtree:
    """One record's evaluation: its steps (children spliced in), its end, and evidence."""

    domain: str
    record: str | None
    steps: tuple[WalkStep, ...]
    end: _End
    txt_void: bool = False  # the record's own TXT query was void (counts when reached by a term)
    children: tuple[SpfNode, ...] = ()
    includes: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    depth_limited: bool = False  # depends on where it sits in the tree: never memoised

    def node(self) -> SpfNode:
        counted = [s.kind for s in self.steps]
        problem = self.end.problem if self.end.result is SpfResult.PERMERROR else None
        return SpfNode(
            self.domain,
            self.record,
            counted.count(StepKind.LOOKUP),
            counted.count(StepKind.VOID),
            self.children,
            problem,
        )


@dataclass(slots=True)
class _Walk:
    """The mutable state of evaluating one record."""

    domain: str
    limits: SpfLimits
    steps: list[WalkStep] = field(default_factory=list)
    children: list[SpfNode] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    depth_limited: bool = False

    def add(self, *steps: WalkStep) -> bool:
        """Append steps; False once a limit is broken (the steps are then cut there)."""
        self.steps.extend(steps)
        kept, counted = within_limits(self.steps, self.limits)
        if counted.violation is None:
            return True
        self.steps = list(kept)
        return False

    def subtree(self, record: str | None, end: _End, txt_void: bool = False) -> _Subtree:
        return _Subtree(
            self.domain,
            record,
            tuple(self.steps),
            end,
            txt_void,
            tuple(self.children),
            tuple(self.includes),
            tuple(self.unresolved),
            self.depth_limited,
        )


_LIMIT = _End(SpfResult.PERMERROR, "DNS lookup limit")  # replaced by the tally's wording at the root


class SpfWalker:
    """Walks SPF trees through the run's resolver; memoises finished include/redirect sub-trees."""

    def __init__(self, resolver: CachingResolver, limits: SpfLimits | None = None) -> None:
        self._resolver = resolver
        self._limits = limits or SpfLimits()
        # Finished sub-trees only: an in-flight future could deadlock on include cycles that span
        # two domains walked at once; concurrent first walks share DNS answers through the resolver.
        self._memo: dict[str, _Subtree] = {}

    async def walk(self, domain: str, record: str) -> SpfTreeFacts | Failure:
        """The tree of `domain`, whose own (single) SPF record is `record`."""
        domain = domain.rstrip(".").lower()
        root = await self._evaluate(domain, record, depth=0, stack=(domain,))
        _, counted = within_limits(root.steps, self._limits)
        end = root.end
        problems: tuple[str, ...] = ()
        if counted.violation is not None:  # the counts say it (SPF004/SPF005), not `problems`
            end = _End(SpfResult.PERMERROR, counted.problem(self._limits))
        elif end.result is SpfResult.TEMPERROR:
            return end.failure or Failure(FailureKind.SERVFAIL, end.problem or "temporary DNS error")
        elif end.result is SpfResult.PERMERROR and end.problem:
            problems = (end.problem,)
        return SpfTreeFacts(
            lookups=counted.lookups,
            void_lookups=counted.void_lookups,
            all_includes=tuple(dict.fromkeys(root.includes)),
            problems=problems,
            root=root.node(),
            result=end.result.value,
            unresolved=root.unresolved,
        )

    async def _evaluate(self, domain: str, text: str, depth: int, stack: tuple[str, ...]) -> _Subtree:
        walk = _Walk(domain, self._limits)
        try:
            record = parse_record(text)
        except SpfSyntaxError as exc:
            return walk.subtree(text, _End(SpfResult.PERMERROR, f"syntax error in {domain}: {exc}"))
        for directive in record.directives:
            end = await self._directive(walk, directive, depth, stack)
            if end is not None:
                return walk.subtree(text, end)
        if record.redirect is not None:  # no `all` in the record, or it would have matched (§6.1)
            if not walk.add(WalkStep(StepKind.LOOKUP, domain, record.redirect.text)):
                return walk.subtree(text, _LIMIT)
            assert record.redirect.domain_spec is not None
            target = _static_target(record.redirect.domain_spec, domain)
            if target is _DEPENDS:
                walk.unresolved.append(f"{domain}: {record.redirect.text}")
                return walk.subtree(text, _End(SpfResult.NEUTRAL))
            if target is None:
                problem = f"{record.redirect.text} in {domain} names an invalid domain (permerror)"
                return walk.subtree(text, _End(SpfResult.PERMERROR, problem))
            child = await self._reached(walk, target, "redirect=", depth + 1, stack)
            if child is None:
                return walk.subtree(text, _LIMIT)
            if child.end.result is SpfResult.NONE:
                problem = f"redirect={target} in {domain}: {child.end.problem} (permerror)"
                return walk.subtree(text, _End(SpfResult.PERMERROR, problem))
            return walk.subtree(text, child.end)
        return walk.subtree(text, _End(SpfResult.NEUTRAL))

    async def _directive(
        self, walk: _Walk, directive: Directive, depth: int, stack: tuple[str, ...]
    ) -> _End | None:
        """Evaluate one directive for a non-matching client: its end, or None to go on."""
        mechanism, domain = directive.mechanism, walk.domain
        if mechanism is Mechanism.ALL:
            return _End(_QUALIFIER_RESULT[directive.qualifier])
        if mechanism in (Mechanism.IP4, Mechanism.IP6):
            return None
        if not walk.add(WalkStep(StepKind.LOOKUP, domain, directive.text)):
            return _LIMIT
        target = _static_target(directive.domain_spec, domain) if directive.domain_spec else domain
        if mechanism is Mechanism.PTR or target is _DEPENDS:
            walk.unresolved.append(f"{domain}: {directive.text}")
            return None
        if target is None:
            if mechanism is Mechanism.INCLUDE:
                return _End(SpfResult.PERMERROR, f"{directive.text} in {domain} names an invalid domain")
            return None  # no query can carry the name: no match (§4.3, §4.8)
        if mechanism is Mechanism.INCLUDE:
            child = await self._reached(walk, target, "include:", depth + 1, stack)
            if child is None:
                return _LIMIT
            if child.end.result is SpfResult.NONE:
                return _End(SpfResult.PERMERROR, f"include:{target} in {domain}: {child.end.problem}")
            if child.end.result in (SpfResult.PERMERROR, SpfResult.TEMPERROR):
                return child.end
            if child.end.result is SpfResult.PASS:  # the included record passes every client
                return _End(_QUALIFIER_RESULT[directive.qualifier])
            return None
        rdtype = dns.rdatatype.MX if mechanism is Mechanism.MX else dns.rdatatype.A
        answer = await self._query(target, rdtype)
        if not answer.definitive:
            return _temperror(answer, f"{directive.text} in {domain}")
        if not answer.rdatas:
            return None if walk.add(WalkStep(StepKind.VOID, domain, directive.text)) else _LIMIT
        if mechanism is Mechanism.EXISTS:  # any A record matches, whoever the client is (§5.7)
            return _End(_QUALIFIER_RESULT[directive.qualifier])
        if mechanism is Mechanism.MX:
            names = reply_from_answer(answer, RRType.MX).names
            exchanges = [n for n in names if n and valid_name(n)]
            if len(exchanges) > self._limits.mx_names:
                problem = (
                    f"{directive.text} in {domain}: {target} has {len(exchanges)} MX hosts; checking "
                    f"them needs more than {self._limits.mx_names} address lookups (RFC 7208 §4.6.4)"
                )
                return _End(SpfResult.PERMERROR, problem)
        return None

    async def _reached(
        self, walk: _Walk, target: str, via: str, depth: int, stack: tuple[str, ...]
    ) -> _Subtree | None:
        """Evaluate an include/redirect target and splice it into `walk`; None: a limit broke."""
        child = await self._subtree(target, via, depth, stack)
        walk.includes.extend((target, *child.includes))
        walk.unresolved.extend(child.unresolved)
        walk.children.append(child.node())
        walk.depth_limited = walk.depth_limited or child.depth_limited
        void = (WalkStep(StepKind.VOID, target, f"{via}{target}"),) if child.txt_void else ()
        if not walk.add(*void, *child.steps):
            return None
        return child

    async def _subtree(self, target: str, via: str, depth: int, stack: tuple[str, ...]) -> _Subtree:
        # Deeper than the limit, the include/redirect terms above already broke it: the walk's
        # tally stops there, so what this returns is never read.
        if depth > self._limits.lookups:
            end = _End(SpfResult.PERMERROR, f"{via}{target} nested deeper than {self._limits.lookups}")
            return _Subtree(target, None, (), end, depth_limited=True)
        done = self._memo.get(target)
        if done is not None:
            return done
        child = await self._fetch(target, depth, (*stack, target))
        if not child.depth_limited and target not in stack:
            self._memo[target] = child
        return child

    async def _fetch(self, target: str, depth: int, stack: tuple[str, ...]) -> _Subtree:
        answer = await self._query(target, dns.rdatatype.TXT)
        if not answer.definitive:
            return _Subtree(target, None, (), _temperror(answer, f"TXT of {target}"))
        void = answer.status is not AnswerStatus.OK or not answer.rdatas
        records = [t for t in _txt_latin1(answer) if is_spf(t)]
        if not records:
            why = "does not exist" if answer.status is AnswerStatus.NXDOMAIN else "has no SPF record"
            return _Subtree(target, None, (), _End(SpfResult.NONE, f"{target} {why}"), txt_void=void)
        if len(records) > 1:
            problem = f"{target} has {len(records)} SPF records (RFC 7208 §4.5)"
            return _Subtree(target, None, (), _End(SpfResult.PERMERROR, problem))
        return await self._evaluate(target, records[0], depth, stack)

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        try:
            wire_name = query_name(name)
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, AnswerStatus.ERROR, (), (), f"cannot query {name!r}: {exc}")
        return await self._resolver.resolve(wire_name, rdtype)


class _Depends:
    """Marks a domain-spec whose expansion depends on the client or the sender."""


_DEPENDS = _Depends()


def _static_target(spec: MacroString, domain: str) -> str | _Depends | None:
    """The name a domain-spec queries, when it is the same for every client; None if invalid."""
    if not spec.letters <= {"d"}:
        return _DEPENDS
    # Only `d` is expanded (the letters check above); the other values are never read.
    values = MacroValues("", "", "", domain, ipaddress.IPv4Address(0), "", "", 0)
    name = target_name(expand(spec, values))
    return name.lower() if name is not None else None


def _txt_latin1(answer: DnsAnswer) -> list[str]:
    """TXT records as check_host() reads them: strings joined, bytes as latin-1 (§3.3)."""
    return [b"".join(getattr(r, "strings", ())).decode("latin-1") for r in answer.rdatas]


def _temperror(answer: DnsAnswer, what: str) -> _End:
    failure = answer.failure()
    detail = f"{what}: {failure.detail}"
    return _End(SpfResult.TEMPERROR, detail, Failure(failure.reason, detail))


def tree_not_evaluated(count: int) -> Failure:
    """Why there is no tree: the domain has no single SPF record to evaluate."""
    reason = "no SPF record" if count == 0 else f"{count} SPF records (permerror)"
    return Failure(FailureKind.NOT_ATTEMPTED, f"include tree not evaluated: {reason}")

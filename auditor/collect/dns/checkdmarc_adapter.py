"""The one place checkdmarc is used: DMARC record parsing, driven by the run's own resolver.

checkdmarc is synchronous and looks names up while it parses (report-destination authorisation,
MX of report addresses). It is called here on the event loop with a `dns.resolver.Resolver` that
answers only from lookups this run has already *completed* (`CachingResolver.resolved`) and never
blocks: a name it does not have yet is noted and refused, the parse is thrown away, the noted
names are resolved asynchronously through the run's resolver, and the parse runs again. In a
batch the names checkdmarc asks for (the MX of the report address's domain, usually the audited
domain itself) are mostly resolved already by the collector, so nearly every record parses in
one pass, with no thread hop (the earlier thread-pool bridge cost a cross-thread round trip per
lookup). checkdmarc never uses the system resolver, works in `--zone-dir` mode, and shares the
run's cache. Its module-level `DNS_CACHE` is keyed by name only (not by resolver), so it is
cleared when a run starts.

SPF is *not* parsed with checkdmarc: `parse_spf_record` resolves the whole include tree inside the
parser, one synchronous query at a time, which defeats the run-wide de-duplication and costs
milliseconds per domain. SPF uses `auditor.protocol.spf` with the async walker instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import checkdmarc.dmarc
import checkdmarc.utils
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.facts import DmarcFacts, Failure, FailureKind
from auditor.protocol.dmarc import parse_dmarc, with_checkdmarc
from auditor.protocol.dnswire import name_from_text

_LIFETIME = 30.0
"""Reported in the `LifetimeTimeout` checkdmarc sees when the run's lookup timed out."""
_MAX_PASSES = 16
"""Parses of one record before giving up (each pass resolves every name the previous one lacked)."""
_cache_lock = threading.Lock()


def reset_checkdmarc_cache() -> None:
    """Forget answers a previous run (with another resolver) left in checkdmarc's global cache."""
    with _cache_lock:
        cache: Any = getattr(checkdmarc.utils, "DNS_CACHE", None)
        if cache is not None and hasattr(cache, "clear"):
            cache.clear()


class _NotResolvedYet(Exception):
    """Raised into checkdmarc for a name this run has not resolved yet (never a DNSException)."""


class CompletedLookups(dns.resolver.Resolver):
    """A synchronous dnspython resolver answered from the run's completed lookups only.

    One per run, reset by `begin()` for each parse pass (passes never interleave: a pass is one
    synchronous call). A name the run has not resolved is recorded in `missing` and refused with
    `_NotResolvedYet`; the caller then resolves `missing` and parses again. Lookups answered here
    are counted in the run's statistics only for the pass the caller keeps (`steps`), so the
    report's `dns_lookups` counts each of checkdmarc's questions once, as the resolver would.
    """

    def __init__(self, resolver: CachingResolver) -> None:
        super().__init__(configure=False)
        self.nameservers = ["127.0.0.1"]  # never used: resolve() is answered from the run's cache
        self._run_resolver = resolver
        self._uncounted: set[tuple[str, int]] = set()
        self.missing: list[tuple[str, dns.rdatatype.RdataType]] = []
        self.steps = 0

    def begin(self, fetched: set[tuple[str, int]]) -> None:
        """Start a pass; `fetched` were resolved (and counted) by the caller since the first pass."""
        self._uncounted = set(fetched)
        self.missing = []
        self.steps = 0

    def resolve(  # type: ignore[override]
        self,
        qname: str | dns.name.Name,
        rdtype: str | int = dns.rdatatype.A,
        rdclass: str | int = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
        source_port: int = 0,
        lifetime: float | None = None,
        search: bool | None = None,
    ) -> dns.resolver.Answer:
        name = str(qname).rstrip(".")
        kind = dns.rdatatype.RdataType.make(rdtype)
        done = self._run_resolver.resolved(name, kind)
        if done is None:
            self.missing.append((name, kind))
            raise _NotResolvedYet(f"{dns.rdatatype.to_text(kind)} {name}")
        answer, steps = done
        key = (name.lower(), int(kind))
        if key in self._uncounted:
            self._uncounted.discard(key)
        else:
            self.steps += steps
        return _as_dnspython(answer, name, kind, raise_on_no_answer)


def _as_dnspython(
    answer: DnsAnswer, name: str, kind: dns.rdatatype.RdataType, raise_on_no_answer: bool
) -> dns.resolver.Answer:
    """The run's answer as dnspython's resolver would give it (or raise it) to checkdmarc.

    The response is what `make_response(make_query(name, kind))` gives (QR and RD set, the one
    question, no EDNS), built directly: the query message itself is never needed.
    """
    absolute = name_from_text(name)
    response = dns.message.QueryMessage(id=0)
    response.flags = dns.flags.QR | dns.flags.RD
    response.find_rrset(response.question, absolute, dns.rdataclass.IN, kind, create=True, force_unique=True)
    if answer.status is AnswerStatus.OK:
        # Through find_rrset, so that the message's index knows the rrset and `Answer` finds it
        # (an rrset appended to `response.answer` directly is invisible to resolve_chaining).
        rrset = response.find_rrset(response.answer, absolute, dns.rdataclass.IN, kind, create=True)
        for rdata in answer.rdatas:
            rrset.add(rdata, 300)
        return dns.resolver.Answer(absolute, kind, dns.rdataclass.IN, response)
    if answer.status is AnswerStatus.NXDOMAIN:
        raise dns.resolver.NXDOMAIN(qnames=[absolute], responses={absolute: response})
    if answer.status is AnswerStatus.NODATA:
        if raise_on_no_answer:
            raise dns.resolver.NoAnswer(response=response)
        return dns.resolver.Answer(absolute, kind, dns.rdataclass.IN, response)
    if answer.status is AnswerStatus.TIMEOUT:
        raise dns.resolver.LifetimeTimeout(timeout=_LIFETIME, errors=[])
    raise dns.resolver.NoNameservers(request=response, errors=[])


class DmarcParser:
    """Parses DMARC records with checkdmarc on the event loop; one per run."""

    def __init__(self, resolver: CachingResolver) -> None:
        self._resolver = resolver
        self._lookups = CompletedLookups(resolver)

    async def parse(self, domain: str, name: str, records: tuple[str, ...]) -> DmarcFacts | Failure:
        if len(records) != 1:
            error = None if not records else f"{len(records)} DMARC records (RFC 7489 §6.6.3)"
            return DmarcFacts(name, records, None, False, error, None, (), ())
        fetched: set[tuple[str, int]] = set()
        lookups = self._lookups
        for _ in range(_MAX_PASSES):
            lookups.begin(fetched)
            try:
                facts = _parse_one(domain, name, records[0], lookups)
            except _NotResolvedYet:
                facts = None
            missing = lookups.missing
            if not missing:
                assert facts is not None
                self._resolver.count_lookups(lookups.steps)
                return facts
            # Even if checkdmarc swallowed the refusal, this pass saw a partial picture: redo it.
            await asyncio.gather(*(self._resolver.resolve(n, t) for n, t in missing))
            fetched.update((n.lower(), int(t)) for n, t in missing)
        return Failure(FailureKind.COLLECTOR_ERROR, f"DMARC {name}: too many lookups while parsing")

    def close(self) -> None:
        """Nothing to release (kept so the collector's life cycle does not depend on the parser)."""


def _parse_one(domain: str, name: str, record: str, resolver: dns.resolver.Resolver) -> DmarcFacts | Failure:
    try:
        parsed: Mapping[str, Any] = checkdmarc.dmarc.parse_dmarc_record(
            record, domain, resolver=resolver, include_tag_descriptions=False
        )
    except (checkdmarc.dmarc.DMARCError, checkdmarc.dmarc._DMARCWarning) as exc:
        # checkdmarc stops at the first bad value; the tag-by-tag parse names every one.
        return DmarcFacts(
            name, (record,), record, False, _sentence(exc), None, (), (), parsed=parse_dmarc(record)
        )
    except dns.exception.DNSException as exc:
        # A lookup checkdmarc needed failed: that is "could not verify", not "invalid record".
        return Failure(
            FailureKind.NETWORK, f"DMARC {name}: lookup during parsing failed ({exc.__class__.__name__})"
        )
    tags = tuple(
        (tag, str(value.get("value")))
        for tag, value in parsed.get("tags", {}).items()
        if isinstance(value, Mapping)
    )
    policy = dict(tags).get("p")
    warnings = tuple(str(w) for w in parsed.get("warnings", ()))
    typed = with_checkdmarc(parse_dmarc(record), dict(parsed.get("tags", {})))
    return DmarcFacts(name, (record,), record, True, None, policy, tags, warnings, parsed=typed)


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]

"""Collects every DNS fact about one domain; problems become `Failure`s, never exceptions."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable
from typing import TypeVar

import dns.rdatatype

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer, name_text
from auditor.collect.dns.checkdmarc_adapter import DmarcParser, organisational_domain
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.spf import SpfWalker, tree_not_evaluated
from auditor.engine.catalogue import Catalogue
from auditor.model.facts import (
    DkimFacts,
    DkimKeyFacts,
    DmarcFacts,
    DomainFacts,
    Failure,
    FailureKind,
    MxFacts,
    MxHost,
    SpfFacts,
    SpfTreeFacts,
    TrackingFacts,
    TxtFacts,
)
from auditor.model.inventory import DomainTarget
from auditor.protocol.dkim import looks_like_dkim, parse_dkim_key
from auditor.protocol.spf import is_spf, parse_spf

log = logging.getLogger(__name__)
T = TypeVar("T")
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


class DnsCollector:
    """Everything DNS for one run: the resolver, the SPF walker and the DMARC parser."""

    def __init__(self, resolver: CachingResolver, catalogue: Catalogue) -> None:
        self.resolver = resolver
        self.catalogue = catalogue
        self.spf_walker = SpfWalker(resolver)
        self.dmarc_parser = DmarcParser(resolver)

    def close(self) -> None:
        self.dmarc_parser.close()

    async def collect(self, target: DomainTarget) -> DomainFacts:
        domain = target.name
        txt_answer, dkim, mx, dmarc, tracking = await asyncio.gather(
            self.resolver.resolve(domain, dns.rdatatype.TXT),
            _guarded("dkim", self._dkim(target)),
            _guarded("mx", self._mx(domain)),
            _guarded("dmarc", self._dmarc(domain)),
            _guarded("tracking", self._tracking(target)),
        )
        txt: TxtFacts | Failure
        spf: SpfFacts | Failure
        spf_tree: SpfTreeFacts | Failure
        if txt_answer.definitive:
            txt = TxtFacts(txt_answer.texts())
            spf = _spf_facts(txt.records)
            if spf.record is not None:
                spf_tree = await _guarded("spf", self.spf_walker.walk(domain, parse_spf(spf.record)))
            else:
                spf_tree = tree_not_evaluated(spf.count)
        else:
            txt = spf = spf_tree = txt_answer.failure()
        return DomainFacts(domain, txt, spf, spf_tree, dkim, mx, dmarc, tracking)

    async def _dkim(self, target: DomainTarget) -> DkimFacts | Failure:
        if target.dkim_selectors:
            keys = await asyncio.gather(
                *(self._dkim_key(target.name, s, "inventory") for s in target.dkim_selectors)
            )
            return DkimFacts(tuple(keys), "inventory")
        provider = self.catalogue.providers.get(target.provider)
        candidates = provider.dkim_selectors if provider else []
        keys = await asyncio.gather(*(self._dkim_key(target.name, s, "discovered") for s in candidates))
        found = tuple(k for k in keys if k.found)
        failed = next((k.failure for k in keys if k.failure is not None), None)
        if not found and failed is not None:
            # Some selectors could not be checked: "none found" would be a guess.
            return Failure(failed.reason, f"selector discovery incomplete: {failed.detail}")
        return DkimFacts(found, "discovered")

    async def _dkim_key(self, domain: str, selector: str, source: str) -> DkimKeyFacts:
        name = f"{selector}._domainkey.{domain}"
        answer = await self.resolver.resolve(name, dns.rdatatype.TXT)
        cname = answer.cnames[-1] if answer.cnames else None
        if not answer.definitive:
            return DkimKeyFacts(selector, name, source, False, cname=cname, failure=answer.failure())
        records = tuple(t for t in answer.texts() if looks_like_dkim(t))
        if not records:
            return DkimKeyFacts(selector, name, source, False, answer.texts(), cname)
        if len(records) > 1:
            return DkimKeyFacts(
                selector,
                name,
                source,
                True,
                records,
                cname,
                parse_error=f"{len(records)} key records at one selector (ambiguous)",
            )
        key = parse_dkim_key(records[0])
        return DkimKeyFacts(
            selector,
            name,
            source,
            True,
            records,
            cname,
            key_type=key.key_type,
            key_bits=key.bits,
            revoked=key.revoked,
            parse_error=key.error,
        )

    async def _mx(self, domain: str) -> MxFacts | Failure:
        answer = await self.resolver.resolve(domain, dns.rdatatype.MX)
        if not answer.definitive:
            return answer.failure()
        records = sorted(((r.preference, name_text(r.exchange)) for r in answer.rdatas), key=lambda p: p)
        null_mx = len(records) == 1 and records[0][1] == ""
        if null_mx:
            return MxFacts((), True)
        # One batch of A and AAAA questions for every host: no task per host (the provider's MX
        # hosts are shared by the whole batch and answered from the run's cache).
        questions = [(host, rdtype) for _, host in records for rdtype in _ADDRESS_TYPES]
        answers = await self.resolver.resolve_all(questions)
        hosts = tuple(
            MxHost(pref, host, _host_resolves(answers[2 * i : 2 * i + 2]))
            for i, (pref, host) in enumerate(records)
        )
        return MxFacts(hosts, False)

    async def _dmarc(self, domain: str) -> DmarcFacts | Failure:
        name = f"_dmarc.{domain}"
        records = await self._dmarc_records(name)
        if isinstance(records, Failure):
            return records
        if not records:
            # RFC 7489 §6.6.3: no record at the domain → the organisational domain's applies.
            org = organisational_domain(domain)
            if org != domain:
                org_records = await self._dmarc_records(f"_dmarc.{org}")
                if isinstance(org_records, Failure):
                    return org_records
                if org_records:
                    facts = await self.dmarc_parser.parse(org, f"_dmarc.{org}", org_records)
                    if isinstance(facts, Failure):
                        return facts
                    return dataclasses.replace(facts, inherited_from=org)
        return await self.dmarc_parser.parse(domain, name, records)

    async def _dmarc_records(self, name: str) -> tuple[str, ...] | Failure:
        answer = await self.resolver.resolve(name, dns.rdatatype.TXT)
        if not answer.definitive:
            return answer.failure()
        # RFC 7489 §6.6.3: records not starting with v=DMARC1 are ignored.
        return tuple(t for t in answer.texts() if t.replace(" ", "").upper().startswith("V=DMARC1"))

    async def _tracking(self, target: DomainTarget) -> TrackingFacts | Failure:
        provider = self.catalogue.providers.get(target.provider)
        prefix = provider.tracking_prefix if provider else "email"
        name = f"{prefix}.{target.name}"
        answer = await self.resolver.resolve(name, dns.rdatatype.CNAME)
        if answer.ok:
            return TrackingFacts(name, name_text(answer.rdatas[0].target), True)
        if not answer.definitive:
            return answer.failure()
        # NODATA for CNAME: the name exists with other records (an A from a proxy or a flattened
        # CNAME); NXDOMAIN: it does not exist at all.
        return TrackingFacts(name, None, answer.status is AnswerStatus.NODATA)


def _host_resolves(answers: list[DnsAnswer]) -> bool | None:
    """A host's A and AAAA answers: True if either has addresses, None if either failed."""
    if any(a.ok for a in answers):
        return True
    if all(a.definitive for a in answers):
        return False
    return None


def _spf_facts(texts: tuple[str, ...]) -> SpfFacts:
    records = tuple(t for t in texts if is_spf(t))
    if len(records) != 1:
        includes: list[str] = []
        for record in records:
            includes.extend(parse_spf(record).includes)
        return SpfFacts(records, None, tuple(includes), None, None, ())
    parsed = parse_spf(records[0])
    return SpfFacts(
        records, records[0], parsed.includes, parsed.redirect, parsed.all_qualifier, parsed.errors
    )


async def _guarded(area: str, work: Awaitable[T]) -> T | Failure:
    """Run one area's collection; a bug in it becomes that area's failure, not the batch's."""
    try:
        return await work
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("collecting %s failed: %s", area, exc.__class__.__name__, exc_info=True)
        return Failure(FailureKind.COLLECTOR_ERROR, f"{area}: internal error ({exc.__class__.__name__})")

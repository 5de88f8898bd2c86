"""Collects every DNS fact about one domain; problems become `Failure`s, never exceptions."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from collections.abc import Awaitable
from typing import TypeVar

import dns.rdatatype

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer, name_text
from auditor.collect.dns.checkdmarc_adapter import DmarcParser
from auditor.collect.dns.dmarc_reports import complete_dmarc
from auditor.collect.dns.dnssec import DnssecChecker
from auditor.collect.dns.mail_domain import MailDomainCollector
from auditor.collect.dns.provider_ip import provider_sample_ip
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.spf import SpfWalker, tree_not_evaluated
from auditor.collect.dns.spf_check import check_spf
from auditor.collect.mta_sts_fetch import MtaStsPolicyClient
from auditor.engine.catalogue import Catalogue
from auditor.model.dnssec import DnssecFacts
from auditor.model.facts import (
    NO_RETURN_PATH,
    DkimFacts,
    DkimKeyFacts,
    DmarcFacts,
    DomainFacts,
    Failure,
    FailureKind,
    MxFacts,
    MxHost,
    ReturnPathFacts,
    SpfFacts,
    SpfTreeFacts,
    TrackingFacts,
    TxtFacts,
)
from auditor.model.inventory import DomainTarget
from auditor.protocol.dkim import looks_like_dkim, parse_dkim_key
from auditor.protocol.psl import organisational_domain
from auditor.protocol.spf import is_spf, parse_spf
from auditor.protocol.spf_eval import SpfCheck
from auditor.protocol.spf_syntax import strict_errors

log = logging.getLogger(__name__)
T = TypeVar("T")
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


@dataclasses.dataclass(frozen=True, slots=True)
class CollectHints:
    """What the provider's account said to look at, when it was asked before DNS.

    The account knows the domain's real DKIM selectors and tracking prefix; without it the
    collector guesses from the catalogue ("discovered"). Selectors from the account are marked
    `account` so the report says where they came from.
    """

    dkim_selectors: tuple[str, ...] = ()
    tracking_prefix: str | None = None


class DnsCollector:
    """Everything DNS for one run: the resolver, the SPF walker and the DMARC parser."""

    def __init__(
        self,
        resolver: CachingResolver,
        catalogue: Catalogue,
        policies: MtaStsPolicyClient | None = None,
        dnssec: DnssecChecker | None = None,
    ) -> None:
        self.resolver = resolver
        self.catalogue = catalogue
        self.dnssec = dnssec
        self.spf_walker = SpfWalker(resolver)
        self.dmarc_parser = DmarcParser(resolver)
        self.mail_domain = MailDomainCollector(resolver, policies)

    def close(self) -> None:
        self.dmarc_parser.close()

    async def collect(self, target: DomainTarget, hints: CollectHints | None = None) -> DomainFacts:
        domain = target.name
        hints = hints or CollectHints()
        # Started beside the other lookups only when asked for: no task at all in the default run.
        dnssec_check = None if self.dnssec is None else asyncio.ensure_future(self._dnssec(domain))
        txt_answer, dkim, mx, dmarc, tracking, return_path, mta_sts, tlsrpt, bimi = await asyncio.gather(
            self.resolver.resolve(domain, dns.rdatatype.TXT),
            _guarded("dkim", self._dkim(target, hints.dkim_selectors)),
            _guarded("mx", self._mx(domain)),
            _guarded("dmarc", self._dmarc(domain)),
            _guarded("tracking", self._tracking(target, hints.tracking_prefix)),
            _guarded("return_path", self._return_path(target)),
            _guarded("mta_sts", self.mail_domain.mta_sts(domain)),
            _guarded("tlsrpt", self.mail_domain.tlsrpt(domain)),
            _guarded("bimi", self.mail_domain.bimi(domain)),
        )
        txt: TxtFacts | Failure
        spf: SpfFacts | Failure
        spf_tree: SpfTreeFacts | Failure
        spf_check: SpfCheck | Failure | None = None
        if txt_answer.definitive:
            txt = TxtFacts(txt_answer.texts())
            spf = _spf_facts(txt.records)
            if spf.record is not None:
                spf_tree, spf_check = await asyncio.gather(
                    _guarded("spf", self.spf_walker.walk(domain, spf.record)),
                    _guarded("spf check", self._spf_check(target, spf.includes)),
                )
            else:
                spf_tree = tree_not_evaluated(spf.count)
        else:
            txt = spf = spf_tree = txt_answer.failure()
        dnssec = None if dnssec_check is None else await dnssec_check
        return DomainFacts(
            domain,
            txt,
            spf,
            spf_tree,
            dkim,
            mx,
            dmarc,
            tracking,
            return_path=return_path,
            spf_check=spf_check,
            mta_sts=mta_sts,
            tlsrpt=tlsrpt,
            bimi=bimi,
            dnssec=dnssec,
        )

    async def _dnssec(self, domain: str) -> DnssecFacts | Failure:
        """The zone's DNSSEC status (only called when the run checks DNSSEC)."""
        assert self.dnssec is not None
        return await _guarded("dnssec", self.dnssec.check(domain))

    async def _spf_check(self, target: DomainTarget, published: tuple[str, ...]) -> SpfCheck | Failure:
        """check_host() for an address the provider sends from, read from its own SPF.

        Which of the provider's includes (they differ per region or data centre, e.g. Zoho's) to
        take the address from: one the domain publishes, else the declared region's, else the
        first. The region is not known yet here (DNS reveals it), so this stays a guess only when
        the domain publishes none of them, and then any of the provider's addresses must fail.
        """
        regions = [r for r in self.catalogue.provider_regions(target.provider) if r.spf_required]
        includes = list(dict.fromkeys(i.lower() for r in regions for i in r.spf_includes))
        declared = next((r.spf_include for r in regions if r.region == str(target.region)), None)
        include = next((i for i in includes if i in {p.lower() for p in published}), None)
        include = include or declared or (includes[0] if includes else None)
        if include is None:
            return Failure(FailureKind.NOT_ATTEMPTED, f"{target.provider} needs no SPF include at the domain")
        ip = await provider_sample_ip(self.resolver, include)
        if ip is None:
            return Failure(FailureKind.NOT_ATTEMPTED, f"the SPF records of {include} list no sending address")
        return await check_spf(self.resolver, target.name, ip)

    async def _dkim(self, target: DomainTarget, from_account: tuple[str, ...]) -> DkimFacts | Failure:
        named, source = target.dkim_selectors, "inventory"
        if not named:
            named, source = from_account, "account"
        if named:
            keys = await asyncio.gather(*(self._dkim_key(target.name, s, source) for s in named))
            return DkimFacts(tuple(keys), source)
        provider = self.catalogue.providers.get(target.provider)
        candidates = provider.dkim.discover if provider else []
        keys = await asyncio.gather(*(self._dkim_key(target.name, s, "discovered") for s in candidates))
        # A selector with a key, or with a CNAME that leads nowhere (something is published there
        # and is broken: a target with the zone appended twice, a provider key not enabled yet).
        found = tuple(k for k in keys if k.found or k.cnames)
        failed = next((k.failure for k in keys if k.failure is not None), None)
        if not found and failed is not None:
            # Some selectors could not be checked: "none found" would be a guess.
            return Failure(failed.reason, f"selector discovery incomplete: {failed.detail}")
        return DkimFacts(found, "discovered")

    async def txt_at(self, name: str) -> tuple[str, ...] | Failure:
        """Every TXT string at `name` (empty when none), or why the lookup failed."""
        answer = await self.resolver.resolve(name, dns.rdatatype.TXT)
        return answer.texts() if answer.definitive else answer.failure()

    async def _dkim_key(self, domain: str, selector: str, source: str) -> DkimKeyFacts:
        name = f"{selector}._domainkey.{domain}"
        answer = await self.resolver.resolve(name, dns.rdatatype.TXT)
        cname = answer.cnames[-1] if answer.cnames else None
        cnames = answer.cnames
        if not answer.definitive:
            return DkimKeyFacts(
                selector, name, source, False, cname=cname, failure=answer.failure(), cnames=cnames
            )
        records = tuple(t for t in answer.texts() if looks_like_dkim(t))
        if not records:
            return DkimKeyFacts(selector, name, source, False, answer.texts(), cname, cnames=cnames)
        if len(records) > 1:
            return DkimKeyFacts(
                selector,
                name,
                source,
                True,
                records,
                cname,
                parse_error=f"{len(records)} key records at one selector (ambiguous)",
                cnames=cnames,
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
            hash_algorithms=key.hash_algorithms,
            service_types=key.service_types,
            testing=key.testing,
            strict=key.strict,
            cnames=cnames,
        )

    async def _mx(self, domain: str) -> MxFacts | Failure:
        answer = await self.resolver.resolve(domain, dns.rdatatype.MX)
        if not answer.definitive:
            return answer.failure()
        records = sorted(((r.preference, name_text(r.exchange)) for r in answer.rdatas), key=lambda p: p)
        null_mx = len(records) == 1 and records[0][1] == ""
        if null_mx:
            return MxFacts((), True)
        # RFC 7505 §3: a null MX ("." target) must be the only MX; next to others it is an error,
        # kept out of `hosts` (it is no host to resolve).
        null_mx_mixed = any(host == "" for _, host in records)
        records = [(pref, host) for pref, host in records if host != ""]
        # One batch of A and AAAA questions for every host: no task per host (the provider's MX
        # hosts are shared by the whole batch and answered from the run's cache).
        questions = [(host, rdtype) for _, host in records for rdtype in _ADDRESS_TYPES]
        answers = await self.resolver.resolve_all(questions)
        hosts = tuple(
            _mx_host(pref, host, answers[2 * i : 2 * i + 2]) for i, (pref, host) in enumerate(records)
        )
        return MxFacts(hosts, False, null_mx_mixed)

    async def _dmarc(self, domain: str) -> DmarcFacts | Failure:
        facts = await self._dmarc_record(domain)
        if isinstance(facts, Failure):
            return facts
        return await complete_dmarc(self.resolver, domain, facts)

    async def _dmarc_record(self, domain: str) -> DmarcFacts | Failure:
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

    async def _tracking(self, target: DomainTarget, prefix: str | None = None) -> TrackingFacts | Failure:
        name = target.tracking_host
        if name is None and prefix is not None:
            name = f"{prefix}.{target.name}"  # the account's own tracking prefix (web_prefix)
        if name is None:
            provider = self.catalogue.providers.get(target.provider)
            label = provider.tracking.label if provider and provider.tracking else None
            if label is None:
                # No tracking host of the domain is known (none at this provider, or chosen per
                # account and not named in the inventory): nothing to look up.
                return TrackingFacts(None, None, False)
            name = f"{label}.{target.name}"
        answer = await self.resolver.resolve(name, dns.rdatatype.CNAME)
        if answer.ok:
            return TrackingFacts(name, name_text(answer.rdatas[0].target), True)
        if not answer.definitive:
            return answer.failure()
        # NODATA for CNAME: the name exists with other records (an A from a proxy or a flattened
        # CNAME); NXDOMAIN: it does not exist at all.
        return TrackingFacts(name, None, answer.status is AnswerStatus.NODATA)

    async def _return_path(self, target: DomainTarget) -> ReturnPathFacts | Failure:
        """The return-path host: a CNAME to the provider, or MX plus SPF TXT of its own."""
        provider = self.catalogue.providers.get(target.provider)
        spec = provider.return_path if provider else None
        name, source = target.return_path_host, "inventory"
        if name is None and spec is not None and spec.label is not None:
            name, source = f"{spec.label}.{target.name}", "catalogue"
        if name is None:
            return NO_RETURN_PATH
        cname_answer = await self.resolver.resolve(name, dns.rdatatype.CNAME)
        if not cname_answer.definitive:
            return cname_answer.failure()
        if cname_answer.ok:
            # A CNAME cannot share its name with MX or TXT (RFC 1034 §3.6.2): nothing more to ask.
            return ReturnPathFacts(name, source, name_text(cname_answer.rdatas[0].target), True)
        mx_answer, txt_answer = await asyncio.gather(
            self.resolver.resolve(name, dns.rdatatype.MX),
            self.resolver.resolve(name, dns.rdatatype.TXT),
        )
        for answer in (mx_answer, txt_answer):
            if not answer.definitive:
                return answer.failure()
        mx_hosts = tuple(name_text(r.exchange) for r in sorted(mx_answer.rdatas, key=lambda r: r.preference))
        spf_records = tuple(t for t in txt_answer.texts() if is_spf(t))
        includes = tuple(i for record in spf_records for i in parse_spf(record).includes)
        exists = cname_answer.status is AnswerStatus.NODATA
        return ReturnPathFacts(name, source, None, exists, mx_hosts, spf_records, includes)


def _mx_host(preference: int, host: str, answers: list[DnsAnswer]) -> MxHost:
    """One MX target with how its A/AAAA lookups went, the alias it is, and whether it is an IP."""
    status: str | None = None
    if any(a.ok for a in answers):
        status = "ok"
    elif any(a.status is AnswerStatus.NXDOMAIN for a in answers):
        status = "nxdomain"
    elif all(a.definitive for a in answers):
        status = "nodata"
    cname = next((a.cnames[-1] for a in answers if a.cnames), None)
    # NXDOMAIN for one type is NXDOMAIN for all (RFC 8020): the other lookup's failure changes nothing.
    resolves = {"ok": True, "nxdomain": False, "nodata": False}.get(status) if status else None
    return MxHost(preference, host, resolves, status, cname, _is_ip_literal(host))


def _is_ip_literal(host: str) -> bool:
    """`10 192.0.2.1` (or `[192.0.2.1]`): an address where RFC 5321 §5.1 wants a host name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _spf_facts(texts: tuple[str, ...]) -> SpfFacts:
    records = tuple(t for t in texts if is_spf(t))
    if len(records) != 1:
        includes: list[str] = []
        for record in records:
            includes.extend(parse_spf(record).includes)
        return SpfFacts(records, None, tuple(includes), None, None, ())
    parsed = parse_spf(records[0])
    return SpfFacts(
        records, records[0], parsed.includes, parsed.redirect, parsed.all_qualifier, strict_errors(records[0])
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

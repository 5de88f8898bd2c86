"""Collects MTA-STS, TLS-RPT and BIMI facts: one TXT lookup each, plus the MTA-STS policy fetch.

Three queries per domain (`_mta-sts`, `_smtp._tls`, `default._bimi`), asked concurrently with the
domain's other lookups; the HTTPS policy is fetched only when exactly one `v=STSv1` record exists
(nothing to fetch otherwise, RFC 8461 §3.1), and not at all when no client is given (fetching
turned off), in which case the policy is a NOT_ATTEMPTED failure and its rules are `unknown`.
"""

from __future__ import annotations

import dataclasses

import dns.rdatatype

from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.mta_sts_fetch import MtaStsPolicyClient
from auditor.model.facts import Failure, FailureKind
from auditor.model.mail_domain import BimiFacts, MtaStsFacts, TlsRptFacts
from auditor.protocol.bimi import is_bimi_record, parse_bimi_record
from auditor.protocol.mta_sts import is_sts_record, parse_sts_record
from auditor.protocol.tlsrpt import is_tlsrpt_record, parse_tlsrpt_record

FETCH_OFF = Failure(FailureKind.NOT_ATTEMPTED, "the MTA-STS policy was not fetched (--no-mta-sts-fetch)")


class MailDomainCollector:
    """MTA-STS, TLS-RPT and BIMI for one run (shares the run's resolver and policy client)."""

    def __init__(self, resolver: CachingResolver, policies: MtaStsPolicyClient | None) -> None:
        self.resolver = resolver
        self.policies = policies

    async def _txt(self, name: str) -> tuple[str, ...] | Failure:
        answer = await self.resolver.resolve(name, dns.rdatatype.TXT)
        return answer.texts() if answer.definitive else answer.failure()

    async def mta_sts(self, domain: str) -> MtaStsFacts | Failure:
        name = f"_mta-sts.{domain}"
        texts = await self._txt(name)
        if isinstance(texts, Failure):
            return texts
        facts = mta_sts_facts(name, texts)
        if not facts.valid:
            return facts
        policy = await self.policies.fetch(domain) if self.policies is not None else FETCH_OFF
        return dataclasses.replace(facts, policy=policy)

    async def tlsrpt(self, domain: str) -> TlsRptFacts | Failure:
        name = f"_smtp._tls.{domain}"
        texts = await self._txt(name)
        return texts if isinstance(texts, Failure) else tlsrpt_facts(name, texts)

    async def bimi(self, domain: str) -> BimiFacts | Failure:
        name = f"default._bimi.{domain}"
        texts = await self._txt(name)
        return texts if isinstance(texts, Failure) else bimi_facts(name, texts)


def mta_sts_facts(name: str, texts: tuple[str, ...]) -> MtaStsFacts:
    """The TXT side of MTA-STS (no policy yet): RFC 8461 §3.1 record selection and syntax."""
    records = tuple(t for t in texts if is_sts_record(t))
    if len(records) != 1:
        errors = (f"{len(records)} v=STSv1 records; senders then assume no MTA-STS (RFC 8461 §3.1)",)
        return MtaStsFacts(name, records, None, None, errors if records else ())
    parsed = parse_sts_record(records[0])
    return MtaStsFacts(name, records, records[0], parsed.policy_id, parsed.errors)


def tlsrpt_facts(name: str, texts: tuple[str, ...]) -> TlsRptFacts:
    """RFC 8460 §3: the `v=TLSRPTv1` records, and the one record's report URIs and errors."""
    records = tuple(t for t in texts if is_tlsrpt_record(t))
    if len(records) > 1:
        return TlsRptFacts(name, records, (), (f"{len(records)} v=TLSRPTv1 records (RFC 8460 §3)",))
    if not records:
        return TlsRptFacts(name, (), (), ())
    parsed = parse_tlsrpt_record(records[0])
    return TlsRptFacts(name, records, parsed.rua, parsed.errors)


def bimi_facts(name: str, texts: tuple[str, ...]) -> BimiFacts:
    """The `v=BIMI1` records, and the one record's URLs, declination and errors."""
    records = tuple(t for t in texts if is_bimi_record(t))
    if len(records) > 1:
        return BimiFacts(name, records, None, None, False, (f"{len(records)} v=BIMI1 records",))
    if not records:
        return BimiFacts(name, (), None, None, False, ())
    parsed = parse_bimi_record(records[0])
    return BimiFacts(name, records, parsed.logo_url, parsed.authority_url, parsed.declined, parsed.errors)

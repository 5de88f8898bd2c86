"""What a DMARC record needs beyond itself: report-destination authorisation and whether the
audited name exists (for `np`).

RFC 7489 §7.1: a `rua`/`ruf` address outside the policy domain's organisational domain receives
reports only if it publishes `v=DMARC1` at `<policy-domain>._report._dmarc.<destination>`. A
wildcard there (`*._report._dmarc.<destination>`) is expanded by the DNS server, so one question
covers both. checkdmarc asks the same names while it parses (through the run's resolver), so these
questions are normally answered from the run's cache; a failed lookup is "could not verify"
(`authorised=None`), never "not authorised" (checkdmarc folds the two together).
"""

from __future__ import annotations

import asyncio
import dataclasses

import dns.rdatatype

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.dmarc import ReportDestination
from auditor.model.facts import DmarcFacts
from auditor.protocol.dmarc import ReportUri, authorisation_name, is_external


async def complete_dmarc(resolver: CachingResolver, domain: str, facts: DmarcFacts) -> DmarcFacts:
    """`facts` with its report destinations checked and, for an inherited policy, existence."""
    parsed = facts.parsed
    if parsed is None:
        return facts
    policy_domain = facts.policy_domain
    uris = [("rua", u) for u in parsed.rua] + [("ruf", u) for u in parsed.ruf]
    mailto = [(tag, u) for tag, u in uris if u.domain is not None]
    checks = [_destination(resolver, policy_domain, tag, uri) for tag, uri in mailto]
    exists: bool | None = None
    if facts.inherited_from is not None:
        # The collector asks TXT at the domain too; the run's resolver shares that one lookup.
        answer, *destinations = await asyncio.gather(resolver.resolve(domain, dns.rdatatype.TXT), *checks)
        exists = _exists(answer)
    else:
        destinations = list(await asyncio.gather(*checks))
    return dataclasses.replace(facts, destinations=tuple(destinations), domain_exists=exists)


def _exists(answer: DnsAnswer) -> bool | None:
    if answer.status is AnswerStatus.NXDOMAIN:
        return False
    return True if answer.definitive else None


async def _destination(
    resolver: CachingResolver, policy_domain: str, tag: str, uri: ReportUri
) -> ReportDestination:
    assert uri.domain is not None
    if not is_external(policy_domain, uri.domain):
        return ReportDestination(tag, uri.uri, uri.domain, False, None, True)
    name = authorisation_name(policy_domain, uri.domain)
    answer = await resolver.resolve(name, dns.rdatatype.TXT)
    if not answer.definitive:
        failure = answer.failure()
        return ReportDestination(tag, uri.uri, uri.domain, True, name, None, failure.detail)
    authorised = any(_is_dmarc(text) for text in answer.texts())
    return ReportDestination(tag, uri.uri, uri.domain, True, name, authorised)


def _is_dmarc(text: str) -> bool:
    return text.replace(" ", "").upper().startswith("V=DMARC1")

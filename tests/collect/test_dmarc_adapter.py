"""checkdmarc parsing through the run's resolver gives what checkdmarc gives when it queries itself.

The reference is checkdmarc with an ordinary dnspython resolver pointed at the same loopback
server; ours parses on the event loop from the run's completed lookups, resolving what is missing
and parsing again. Facts and the number of questions checkdmarc asked must agree.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer
from auditor.collect.dns.checkdmarc_adapter import (
    DmarcParser,
    _as_dnspython,
    _parse_one,
    reset_checkdmarc_cache,
)
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.facts import DmarcFacts, Failure
from tests.servers.dns_server import LoopbackDnsServer

ZONES = {
    "example.com": """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
mg IN MX 10 mxa.example.com.
nomx IN TXT "no mail here"
mxa IN A 192.0.2.25
""",
    "reports.example.net": """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
@ IN MX 10 mx
ns1 IN A 192.0.2.1
mx IN A 192.0.2.26
mg.example.com._report._dmarc IN TXT "v=DMARC1"
""",
    "wild.example.org": """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
@ IN MX 10 mx
ns1 IN A 192.0.2.1
mx IN A 192.0.2.27
*._report._dmarc IN TXT "v=DMARC1"
""",
    "noauth.example.org": """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
@ IN MX 10 mx
ns1 IN A 192.0.2.1
mx IN A 192.0.2.28
""",
}

RECORDS = {
    "own domain": "v=DMARC1; p=reject; rua=mailto:dmarc@mg.example.com",
    "own domain without MX": "v=DMARC1; p=none; rua=mailto:dmarc@nomx.example.com",
    "authorised external": "v=DMARC1; p=quarantine; rua=mailto:d@reports.example.net",
    "wildcard authorised": "v=DMARC1; p=reject; rua=mailto:d@wild.example.org",
    "not authorised": "v=DMARC1; p=reject; rua=mailto:d@noauth.example.org",
    "several destinations": (
        "v=DMARC1; p=reject; rua=mailto:a@reports.example.net,mailto:b@noauth.example.org;"
        " ruf=mailto:c@wild.example.org,mailto:e@missing.example.org"
    ),
    "no report address": "v=DMARC1; p=none",
    "invalid": "v=DMARC1; p=bogus; rua=mailto:dmarc@mg.example.com",
}
DOMAIN = "mg.example.com"


class CountingResolver(dns.resolver.Resolver):
    """checkdmarc's own lookups, counted."""

    def __init__(self, server: LoopbackDnsServer) -> None:
        super().__init__(configure=False)
        self.nameservers = [server.host]
        self.port = server.port
        self.asked = 0

    def resolve(self, *args: Any, **kwargs: Any) -> dns.resolver.Answer:  # type: ignore[override]
        self.asked += 1
        return super().resolve(*args, **kwargs)


@pytest.fixture(scope="module")
def server() -> Any:
    with LoopbackDnsServer(ZONES) as running:
        yield running


def _ours(server: LoopbackDnsServer, record: str) -> tuple[DmarcFacts | Failure, int]:
    async def run() -> tuple[DmarcFacts | Failure, int]:
        backend = NetworkBackend([Nameserver(server.host, server.port)], timeout=1.0, attempts=1)
        resolver = CachingResolver(backend)
        try:
            # What the collector has done before parsing: the domain's own MX is being resolved.
            await resolver.resolve(DOMAIN, dns.rdatatype.MX)
            before = resolver.lookups
            facts = await DmarcParser(resolver).parse(DOMAIN, f"_dmarc.{DOMAIN}", (record,))
            return facts, resolver.lookups - before
        finally:
            await resolver.close()

    reset_checkdmarc_cache()
    return asyncio.run(run())


def _reference(server: LoopbackDnsServer, record: str) -> tuple[DmarcFacts | Failure, int]:
    reset_checkdmarc_cache()
    resolver = CountingResolver(server)
    facts = _parse_one(DOMAIN, f"_dmarc.{DOMAIN}", record, resolver)
    return facts, resolver.asked


@pytest.mark.parametrize("label", sorted(RECORDS))
def test_facts_and_lookups_match_checkdmarc_querying_itself(server: LoopbackDnsServer, label: str) -> None:
    ours, asked = _ours(server, RECORDS[label])
    reference, reference_asked = _reference(server, RECORDS[label])
    assert ours == reference
    assert asked == reference_asked


def test_the_scenarios_differ_where_they_should(server: LoopbackDnsServer) -> None:
    """The agreement above is about real differences: warnings appear and disappear."""
    facts = {label: _ours(server, record)[0] for label, record in RECORDS.items()}
    assert all(isinstance(f, DmarcFacts) for f in facts.values())
    warnings = {label: " ".join(f.warnings) for label, f in facts.items()}  # type: ignore[union-attr]
    assert "does not indicate that it accepts" in warnings["not authorised"]
    assert "does not indicate" not in warnings["authorised external"]
    assert "does not indicate" not in warnings["wildcard authorised"]
    assert "has no MX records" in warnings["own domain without MX"]
    assert "MX" not in warnings["own domain"]
    assert not facts["invalid"].valid  # type: ignore[union-attr]
    assert facts["several destinations"].valid  # type: ignore[union-attr]


def test_a_failing_lookup_during_parsing_is_reported_not_hung(server: LoopbackDnsServer) -> None:
    server.set_fault("reports.example.net", "servfail", "MX")
    try:
        facts, _ = _ours(server, RECORDS["authorised external"])
    finally:
        server.clear_faults()
    assert isinstance(facts, DmarcFacts)
    assert any("Failed to retrieve MX records" in w for w in facts.warnings), facts.warnings


def _reference_as_dnspython(answer: DnsAnswer, name: str, kind: Any) -> Any:
    """The answer as dnspython's own resolver hands it out: make_query, make_response, rrset."""
    absolute = dns.name.from_text(name)
    query = dns.message.make_query(absolute, kind)
    response = dns.message.make_response(query)
    if answer.status is AnswerStatus.OK:
        rrset = response.find_rrset(response.answer, absolute, dns.rdataclass.IN, kind, create=True)
        rrset.update(dns.rrset.from_rdata_list(absolute, 300, list(answer.rdatas)))
        return dns.resolver.Answer(absolute, kind, dns.rdataclass.IN, response)
    if answer.status is AnswerStatus.NXDOMAIN:
        raise dns.resolver.NXDOMAIN(qnames=[absolute], responses={absolute: response})
    if answer.status is AnswerStatus.NODATA:
        raise dns.resolver.NoAnswer(response=response)
    if answer.status is AnswerStatus.TIMEOUT:
        raise dns.resolver.LifetimeTimeout(timeout=30.0, errors=[])
    raise dns.resolver.NoNameservers(request=query, errors=[])


MX = dns.rdatatype.MX
ANSWERS = {
    "ok": DnsAnswer(
        "mg.example.com",
        MX,
        AnswerStatus.OK,
        tuple(dns.rdata.from_text("IN", "MX", t) for t in ("10 mxa.mailgun.org.", "20 mxb.mailgun.org.")),
    ),
    "nxdomain": DnsAnswer("mg.example.com", MX, AnswerStatus.NXDOMAIN),
    "nodata": DnsAnswer("mg.example.com", MX, AnswerStatus.NODATA),
    "timeout": DnsAnswer("mg.example.com", MX, AnswerStatus.TIMEOUT),
    "servfail": DnsAnswer("mg.example.com", MX, AnswerStatus.SERVFAIL),
    "refused": DnsAnswer("mg.example.com", MX, AnswerStatus.REFUSED),
}


@pytest.mark.parametrize("label", sorted(ANSWERS))
def test_answers_reach_checkdmarc_as_dnspython_gives_them(label: str) -> None:
    """Same records, or the same exception with the same text (checkdmarc quotes it in warnings)."""
    answer = ANSWERS[label]

    def outcome(build: Any) -> Any:
        try:
            result = build()
        except dns.exception.DNSException as exc:
            return (type(exc), str(exc))
        return ("answer", [r.to_text() for r in result], str(result.qname), result.rrset.name.to_text())

    ours = outcome(lambda: _as_dnspython(answer, "mg.example.com", MX, True))
    reference = outcome(lambda: _reference_as_dnspython(answer, "mg.example.com", MX))
    assert ours == reference
    assert (ours[0] == "answer") == (label == "ok")

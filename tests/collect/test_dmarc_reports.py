"""DMARC facts from the collector: report-destination authorisation (RFC 7489 §7.1), the policy
that applies (p / sp / np) and how many questions it costs, against the loopback DNS server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from auditor.collect.dns.checkdmarc_adapter import reset_checkdmarc_cache
from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.dmarc import ReportDestination
from auditor.model.facts import DmarcFacts, DomainFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.resources import rules_dir
from tests.servers.dns_server import LoopbackDnsServer

SOA = "@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
ZONES = {
    "shop.example": SOA
    + """
@ IN MX 10 mx
mx IN A 192.0.2.25
_dmarc IN TXT ( "v=DMARC1; p=reject; sp=quarantine; np=reject; "
    "rua=mailto:d@shop.example,mailto:x@reports.example,mailto:y@wild.example; "
    "ruf=mailto:z@noauth.example!10m" )
mail IN TXT "v=spf1 include:mailgun.org ~all"
own IN TXT "v=spf1 -all"
_dmarc.own IN TXT "v=DMARC1; p=none; rua=mailto:d@broken.example"
""",
    "reports.example": SOA
    + """
@ IN MX 10 mx
mx IN A 192.0.2.26
shop.example._report._dmarc IN TXT "v=DMARC1"
""",
    "wild.example": SOA
    + """
@ IN MX 10 mx
mx IN A 192.0.2.27
*._report._dmarc IN TXT "v=DMARC1"
""",
    "noauth.example": SOA + "@ IN MX 10 mx\nmx IN A 192.0.2.28\n",
    "broken.example": SOA + "@ IN MX 10 mx\nmx IN A 192.0.2.29\n",
}


@pytest.fixture(scope="module")
def server() -> Any:
    with LoopbackDnsServer(ZONES) as running:
        yield running


def _collect(server: LoopbackDnsServer, name: str) -> DomainFacts:
    async def run() -> DomainFacts:
        backend = NetworkBackend([Nameserver(server.host, server.port)], timeout=0.5, attempts=1)
        resolver = CachingResolver(backend)
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        try:
            return await collector.collect(DomainTarget(name=name, region=Region.US))
        finally:
            collector.close()
            await resolver.close()

    reset_checkdmarc_cache()
    return asyncio.run(run())


def _dmarc(facts: DomainFacts) -> DmarcFacts:
    assert isinstance(facts.dmarc, DmarcFacts), facts.dmarc
    return facts.dmarc


def _by_domain(facts: DmarcFacts) -> dict[str, ReportDestination]:
    return {d.domain: d for d in facts.destinations}


def test_each_destination_is_checked_where_it_must_be(server: LoopbackDnsServer) -> None:
    dmarc = _dmarc(_collect(server, "shop.example"))
    found = _by_domain(dmarc)
    assert found["shop.example"] == ReportDestination(
        "rua", "mailto:d@shop.example", "shop.example", False, None, True
    )
    assert found["reports.example"].authorised is True
    assert found["reports.example"].authorisation_name == "shop.example._report._dmarc.reports.example"
    assert found["wild.example"].authorised is True  # through *._report._dmarc.wild.example
    assert found["noauth.example"].authorised is False
    assert found["noauth.example"].tag == "ruf"
    assert [d.domain for d in dmarc.unauthorised_destinations] == ["noauth.example"]
    assert dmarc.parsed is not None and dmarc.parsed.ruf[0].size_limit_bytes == 10 * 1024 * 1024
    assert (dmarc.applied_policy, dmarc.applied_tag) == ("reject", "p")


def test_a_failed_authorisation_lookup_is_unknown_not_unauthorised(server: LoopbackDnsServer) -> None:
    server.set_fault("shop.example._report._dmarc.noauth.example", "servfail")
    try:
        dmarc = _dmarc(_collect(server, "shop.example"))
    finally:
        server.clear_faults()
    noauth = _by_domain(dmarc)["noauth.example"]
    assert noauth.authorised is None
    assert noauth.detail is not None and "servfail" in noauth.detail.lower()
    assert dmarc.unauthorised_destinations == ()
    assert [d.domain for d in dmarc.unverified_destinations] == ["noauth.example"]


def test_inherited_policy_is_sp_for_an_existing_subdomain_and_np_for_a_missing_one(
    server: LoopbackDnsServer,
) -> None:
    existing = _dmarc(_collect(server, "mail.shop.example"))
    assert existing.inherited_from == "shop.example"
    assert existing.domain_exists is True
    assert (existing.applied_policy, existing.applied_tag) == ("quarantine", "sp")
    missing = _dmarc(_collect(server, "gone.shop.example"))
    assert missing.domain_exists is False
    assert (missing.applied_policy, missing.applied_tag) == ("reject", "np")
    # Authorisation is asked about the policy domain, whose record it is.
    assert _by_domain(missing)["reports.example"].authorised is True


def test_own_record_of_a_subdomain_applies_with_its_p(server: LoopbackDnsServer) -> None:
    own = _dmarc(_collect(server, "own.shop.example"))
    assert own.inherited_from is None
    assert (own.applied_policy, own.applied_tag) == ("none", "p")
    # broken.example is another organisational domain and publishes no authorisation.
    assert _by_domain(own)["broken.example"].authorised is False
    assert (
        own.unauthorised_destinations[0].authorisation_name
        == "own.shop.example._report._dmarc.broken.example"
    )


def test_authorisation_names_are_asked_once_with_checkdmarc(server: LoopbackDnsServer) -> None:
    """checkdmarc asks the same names while parsing; the run's cache answers ours.

    The one extra question is for a destination checkdmarc accepts through its literal
    `*._report._dmarc` lookup: ours asks the real name (the server expands the wildcard).
    """
    server.reset_counters()
    _collect(server, "shop.example")
    names = [n for _, n, _ in server.queries if "_report._dmarc" in n]
    assert sorted(names) == [
        "*._report._dmarc.noauth.example",
        "*._report._dmarc.reports.example",
        "*._report._dmarc.wild.example",
        "shop.example._report._dmarc.noauth.example",
        "shop.example._report._dmarc.reports.example",
        "shop.example._report._dmarc.wild.example",
    ]


def test_zone_files_expand_wildcards_for_authorisation(tmp_path: Path) -> None:
    for origin, text in ZONES.items():
        (tmp_path / f"{origin}.zone").write_text(f"$ORIGIN {origin}.\n$TTL 300\n{text}")

    async def run() -> DomainFacts:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        try:
            return await collector.collect(DomainTarget(name="shop.example", region=Region.US))
        finally:
            collector.close()

    reset_checkdmarc_cache()
    found = _by_domain(_dmarc(asyncio.run(run())))
    assert found["wild.example"].authorised is True
    assert found["noauth.example"].authorised is False

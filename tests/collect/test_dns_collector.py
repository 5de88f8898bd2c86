"""The DNS collector against zone data: facts a rule cannot get wrong if the collector is right."""

from __future__ import annotations

import asyncio
from pathlib import Path

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import TrackingFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.protocol.spf_eval import SpfCheck, SpfResult
from auditor.resources import rules_dir

ZONE = """$ORIGIN proxied.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
@ IN TXT "v=spf1 include:mailgun.org ~all"
email IN A 192.0.2.80
"""


def _collect(tmp_path: Path, name: str) -> object:
    (tmp_path / "proxied.example.zone").write_text(ZONE)

    async def run() -> object:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        try:
            return await collector.collect(DomainTarget(name=name, region=Region.US))
        finally:
            collector.close()

    return asyncio.run(run())


def test_tracking_name_with_an_address_instead_of_a_cname_exists(tmp_path: Path) -> None:
    facts = _collect(tmp_path, "proxied.example")
    assert facts.tracking == TrackingFacts("email.proxied.example", None, True)  # type: ignore[attr-defined]


def test_missing_tracking_name_does_not_exist(tmp_path: Path) -> None:
    facts = _collect(tmp_path, "ns1.proxied.example")
    assert facts.tracking == TrackingFacts("email.ns1.proxied.example", None, False)  # type: ignore[attr-defined]


# -- SPF evaluated for one of the provider's own addresses ---------------------------------------

EXAMPLE_ZONES = Path(__file__).resolve().parents[2] / "examples" / "zones"


def _collect_example(name: str) -> object:
    async def run() -> object:
        resolver = CachingResolver(ZoneBackend.from_directory(EXAMPLE_ZONES))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        try:
            return await collector.collect(DomainTarget(name=name, region=Region.US))
        finally:
            collector.close()
            await resolver.close()

    return asyncio.run(run())


def test_provider_address_passes_spf_of_a_correct_domain() -> None:
    facts = _collect_example("mg.acme-shop.example")
    check = facts.spf_check  # type: ignore[attr-defined]
    assert isinstance(check, SpfCheck), check
    # The address comes from mailgun.org's own chain (_spf1.mailgun.org's first range).
    assert check.ip == "209.61.151.1"
    assert (check.result, check.matched_term) == (SpfResult.PASS, "include:mailgun.org")


def test_provider_address_softfails_where_the_include_is_missing() -> None:
    facts = _collect_example("mg.bluebird-books.example")
    check = facts.spf_check  # type: ignore[attr-defined]
    assert isinstance(check, SpfCheck), check
    assert check.result is SpfResult.SOFTFAIL and check.matched_term == "~all"

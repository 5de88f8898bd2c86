"""The DNS collector against zone data: facts a rule cannot get wrong if the collector is right."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dns.rdatatype

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import TrackingFacts
from auditor.model.inventory import DomainTarget, Region
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


ALIASES = """$ORIGIN alias.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN CNAME web
web IN A 192.0.2.80
"""


def test_answers_from_the_cache_equal_and_count_as_resolve(tmp_path: Path) -> None:
    """resolve_all/resolve_now (no task, no wait) give what resolve() gives and count the same."""
    (tmp_path / "alias.example.zone").write_text(ALIASES)
    questions = [
        ("www.alias.example", dns.rdatatype.A),
        ("www.alias.example", dns.rdatatype.AAAA),
        ("nope.alias.example", dns.rdatatype.A),
        ("web.alias.example", dns.rdatatype.A),
    ]

    async def run() -> tuple[list[object], list[object], list[object], int, int, int]:
        reference = CachingResolver(ZoneBackend.from_directory(tmp_path))
        first = [await reference.resolve(n, t) for n, t in questions]
        again = [await reference.resolve(n, t) for n, t in questions]
        batched = CachingResolver(ZoneBackend.from_directory(tmp_path))
        cold = await batched.resolve_all(questions)
        warm = await batched.resolve_all(questions)
        now = [batched.resolve_now(n, t) for n, t in questions]
        return [first, again], [cold, warm], now, reference.lookups, batched.lookups, batched.queries_sent

    sequential, batched, now, lookups, batched_lookups, sent = asyncio.run(run())
    assert batched == sequential
    assert now == sequential[0]
    assert sequential[0][0].cnames == ("web.alias.example",)  # type: ignore[attr-defined]
    # Three passes against two (each pass: 4 questions, one of them chasing an alias): 15 vs 10.
    assert (lookups, batched_lookups) == (10, 15)
    assert sent == 5  # www A, www AAAA (NODATA at the alias), web AAAA, nope A, web A: once each

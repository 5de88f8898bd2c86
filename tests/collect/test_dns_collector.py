"""The DNS collector against zone data: facts a rule cannot get wrong if the collector is right."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dns.rdatatype

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import NO_RETURN_PATH, ReturnPathFacts, TrackingFacts
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


PROVIDER_ZONE = """$ORIGIN shop.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
pm-bounces IN CNAME pm.mtasv.net.
send IN MX 10 feedback-smtp.eu-west-1.amazonses.com.
send IN TXT "v=spf1 include:amazonses.com ~all"
send IN TXT "unrelated"
s1._domainkey IN CNAME s1.domainkey.u1.wl1.sendgrid.net.shop.example.
"""


def _collect_target(tmp_path: Path, target: DomainTarget) -> object:
    (tmp_path / "shop.example.zone").write_text(PROVIDER_ZONE)

    async def run() -> object:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        try:
            return await collector.collect(target)
        finally:
            collector.close()

    return asyncio.run(run())


def test_return_path_cname_from_the_catalogue_label(tmp_path: Path) -> None:
    facts = _collect_target(tmp_path, DomainTarget(name="shop.example", provider="postmark"))
    assert facts.return_path == ReturnPathFacts(  # type: ignore[attr-defined]
        "pm-bounces.shop.example", "catalogue", "pm.mtasv.net", True
    )


def test_return_path_mx_and_spf_of_the_resend_send_host(tmp_path: Path) -> None:
    facts = _collect_target(tmp_path, DomainTarget(name="shop.example", provider="resend"))
    rp = facts.return_path  # type: ignore[attr-defined]
    assert (rp.name, rp.source, rp.cname) == ("send.shop.example", "catalogue", None)
    assert rp.mx_hosts == ("feedback-smtp.eu-west-1.amazonses.com",)
    assert (rp.spf_records, rp.spf_includes) == (("v=spf1 include:amazonses.com ~all",), ("amazonses.com",))


def test_no_return_path_host_known_means_nothing_is_looked_up(tmp_path: Path) -> None:
    facts = _collect_target(tmp_path, DomainTarget(name="shop.example", provider="amazon-ses"))
    assert facts.return_path == NO_RETURN_PATH  # type: ignore[attr-defined]
    named = _collect_target(
        tmp_path,
        DomainTarget(name="shop.example", provider="amazon-ses", return_path_host="mail.shop.example"),
    )
    assert named.return_path == ReturnPathFacts("mail.shop.example", "inventory")  # type: ignore[attr-defined]


def test_discovery_keeps_a_selector_whose_cname_leads_nowhere(tmp_path: Path) -> None:
    facts = _collect_target(tmp_path, DomainTarget(name="shop.example", provider="sendgrid"))
    (key,) = facts.dkim.selectors  # type: ignore[attr-defined]
    assert (key.selector, key.found, key.cnames) == (
        "s1",
        False,
        ("s1.domainkey.u1.wl1.sendgrid.net.shop.example",),
    )
    assert facts.tracking == TrackingFacts(None, None, False)  # type: ignore[attr-defined]


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

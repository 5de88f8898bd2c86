"""MX facts from zone data: null MX mixed with others, CNAME targets, IP literals, NXDOMAIN vs NODATA."""

from __future__ import annotations

import asyncio
from pathlib import Path

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import MxFacts, MxHost
from auditor.model.inventory import DomainTarget, Region
from auditor.resources import rules_dir
from tests.servers.dns_server import LoopbackDnsServer

ZONE = """$ORIGIN mx.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
mixed IN MX 0 .
mixed IN MX 10 real.mx.example.
real IN A 192.0.2.25
null IN MX 0 .
alias IN MX 10 web
web IN CNAME real
literal IN MX 10 192.0.2.1.
gone IN MX 10 nothing-here
noaddr IN MX 10 txtonly
txtonly IN TXT "no address here"
"""


def _mx(tmp_path: Path, label: str) -> MxFacts:
    (tmp_path / "mx.example.zone").write_text(ZONE)

    async def run() -> MxFacts:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        try:
            facts = await collector.collect(DomainTarget(name=f"{label}.mx.example", region=Region.US))
        finally:
            collector.close()
        assert isinstance(facts.mx, MxFacts), facts.mx
        return facts.mx

    return asyncio.run(run())


def test_null_mx_mixed_with_another_mx(tmp_path: Path) -> None:
    mx = _mx(tmp_path, "mixed")
    assert (mx.null_mx, mx.null_mx_mixed, mx.names) == (False, True, ("real.mx.example",))


def test_lone_null_mx(tmp_path: Path) -> None:
    mx = _mx(tmp_path, "null")
    assert (mx.null_mx, mx.null_mx_mixed, mx.hosts) == (True, False, ())


def test_target_that_is_an_alias(tmp_path: Path) -> None:
    assert _mx(tmp_path, "alias").hosts == (MxHost(10, "web.mx.example", True, "ok", "real.mx.example"),)


def test_ip_literal_target(tmp_path: Path) -> None:
    (host,) = _mx(tmp_path, "literal").hosts
    # Looked up as the name "192.0.2.1." (outside every zone here, so not answered definitively).
    assert (host.host, host.ip_literal, host.resolves) == ("192.0.2.1", True, None)


def test_nxdomain_and_nodata_targets_differ(tmp_path: Path) -> None:
    (gone,) = _mx(tmp_path, "gone").hosts
    (noaddr,) = _mx(tmp_path, "noaddr").hosts
    assert (gone.resolves, gone.status) == (False, "nxdomain")
    assert (noaddr.resolves, noaddr.status) == (False, "nodata")


def test_nxdomain_settles_a_target_even_when_its_other_lookup_fails(tmp_path: Path) -> None:
    """A name that does not exist has no address of any type (RFC 8020): a failed AAAA lookup
    beside an A NXDOMAIN leaves nothing to verify, so MX002 can say "does not exist"."""
    (tmp_path / "mx.example.zone").write_text(ZONE)
    with LoopbackDnsServer(zone_dir=tmp_path) as server:
        server.set_fault("nothing-here.mx.example", "servfail", "AAAA")

        async def run() -> MxFacts:
            backend = NetworkBackend([Nameserver(server.host, server.port)], timeout=0.5, attempts=1)
            resolver = CachingResolver(backend)
            collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
            try:
                facts = await collector.collect(DomainTarget(name="gone.mx.example", region=Region.US))
            finally:
                collector.close()
                await resolver.close()
            assert isinstance(facts.mx, MxFacts), facts.mx
            return facts.mx

        (gone,) = asyncio.run(run()).hosts
    assert (gone.resolves, gone.status) == (False, "nxdomain")

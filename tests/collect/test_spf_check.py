"""check_spf() over the production resolver and a real loopback DNS server.

The conformance suites (tests/conformance) run every RFC case this way; these tests pin what the
driver itself adds: error mapping to temperror, CNAME following, the overall time limit and
names with bytes that zone text cannot spell plainly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import dns.name
import pytest

from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.spf_check import check_spf, label_text, query_name
from auditor.protocol.spf_eval import SpfCheck, SpfResult
from tests.servers.dns_server import LoopbackDnsServer

ZONE = """
$TTL 300
@           IN SOA ns1 hostmaster 1 3600 600 86400 300
@           IN TXT "v=spf1 include:_spf.provider.test a:mail.example.com ~all"
mail        IN A   198.51.100.25
alias       IN CNAME example.com.
broken      IN TXT "v=spf1 include:servfail.provider.test -all"
slow        IN TXT "v=spf1 exists:silent.provider.test -all"
split       IN TXT "v=spf1 ip4:" "192.0.2.77 -all"
"""
PROVIDER = """
$TTL 300
@           IN SOA ns1 hostmaster 1 3600 600 86400 300
_spf        IN TXT "v=spf1 ip4:192.0.2.0/25 ip6:2001:db8::/32 -all"
servfail    IN TXT "v=spf1 +all"
silent      IN A   127.0.0.2
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackDnsServer]:
    with LoopbackDnsServer({"example.com": ZONE, "provider.test": PROVIDER}) as running:
        running.set_fault("servfail.provider.test", "servfail")
        running.set_fault("silent.provider.test", "timeout")
        yield running


def check(server: LoopbackDnsServer, domain: str, ip: str, *, timeout: float = 2.0, **kw: object) -> SpfCheck:
    async def go() -> SpfCheck:
        backend = NetworkBackend([Nameserver(server.host, server.port)], timeout=timeout, attempts=1)
        resolver = CachingResolver(backend)
        try:
            return await check_spf(resolver, domain, ip, **kw)  # type: ignore[arg-type]
        finally:
            await resolver.close()

    return asyncio.run(go())


def test_provider_range_passes_through_include(server: LoopbackDnsServer) -> None:
    result = check(server, "example.com", "192.0.2.10")
    assert (result.result, result.lookups, result.void_lookups) == (SpfResult.PASS, 1, 0)
    assert result.sender == "postmaster@example.com"
    assert result.matched_term == "include:_spf.provider.test"


def test_other_address_softfails_after_every_term(server: LoopbackDnsServer) -> None:
    result = check(server, "example.com", "2001:db9::1")
    assert (result.result, result.lookups, result.void_lookups) == (SpfResult.SOFTFAIL, 2, 1)  # no AAAA


def test_record_reached_through_a_cname_and_split_strings(server: LoopbackDnsServer) -> None:
    assert check(server, "alias.example.com", "198.51.100.25").result is SpfResult.PASS
    assert check(server, "split.example.com", "192.0.2.77").result is SpfResult.PASS


def test_servfail_is_temperror(server: LoopbackDnsServer) -> None:
    result = check(server, "broken.example.com", "192.0.2.10")
    assert result.result is SpfResult.TEMPERROR
    assert result.problem is not None and "servfail" in result.problem


def test_silence_is_temperror(server: LoopbackDnsServer) -> None:
    result = check(server, "slow.example.com", "192.0.2.10", timeout=0.2)
    assert result.result is SpfResult.TEMPERROR
    assert result.problem is not None and "timeout" in result.problem


def test_overall_time_limit_is_temperror(server: LoopbackDnsServer) -> None:
    result = check(server, "slow.example.com", "192.0.2.10", timeout=30.0, time_limit=0.2)
    assert result.result is SpfResult.TEMPERROR
    assert result.problem is not None and "longer than" in result.problem


def test_names_round_trip_through_labels() -> None:
    for text in [
        "macro%percent  space%20url-space.example.com",
        "foo:bar/baz.example.com",
        "back\\slash.test",
    ]:
        parsed = dns.name.from_text(query_name(text))
        assert label_text(parsed) == text
    assert label_text(dns.name.root) == ""

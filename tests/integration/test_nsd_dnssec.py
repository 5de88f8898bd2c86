"""Integration tier: the signed test hierarchy served by NSD, validated by the DNSSEC checker.

The loopback server's DNSSEC answers (DS from the parent, RRSIGs, NSEC denials) are our own code;
NSD is a real authoritative server, so this checks the validator against answers we did not
write. Same set-up as tests/integration/test_nsd.py (CI installs NSD; there a missing `nsd` fails).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.collect.dns.dnssec import DnssecChecker
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.dnssec import DnssecFacts, DnssecStatus
from auditor.model.facts import Failure
from auditor.protocol.dnssec import parse_trust_anchors
from tests.integration.nsd import require_nsd, running_nsd
from tests.servers.signed_zones import Hierarchy, build_hierarchy

require_nsd()


def _write_zones(hierarchy: Hierarchy, directory: Path) -> list[tuple[str, Path]]:
    zones = []
    for zone in hierarchy.zones:
        origin = zone.origin.to_text()
        path = directory / f"{'root' if origin == '.' else origin.rstrip('.')}.zone"
        path.write_text(f"$ORIGIN {origin}\n" + zone.to_text(relativize=False))
        zones.append((origin, path))
    return zones


@pytest.fixture(scope="module")
def signed_nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Hierarchy]]:
    hierarchy = build_hierarchy()
    workdir = tmp_path_factory.mktemp("nsd-dnssec")
    with running_nsd(workdir, _write_zones(hierarchy, workdir), ("good.test", "SOA")) as address:
        yield address, hierarchy


def _statuses(address: str, hierarchy: Hierarchy, domains: list[str]) -> dict[str, DnssecFacts | Failure]:
    async def run() -> dict[str, DnssecFacts | Failure]:
        resolver = CachingResolver(NetworkBackend([Nameserver.parse(address)], timeout=1.0, attempts=2))
        checker = DnssecChecker(resolver, parse_trust_anchors(hierarchy.trust_anchor_text(), "test root"))
        try:
            results = await asyncio.gather(*(checker.check(d) for d in domains))
        finally:
            await resolver.close()
        return dict(zip(domains, results, strict=True))

    return asyncio.run(run())


def test_nsd_answers_validate_like_the_loopback_servers(signed_nsd: tuple[str, Hierarchy]) -> None:
    address, hierarchy = signed_nsd
    expected = {
        "good.test": DnssecStatus.SECURE,
        "mail.good.test": DnssecStatus.SECURE,
        "unsigned.test": DnssecStatus.INSECURE,
        "expired.test": DnssecStatus.BOGUS,
        "mismatch.test": DnssecStatus.BOGUS,
        "nosig.test": DnssecStatus.BOGUS,
    }
    results = _statuses(address, hierarchy, list(expected))
    got = {d: r.status if isinstance(r, DnssecFacts) else r for d, r in results.items()}
    assert got == expected

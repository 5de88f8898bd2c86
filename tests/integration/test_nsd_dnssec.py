"""Integration tier: the signed test hierarchy served by NSD, validated by the DNSSEC checker.

The loopback server's DNSSEC answers (DS from the parent, RRSIGs, NSEC denials) are our own code;
NSD is a real authoritative server, so this checks the validator against answers we did not
write. Same set-up as tests/integration/test_nsd.py (CI installs NSD; there a missing `nsd` fails).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest

from auditor.collect.dns.dnssec import DnssecChecker
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.dnssec import DnssecFacts, DnssecStatus
from auditor.model.facts import Failure
from auditor.protocol.dnssec import parse_trust_anchors
from tests.integration.test_nsd import NSD, _free_port
from tests.servers.signed_zones import Hierarchy, build_hierarchy


def _write_zones(hierarchy: Hierarchy, directory: Path) -> list[tuple[str, Path]]:
    zones = []
    for zone in hierarchy.zones:
        origin = zone.origin.to_text()
        path = directory / f"{'root' if origin == '.' else origin.rstrip('.')}.zone"
        path.write_text(f"$ORIGIN {origin}\n" + zone.to_text(relativize=False))
        zones.append((origin, path))
    return zones


def _config(workdir: Path, port: int, zones: list[tuple[str, Path]]) -> Path:
    blocks = "".join(f'zone:\n\tname: "{origin}"\n\tzonefile: "{path}"\n\n' for origin, path in zones)
    conf = workdir / "nsd.conf"
    conf.write_text(
        "server:\n"
        f"\tip-address: 127.0.0.1@{port}\n\tport: {port}\n\tdo-ip6: no\n\tserver-count: 1\n"
        '\tusername: ""\n\tchroot: ""\n\tdatabase: ""\n'
        f'\tzonelistfile: "{workdir}/zone.list"\n\tpidfile: "{workdir}/nsd.pid"\n'
        f'\txfrdfile: "{workdir}/xfrd.state"\n\txfrdir: "{workdir}"\n'
        f'\tlogfile: "{workdir}/nsd.log"\n\tverbosity: 1\n\tzonefiles-write: 0\n'
        "\trrl-ratelimit: 0\n\trrl-whitelist-ratelimit: 0\n"
        "remote-control:\n\tcontrol-enable: no\n\n" + blocks
    )
    return conf


def _wait_ready(port: int) -> None:
    query = dns.message.make_query("good.test", "SOA")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if dns.query.udp(query, "127.0.0.1", port=port, timeout=0.3).answer:
                return
        except (dns.exception.Timeout, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("NSD did not answer within 20 s")


@pytest.fixture(scope="module")
def signed_nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Hierarchy]]:
    hierarchy = build_hierarchy()
    workdir = tmp_path_factory.mktemp("nsd-dnssec")
    port = _free_port()
    conf = _config(workdir, port, _write_zones(hierarchy, workdir))
    assert NSD is not None
    started = subprocess.run([NSD, "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr + (workdir / "nsd.log").read_text(errors="replace")
    try:
        _wait_ready(port)
        yield f"127.0.0.1:{port}", hierarchy
    finally:
        pid_file = workdir / "nsd.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)


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

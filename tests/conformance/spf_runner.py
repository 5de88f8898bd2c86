"""Runs SPF conformance cases through the real driver over UDP to the loopback DNS server.

Each scenario's zone data is served by one `LoopbackDnsServer` (started on first use, shared by
every case of the scenario); each case gets a fresh resolver, so no answer is cached across cases.

    python -m tests.conformance.spf_runner            # prints "N passed, N failed" per suite
    python -m tests.conformance.spf_runner -v         # and every failure
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter, OrderedDict
from types import TracebackType

from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.spf_check import check_spf
from auditor.protocol.spf_eval import SpfCheck, SpfResult
from tests.conformance.spf_suites import SUITES, Case, Scenario, load_all
from tests.conformance.spf_zones import build_zone
from tests.servers.dns_server import LoopbackDnsServer

# Loopback answers come back in well under a millisecond; only silent timeouts ever wait this long.
QUERY_TIMEOUT = 1.0


class ServerPool:
    """A running server per scenario zone, the few most recently used kept; close() stops them all.

    Cases run scenario by scenario, so a small pool starts each server once while keeping the
    number of threads and sockets low.
    """

    def __init__(self, keep: int = 4) -> None:
        self._servers: OrderedDict[str, LoopbackDnsServer] = OrderedDict()
        self._keep = keep

    def server(self, scenario: Scenario) -> LoopbackDnsServer:
        key = scenario.fingerprint
        server = self._servers.get(key)
        if server is not None:
            self._servers.move_to_end(key)
            return server
        zone, faults = build_zone(scenario.zonedata, silent_timeouts=scenario.silent_timeouts)
        server = LoopbackDnsServer(zone_objects=[zone], shuffle=False)  # "the first 10 PTR names"
        for fault in faults:
            server.set_fault(fault.name, fault.kind, fault.rdtype)
        server.start()
        self._servers[key] = server
        while len(self._servers) > self._keep:
            _, oldest = self._servers.popitem(last=False)
            oldest.stop()
        return server

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def evaluate(case: Case, server: LoopbackDnsServer) -> SpfCheck:
    """check_host() for the case, through the production driver and resolver."""
    backend = NetworkBackend([Nameserver(server.host, server.port)], timeout=QUERY_TIMEOUT, attempts=1)
    resolver = CachingResolver(backend)
    try:
        if case.helo_identity_first:
            helo_check = await check_spf(
                resolver,
                case.helo,
                case.host,
                f"postmaster@{case.helo}",
                helo=case.helo,
                receiver=case.receiver,
            )
            if helo_check.result is not SpfResult.PASS:
                return helo_check
        return await check_spf(
            resolver, case.domain, case.host, case.sender, helo=case.helo, receiver=case.receiver
        )
    finally:
        await resolver.close()


def verdict(case: Case, check: SpfCheck) -> str | None:
    """None when the case passes, else what went wrong."""
    if check.result.value not in case.results:
        return (
            f"{case.id}: result {check.result.value}, expected {' or '.join(case.results)}"
            f" (lookups {check.lookups}, void {check.void_lookups}; {check.problem or 'no problem noted'})"
        )
    if case.explanation is None or check.result.value != "fail":
        return None
    expected = None if case.explanation == "DEFAULT" else case.explanation
    actual = check.explanation
    if case.deviation and case.deviation.explanation_ignore_case and expected and actual:
        expected, actual = expected.lower(), actual.lower()
    if actual != expected:
        return f"{case.id}: explanation {check.explanation!r}, expected {case.explanation!r}"
    return None


def run_case(case: Case, pool: ServerPool) -> SpfCheck:
    """Evaluate one case on its scenario's server."""
    return asyncio.run(evaluate(case, pool.server(case.scenario)))


def deviation_still_needed(case: Case, check: SpfCheck) -> bool:
    """True when the case would fail without its deviation (so the deviation is not stale)."""
    assert case.deviation is not None
    if case.deviation.results is not None:
        return check.result.value not in case.suite_results
    expected = None if case.explanation == "DEFAULT" else case.explanation
    return check.explanation != expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance.spf_runner", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    args = parser.parse_args(argv)
    passed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    deviations: Counter[str] = Counter()
    second_choice: Counter[str] = Counter()
    notes: list[str] = []
    with ServerPool() as pool:
        for case in load_all():
            check = run_case(case, pool)
            problem = verdict(case, check)
            if problem is None:
                passed[case.suite] += 1
            else:
                failed[case.suite] += 1
                notes.append(f"FAILED {problem}")
            if case.deviation is not None:
                deviations[case.suite] += 1
                notes.append(f"deviation {case.id}: {case.deviation.reason}")
            if problem is None and check.result.value != case.results[0]:
                second_choice[case.suite] += 1
                notes.append(
                    f"accepted {case.id}: {check.result.value} (the suite prefers {case.results[0]})"
                )
    for suite in SUITES:
        extras = []
        if deviations[suite]:
            extras.append(f"{deviations[suite]} with a documented deviation")
        if second_choice[suite]:
            extras.append(f"{second_choice[suite]} on a result the suite accepts but does not prefer")
        note = f" ({'; '.join(extras)})" if extras else ""
        print(f"{suite}: {passed[suite]} passed, {failed[suite]} failed{note}")
    print(f"total: {sum(passed.values())} passed, {sum(failed.values())} failed")
    if args.verbose:
        for line in notes:
            print(line)
    return 1 if failed.total() else 0


if __name__ == "__main__":
    sys.exit(main())

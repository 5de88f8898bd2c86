"""The audit's SPF path (collector walk + rules) run on the conformance suites' zones.

A case's domain is audited as a sending domain would be: `DnsCollector.collect()` (which walks the
SPF tree with `SpfWalker`) over UDP to the scenario's loopback server, then the built-in rules.
The walk reports what check_host() reaches for a client that matches nothing but `all`; the
suites' cases use one client each, so the test compares the two where the case's client is such a
client (see tests/conformance/test_spf_audit_path.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.engine.catalogue import Catalogue, load_catalogue
from auditor.engine.evaluate import Evaluator
from auditor.engine.rules import RuleSet, load_rules
from auditor.model.facts import Failure, SpfFacts, SpfTreeFacts
from auditor.model.findings import Status
from auditor.resources import rules_dir
from tests.conformance.spf_runner import QUERY_TIMEOUT, ServerPool
from tests.conformance.spf_suites import Case
from tests.rules.factories import build_target

# The rules that say "receivers get permerror from this domain's SPF".
PERMERROR_RULES = ("SPF002", "SPF004", "SPF005", "SPF007")


@dataclass(frozen=True, slots=True)
class AuditedSpf:
    """What the audit said about a case's domain."""

    tree: SpfTreeFacts | Failure
    spf: SpfFacts | Failure
    failing: frozenset[str]  # PERMERROR_RULES that failed
    unknown: frozenset[str]  # PERMERROR_RULES that ended unknown

    @property
    def permerror(self) -> bool:
        return bool(self.failing)


@cache
def _rules() -> tuple[RuleSet, Catalogue]:
    return load_rules([rules_dir()]), load_catalogue(rules_dir() / "providers" / "catalogue.yaml")


async def _audit(domain: str, host: str, port: int) -> AuditedSpf:
    rules, catalogue = _rules()
    backend = NetworkBackend([Nameserver(host, port)], timeout=QUERY_TIMEOUT, attempts=1)
    resolver = CachingResolver(backend)
    collector = DnsCollector(resolver, catalogue)
    target = build_target({"name": domain})
    try:
        facts = await collector.collect(target)
    finally:
        collector.close()
        await resolver.close()
    report = Evaluator(rules, catalogue).evaluate(target, facts)
    ours = [f for f in report.findings if f.rule_id in PERMERROR_RULES]
    return AuditedSpf(
        facts.spf_tree,
        facts.spf,
        frozenset(f.rule_id for f in ours if f.status is Status.FAIL),
        frozenset(f.rule_id for f in ours if f.status is Status.UNKNOWN),
    )


def audit_case(case: Case, pool: ServerPool) -> AuditedSpf:
    """Audit the case's domain on its scenario's server."""
    server = pool.server(case.scenario)
    return asyncio.run(_audit(case.domain, server.host, server.port))

"""Runs an audit: targets → facts → findings → `AuditReport`. The library entry point.

Domains are collected concurrently (bounded), each under its own guard: one domain whose
collection breaks becomes a report with an error, never a stopped batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auditor._version import __version__
from auditor.collect.dns.backend import DnsBackend
from auditor.collect.dns.checkdmarc_adapter import reset_checkdmarc_cache
from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.smtp.plan import plan_probe
from auditor.collect.smtp.probe import ProbeSettings
from auditor.collect.smtp.scheduler import ProbeScheduler
from auditor.engine.catalogue import Catalogue
from auditor.engine.derive import derive_region
from auditor.engine.evaluate import Evaluator
from auditor.engine.rules import RuleSet
from auditor.model.facts import DomainFacts, Failure
from auditor.model.findings import Finding, Severity, Status
from auditor.model.inventory import DomainTarget
from auditor.model.report import (
    AuditReport,
    DomainReport,
    Readiness,
    RegionView,
    RunInfo,
    Summary,
)

log = logging.getLogger(__name__)

Progress = Callable[[DomainReport], None]


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Limits for one run; explicit values, nothing read from the environment."""

    max_in_flight: int = 200
    queries_per_second: float | None = None
    concurrent_domains: int = 256
    inventory: str | None = None
    smtp_probes: bool = True
    """Probe submission for domains whose inventory entry has SMTP credentials."""
    smtp_ca_file: str | None = None
    smtp_insecure: bool = False
    smtp_timeout: float = 10.0
    smtp_deep_data: bool = False
    """Also send DATA and drop the connection at 354 (no message is ever sent)."""
    smtp_per_host: int = 2
    smtp_overall: int = 10
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Where `env:` credential references are looked up (the CLI passes os.environ)."""


async def run_audit(
    targets: Iterable[DomainTarget],
    *,
    backend: DnsBackend,
    rules: RuleSet,
    catalogue: Catalogue,
    settings: AuditSettings | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit every target; reports come back in inventory order."""
    settings = settings or AuditSettings()
    targets = list(targets)
    started = _now()
    reset_checkdmarc_cache()
    resolver = CachingResolver(
        backend,
        max_in_flight=settings.max_in_flight,
        queries_per_second=settings.queries_per_second,
    )
    collector = DnsCollector(resolver, catalogue)
    evaluator = Evaluator(rules, catalogue)
    probes = ProbeScheduler(
        environ=settings.environ, per_host=settings.smtp_per_host, overall=settings.smtp_overall
    )
    slots = asyncio.Semaphore(settings.concurrent_domains)
    complete = True

    async def one(target: DomainTarget) -> DomainReport:
        async with slots:
            try:
                facts = await collector.collect(target)
                if target.smtp is not None and settings.smtp_probes:
                    facts = await _with_probe(target, facts, catalogue, probes, settings)
                report = evaluator.evaluate(target, facts)
            except Exception as exc:  # never let one domain stop the batch
                log.warning("auditing %s failed", target.name, exc_info=True)
                report = _broken(target, exc)
        if progress is not None:
            progress(report)
        return report

    tasks = [asyncio.ensure_future(one(t)) for t in targets]
    try:
        domains = tuple(await asyncio.gather(*tasks))
    except asyncio.CancelledError:
        complete = False
        for task in tasks:
            task.cancel()
        domains = tuple(t.result() for t in tasks if t.done() and not t.cancelled())
    finally:
        collector.close()
        await resolver.close()
    run = RunInfo(
        tool_version=__version__,
        started_at=started,
        finished_at=_now(),
        resolver=resolver.describe(),
        rule_count=len(rules.rules),
        rule_sources=tuple(_display(s) for s in rules.sources),
        inventory=settings.inventory,
        dns_queries=resolver.queries_sent,
        dns_lookups=resolver.lookups,
    )
    return AuditReport(run=run, summary=Summary.of(domains), domains=domains, complete=complete)


async def _with_probe(
    target: DomainTarget,
    facts: DomainFacts,
    catalogue: Catalogue,
    probes: ProbeScheduler,
    settings: AuditSettings,
) -> DomainFacts:
    """Add the submission probe's facts; the plan comes from the region DNS revealed."""
    assert target.smtp is not None
    plan = plan_probe(target, derive_region(target, facts, catalogue), catalogue)
    if isinstance(plan, Failure):
        return dataclasses.replace(facts, smtp=plan)
    probe_settings = ProbeSettings(
        host=plan.host,
        port=plan.port,
        server_hostname=plan.server_hostname,
        ca_file=settings.smtp_ca_file,
        insecure=settings.smtp_insecure,
        connect_timeout=settings.smtp_timeout,
        command_timeout=settings.smtp_timeout,
    )
    probe = await probes.probe(
        probe_settings,
        target.smtp.username,
        target.smtp.password,
        target.smtp.from_address,
        target.smtp.recipient,
        deep_data=settings.smtp_deep_data,
    )
    return dataclasses.replace(facts, smtp=probe, smtp_plan=plan)


def _broken(target: DomainTarget, exc: Exception) -> DomainReport:
    finding = Finding(
        rule_id="SR000",
        rule_name="audit-error",
        title="The domain could not be audited",
        severity=Severity.ERROR,
        category="dns",
        status=Status.UNKNOWN,
        subject=target.name,
        message=f"Internal error while auditing: {exc.__class__.__name__}.",
        reason="internal error",
    )
    return DomainReport(
        domain=target.name,
        provider=target.provider,
        region=RegionView(str(target.region), None, None),
        readiness=Readiness.COULD_NOT_VERIFY,
        verified=None,
        verification=(),
        findings=(finding,),
        origin=target.origin,
        error=exc.__class__.__name__,
    )


def _display(source: str) -> str:
    path = Path(source)
    return path.name if path.is_absolute() and "_data" in path.parts else source


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

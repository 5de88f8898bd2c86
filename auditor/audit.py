"""Runs an audit: targets → facts → findings → `AuditReport`. The library entry point.

Domains are collected concurrently (bounded), each under its own guard: one domain whose
collection breaks becomes a report with an error, never a stopped batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auditor._version import __version__
from auditor.collect.dns.backend import DnsBackend
from auditor.collect.dns.checkdmarc_adapter import reset_checkdmarc_cache
from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.engine.catalogue import Catalogue
from auditor.engine.evaluate import Evaluator
from auditor.engine.rules import RuleSet
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
    extra: dict[str, str] = field(default_factory=dict)


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
    slots = asyncio.Semaphore(settings.concurrent_domains)
    complete = True

    async def one(target: DomainTarget) -> DomainReport:
        async with slots:
            try:
                facts = await collector.collect(target)
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
        region=RegionView(target.region.value, None, None),
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

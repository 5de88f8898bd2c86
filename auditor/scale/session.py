"""One streamed audit: header, the reports (from this process or from workers), the end line.

This is what `sendready audit` runs, with one process or several. Each finished domain is written
to the stream (if any) at once and counted into the totals; when another format must be rendered
and there is no stream file to render it from, the domain's record goes to a `ReportSpill` on disk.
No report is kept in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor._version import __version__
from auditor.audit import AuditSettings, StreamOutcome, stream_audit
from auditor.audit import _display as display_source
from auditor.collect.dns.backend import DnsBackend
from auditor.engine.catalogue import Catalogue
from auditor.engine.rules import RuleSet
from auditor.model.inventory import DomainTarget
from auditor.model.report import REPORT_SCHEMA_VERSION, DomainReport, RunInfo, Summary
from auditor.model.stream import DomainLine, EndLine, ResumeLine, ShardRef, StreamHeader
from auditor.scale.backends import BackendSpec
from auditor.scale.jsonl import StreamWriter, encode_line
from auditor.scale.resume import ResumePoint, find_resume_point
from auditor.scale.shards import inventory_fingerprint, rules_fingerprint, select_shard
from auditor.scale.spill import Form, ReportSpill
from auditor.scale.tally import ReportDigest, Tally
from auditor.scale.workers import WorkerJob, WorkerPool, deal, share_limits

OnDigest = Callable[[ReportDigest], None]


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What to audit and where the stream goes."""

    targets: Sequence[DomainTarget]
    """The whole inventory; the shard is taken from it here."""
    inventory: str | None = None
    shard: ShardRef | None = None
    stream_path: Path | None = None
    stream_to_stdout: bool = False
    resume: bool = False
    spill: ReportSpill | None = None
    """Where every domain's record goes when another format is wanted and no stream file holds them."""
    workers: int = 1


@dataclass(frozen=True, slots=True)
class Engine:
    """The loaded parts of an audit, and how a worker process would load them again."""

    rules: RuleSet
    catalogue: Catalogue
    backend: DnsBackend
    backend_spec: BackendSpec
    rule_dirs: tuple[Path, ...]
    catalogue_paths: tuple[Path, ...]
    """The catalogue files, built-in first (`catalogue_files`); workers load them again."""
    settings: AuditSettings


@dataclass(slots=True)
class StreamResult:
    """The totals of the whole stream (earlier runs included when resumed), and how it ended."""

    tally: Tally
    run: RunInfo
    complete: bool
    interrupted: bool = False
    failure: str | None = None
    """Why the run is incomplete when it was not interrupted (a worker died)."""

    @property
    def summary(self) -> Summary:
        return self.tally.summary()


@dataclass(frozen=True, slots=True)
class _Part:
    """How the audit of the remaining domains went, in this process or in the workers."""

    complete: bool
    interrupted: bool
    failure: str | None
    dns_queries: int
    dns_lookups: int


def run_stream(
    plan: StreamPlan, engine: Engine, *, on_digest: OnDigest, on_start: Callable[[int], None]
) -> StreamResult:
    """Run the audit `plan` describes; `on_start(n)` hears how many domains are left to audit."""
    selected = select_shard(plan.targets, plan.shard)
    header = StreamHeader(
        report_schema_version=REPORT_SCHEMA_VERSION,
        tool_version=__version__,
        started_at=_now(),
        inventory=plan.inventory,
        inventory_fingerprint=inventory_fingerprint(plan.targets),
        inventory_domains=len(plan.targets),
        shard=plan.shard,
        domains=len(selected),
        rules_fingerprint=rules_fingerprint(engine.rules),
        rule_count=len(engine.rules.rules),
        rule_sources=tuple(display_source(s) for s in engine.rules.sources),
        resolver=engine.backend.describe(),
    )
    tally = Tally()

    def count(digest: ReportDigest) -> None:
        tally.add(digest)
        on_digest(digest)

    point: ResumePoint | None = None
    if plan.resume and plan.stream_path is not None:
        point = find_resume_point(plan.stream_path, header, count)
    if point is not None and point.scan.complete and point.scan.end is not None:
        return StreamResult(tally=tally, run=point.scan.end.run, complete=True)  # nothing left to do

    remaining = selected
    if point is not None:
        header = point.scan.header
        remaining = [(i, t) for i, t in selected if t.name not in point.reported]
    writer: StreamWriter | None = None
    if plan.stream_path is not None:
        writer = StreamWriter.open(plan.stream_path, keep_bytes=point.scan.records_end if point else 0)
    elif plan.stream_to_stdout:
        writer = StreamWriter.stdout()
    try:
        if point is not None and writer is not None:
            writer.write(
                ResumeLine(
                    resumed_at=_now(),
                    tool_version=__version__,
                    resolver=engine.backend.describe(),
                    already_reported=len(point.reported),
                )
            )
        elif writer is not None:
            writer.write(header)
        on_start(len(remaining))
        part = _audit(remaining, plan, engine, writer, count)
        run = RunInfo(
            tool_version=__version__,
            started_at=header.started_at,
            finished_at=_now(),
            resolver=engine.backend.describe(),
            rule_count=header.rule_count,
            rule_sources=header.rule_sources,
            inventory=plan.inventory,
            dns_queries=part.dns_queries + (point.dns_queries if point else 0),
            dns_lookups=part.dns_lookups + (point.dns_lookups if point else 0),
        )
        complete = part.complete and tally.domains == header.domains
        if writer is not None:
            writer.write(EndLine(complete=complete, run=run, summary=tally.summary()))
    finally:
        if writer is not None:
            writer.close()
    return StreamResult(tally, run, complete, part.interrupted, part.failure)


def _audit(
    remaining: list[tuple[int, DomainTarget]],
    plan: StreamPlan,
    engine: Engine,
    writer: StreamWriter | None,
    count: OnDigest,
) -> _Part:
    """Audit `remaining` in this process, with worker processes when more than one is asked for."""
    spill = plan.spill
    # Without a stream, reports are only spilled for a JSON/HTML/Markdown report: encode them in
    # the JSON report's form where they are made (here or in a worker), not as JSON Lines records.
    form = Form.REPORT if writer is None and spill is not None else Form.LINE

    def accept(index: int, data: bytes, digest: ReportDigest) -> None:
        if writer is not None:
            writer.write_line(data)
        if spill is not None:
            spill.add_encoded(index, data, form)
        count(digest)

    shares = deal(remaining, plan.workers) if plan.workers > 1 else [remaining]
    settings = share_limits(engine.settings, len(shares))
    own = shares[0]

    def on_report(position: int, report: DomainReport) -> None:
        index = own[position][0]
        digest = ReportDigest.of(report)
        if writer is not None:
            accept(index, encode_line(DomainLine(index=index, report=report)), digest)
            return
        if spill is not None:  # no stream: store it straight in the JSON report's form
            spill.add_report(index, report)
        count(digest)

    def own_share() -> Coroutine[Any, Any, StreamOutcome]:
        return stream_audit(
            [target for _, target in own],
            backend=engine.backend,
            rules=engine.rules,
            catalogue=engine.catalogue,
            settings=settings,
            on_report=on_report,
        )

    if len(shares) == 1:
        streamed = asyncio.run(own_share())
        run = streamed.run
        return _Part(streamed.complete, not streamed.complete, None, run.dns_queries, run.dns_lookups)
    jobs = [
        WorkerJob(
            number,
            tuple(share),
            engine.backend_spec,
            engine.rule_dirs,
            engine.catalogue_paths,
            settings,
            form,
        )
        for number, share in enumerate(shares[1:], start=1)
    ]
    with WorkerPool(jobs) as pool:
        outcome = asyncio.run(pool.run(own_share, accept))
    return _Part(
        outcome.complete, outcome.interrupted, outcome.failure, outcome.dns_queries, outcome.dns_lookups
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

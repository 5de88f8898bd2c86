"""The CLI side of streamed, resumable, sharded and multi-process audits, and of `sendready merge`.

`app.py` parses the options and hands over here whenever `--format jsonl`, `--shard`, `--resume`
or more than one worker is in play; everything here ends in a `Finished` that `app.py` turns into
the terminal summary and the exit code, exactly as for the single-process path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from auditor.cli.console import SummaryTable
from auditor.cli.progress import ProgressBar
from auditor.errors import InputError
from auditor.model.inventory import DomainTarget
from auditor.model.report import AuditReport, Summary
from auditor.model.stream import DomainLine, EndLine, ShardRef
from auditor.reporters import REPORTERS
from auditor.reporters.sinks import write_atomic
from auditor.scale.jsonl import StreamWriter
from auditor.scale.merge import check_shards, load_report, read_shards
from auditor.scale.session import Engine, StreamPlan, run_stream
from auditor.scale.shards import parse_shard
from auditor.scale.tally import ReportDigest, Tally

JSONL = "jsonl"
MAX_WORKERS = 64
AUTO_WORKERS_MIN_DOMAINS = 1000
"""`--workers auto` uses one process below this many domains (see docs/scaling.md for the measurements)."""
AUTO_WORKERS_CAP = 4

Output = tuple[str, Path | None]


@dataclass(frozen=True, slots=True)
class ScaleOptions:
    """The validated `--shard`, `--resume` and `--workers` of one audit."""

    shard: ShardRef | None
    resume: bool
    workers: int

    def streamed(self, outputs: Sequence[Output]) -> bool:
        """Whether this audit takes the streamed path (else the single-process, in-memory one)."""
        wants_stream = any(fmt == JSONL for fmt, _ in outputs)
        return wants_stream or self.shard is not None or self.resume or self.workers > 1


@dataclass(frozen=True, slots=True)
class Finished:
    """What the terminal summary and the exit code need, from any path."""

    summary: Summary
    complete: bool
    tally: Tally
    table: SummaryTable
    interrupted: bool = False
    failure: str | None = None

    @classmethod
    def of_report(cls, report: AuditReport) -> Finished:
        tally, table = Tally(), SummaryTable()
        for domain in report.domains:
            digest = ReportDigest.of(domain)
            tally.add(digest)
            table.add(digest)
        return cls(report.summary, report.complete, tally, table, interrupted=not report.complete)


def scale_options(
    outputs: Sequence[Output], *, shard: str | None, resume: bool, workers: str, domains: int
) -> ScaleOptions:
    """Check the scaling options against each other and the outputs; one-line `InputError`s."""
    streams = [path for fmt, path in outputs if fmt == JSONL]
    others = [fmt for fmt, _ in outputs if fmt != JSONL]
    if resume and (not streams or streams[0] is None):
        raise InputError(
            "needs the JSON Lines file to continue: --format jsonl --output FILE", field="--resume"
        )
    chosen = parse_shard(shard) if shard is not None else None
    if chosen is not None and (others or not streams):
        raise InputError(
            "a shard writes JSON Lines only (--format jsonl --output FILE); "
            "render shards with `sendready merge`",
            field="--shard",
        )
    return ScaleOptions(chosen, resume, parse_workers(workers, domains))


def parse_workers(text: str, domains: int) -> int:
    """`auto` or a number of worker processes (1 = audit in this process)."""
    if text.strip().lower() == "auto":
        return auto_workers(domains)
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        raise InputError(
            f"expected auto or a number from 1 to {MAX_WORKERS}, got {text!r}", field="--workers"
        )
    return count


def auto_workers(domains: int) -> int:
    """One process for small audits; otherwise one per usable CPU, at most `AUTO_WORKERS_CAP`."""
    if domains < AUTO_WORKERS_MIN_DOMAINS:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, AUTO_WORKERS_CAP))


def run_scaled(
    targets: Sequence[DomainTarget],
    inventory: str | None,
    outputs: Sequence[Output],
    options: ScaleOptions,
    engine: Engine,
    stderr: Console,
) -> Finished:
    """Run the streamed audit, then render any other format (from the stream file when there is one)."""
    stream = next(((fmt, path) for fmt, path in outputs if fmt == JSONL), None)
    others = [(fmt, path) for fmt, path in outputs if fmt != JSONL]
    stream_path = stream[1] if stream else None
    plan = StreamPlan(
        targets=targets,
        inventory=inventory,
        shard=options.shard,
        stream_path=stream_path,
        stream_to_stdout=stream is not None and stream_path is None,
        resume=options.resume,
        keep_reports=bool(others) and stream_path is None,
        workers=options.workers,
    )
    table = SummaryTable()
    bars: list[ProgressBar] = []

    def on_start(remaining: int) -> None:
        bars.append(ProgressBar(remaining, stderr).__enter__())

    def on_digest(digest: ReportDigest) -> None:
        table.add(digest)
        if bars:
            bars[0].advance(digest)

    try:
        result = run_stream(plan, engine, on_digest=on_digest, on_start=on_start)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    if others:
        if stream_path is not None:
            report, _ = load_report([stream_path])
        else:
            report = AuditReport(
                run=result.run,
                summary=result.summary,
                domains=result.domains_in_order(),
                complete=result.complete,
            )
        _write_reports(report, others)
    return Finished(result.summary, result.complete, result.tally, table, result.interrupted, result.failure)


def run_merge(files: Sequence[Path], outputs: Sequence[Output]) -> Finished:
    """Merge shard streams into every requested output; the stream output is written line by line."""
    inputs = {path.resolve() for path in files}
    for _, path in outputs:
        if path is not None and path.resolve() in inputs:
            raise InputError(f"{path} is one of the streams to merge", field="--output")
    shards = check_shards(files)
    others = [(fmt, path) for fmt, path in outputs if fmt != JSONL]
    stream = next(((fmt, path) for fmt, path in outputs if fmt == JSONL), None)
    table = SummaryTable()
    merged = None
    if stream is not None:
        writer = StreamWriter.open(stream[1]) if stream[1] is not None else StreamWriter.stdout()

        def copy(line: DomainLine) -> None:
            writer.write(line)
            table.add(ReportDigest.of(line.report))

        try:
            writer.write(shards.header)
            merged = read_shards(shards, copy)
            writer.write(EndLine(complete=merged.complete, run=merged.run, summary=merged.tally.summary()))
        finally:
            writer.close()
    if others:
        report, merged = load_report(files)
        if stream is None:
            for domain in report.domains:
                table.add(ReportDigest.of(domain))
        _write_reports(report, others)
    assert merged is not None
    failure = None if merged.complete else "incomplete: " + ", ".join(merged.incomplete)
    return Finished(merged.tally.summary(), merged.complete, merged.tally, table, failure=failure)


def _write_reports(report: AuditReport, outputs: Sequence[Output]) -> None:
    for fmt, path in outputs:
        text = REPORTERS[fmt][0](report)
        if path is None:
            sys.stdout.write(text)
        else:
            write_atomic(path, text)

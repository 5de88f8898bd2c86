"""The CLI side of every audit (streamed, resumable, sharded, multi-process or not) and of `sendready merge`.

`app.py` parses the options and hands over here; everything here ends in a `Finished` that `app.py`
turns into the terminal summary and the exit code. JSON, HTML and Markdown reports are rendered
at the end from domains read back one at a time (from the JSON Lines file, or from a `ReportSpill`
on disk), so memory does not grow with the number of domains.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from auditor.cli.console import SummaryTable
from auditor.cli.progress import ProgressBar
from auditor.errors import InputError
from auditor.model.inventory import DomainTarget
from auditor.model.report import AuditReport, Summary
from auditor.model.stream import DomainLine, EndLine, ShardRef
from auditor.reporters.sinks import write_atomic_chunks
from auditor.reporters.streamed import STREAMED_REPORTERS
from auditor.scale.heap import settle_for_batch
from auditor.scale.jsonl import StreamWriter
from auditor.scale.merge import check_shards, read_shards, spill_report
from auditor.scale.session import Engine, StreamPlan, run_stream
from auditor.scale.shards import parse_shard
from auditor.scale.spill import ReportSpill
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


@dataclass(frozen=True, slots=True)
class Finished:
    """What the terminal summary and the exit code need, from any path."""

    summary: Summary
    complete: bool
    tally: Tally
    table: SummaryTable
    interrupted: bool = False
    failure: str | None = None


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
    settle_for_batch()  # rules, catalogue and modules are loaded: keep the collector off them
    with ExitStack() as cleanup:
        spill = None
        if others and stream_path is None:
            spill = cleanup.enter_context(ReportSpill(_spill_directory(outputs)))
        plan = StreamPlan(
            targets=targets,
            inventory=inventory,
            shard=options.shard,
            stream_path=stream_path,
            stream_to_stdout=stream is not None and stream_path is None,
            resume=options.resume,
            spill=spill,
            workers=options.workers,
        )
        return _run_plan(plan, engine, stderr, others)


def _run_plan(plan: StreamPlan, engine: Engine, stderr: Console, others: Sequence[Output]) -> Finished:
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
        if plan.stream_path is not None:  # also holds what earlier runs wrote (--resume)
            with ReportSpill(_spill_directory(others)) as spill:
                report, _ = spill_report([plan.stream_path], spill)
                _write_reports(report, spill, others)
        else:
            assert plan.spill is not None
            report = AuditReport(run=result.run, summary=result.summary, domains=(), complete=result.complete)
            _write_reports(report, plan.spill, others)
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
        with ReportSpill(_spill_directory(others)) as spill:
            report, merged = spill_report(files, spill)
            if stream is None:
                for domain in spill.reports():
                    table.add(ReportDigest.of(domain))
            _write_reports(report, spill, others)
    assert merged is not None
    failure = None if merged.complete else "incomplete: " + ", ".join(merged.incomplete)
    return Finished(merged.tally.summary(), merged.complete, merged.tally, table, failure=failure)


def _write_reports(report: AuditReport, spill: ReportSpill, outputs: Sequence[Output]) -> None:
    """Render `report` with the spill's domains into every output, a piece at a time."""
    for fmt, path in outputs:
        chunks = STREAMED_REPORTERS[fmt](report, spill.reports())
        if path is None:
            _write_stdout(chunks)
        else:
            write_atomic_chunks(path, chunks)


def _write_stdout(chunks: Iterable[str] | Iterable[bytes]) -> None:
    for chunk in chunks:
        sys.stdout.write(chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk)


def _spill_directory(outputs: Sequence[Output]) -> Path | None:
    """Beside the first report file (a large audit may not fit a small /tmp); else the temp dir."""
    return next((path.parent for _, path in outputs if path is not None), None)

"""`--workers K`: K processes audit a share of the domains each and stream their reports back.

Python runs one audit's rule evaluation and wire-format work on one core; a second process uses
the second core. Each worker gets every K-th remaining domain (an even split, also after
`--resume`), builds its own DNS backend, resolver and rules, and sends batches of
`(inventory index, rendered JSON line, digest)` to the parent, which writes the outputs and keeps
the totals: the parent never re-renders or re-parses a report it only streams.

What is per worker, not per run: de-duplication of DNS questions (a provider's include chain is
asked once per worker) and the SMTP per-host caps. The global limits (`--max-in-flight`, `--qps`,
SMTP caps) are divided between the workers so that together they stay within them.

Workers are forked from a fork server that has imported sendready once (spawned afresh where
there is no fork server), so they start without threads or sockets inherited from the parent.

Interruption: workers start with SIGINT ignored, so Ctrl-C reaches only the parent, which asks
each worker to stop (SIGTERM); a worker then cancels its audit, sends what it finished and exits.
A second Ctrl-C kills the workers at once. A worker that dies on its own leaves the run
incomplete, with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import queue as queue_module
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from auditor.audit import AuditSettings, StreamOutcome, stream_audit
from auditor.engine.catalogue import load_catalogue
from auditor.engine.rules import load_rules
from auditor.model.inventory import DomainTarget
from auditor.model.report import DomainReport
from auditor.model.stream import DomainLine
from auditor.scale.backends import BackendSpec
from auditor.scale.jsonl import encode_line
from auditor.scale.tally import ReportDigest

Accept = Callable[[int, bytes, ReportDigest], None]
"""Takes (inventory index, the domain's JSON line, its digest) in the parent."""

_BATCH = 32
_BATCH_SECONDS = 0.1
_POLL_SECONDS = 0.2
_JOIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """Everything one worker needs, picklable: its share of targets and how to build the rest."""

    number: int
    targets: tuple[tuple[int, DomainTarget], ...]
    backend: BackendSpec
    rule_dirs: tuple[Path, ...]
    catalogue: Path
    settings: AuditSettings


@dataclass(frozen=True, slots=True)
class WorkersOutcome:
    """How the workers ended, added up."""

    complete: bool
    interrupted: bool
    failure: str | None
    """Why the run is incomplete when a worker died or could not start (None otherwise)."""
    dns_queries: int
    dns_lookups: int


def plan_jobs(
    targets: Sequence[tuple[int, DomainTarget]],
    workers: int,
    *,
    backend: BackendSpec,
    rule_dirs: Sequence[Path],
    catalogue: Path,
    settings: AuditSettings,
) -> list[WorkerJob]:
    """Deal the targets round-robin to `workers` jobs (fewer when there are fewer targets)."""
    count = max(1, min(workers, len(targets)))
    shared = share_limits(settings, count)
    return [
        WorkerJob(n + 1, tuple(targets[n::count]), backend, tuple(rule_dirs), catalogue, shared)
        for n in range(count)
    ]


def share_limits(settings: AuditSettings, workers: int) -> AuditSettings:
    """Each worker's part of the global limits, so that together they stay within them.

    A cap smaller than the number of workers still gives each worker 1 (so K in all).
    """
    return dataclasses.replace(
        settings,
        max_in_flight=max(1, settings.max_in_flight // workers),
        queries_per_second=settings.queries_per_second / workers if settings.queries_per_second else None,
        smtp_per_host=max(1, settings.smtp_per_host // workers),
        smtp_overall=max(1, settings.smtp_overall // workers),
    )


def run_workers(jobs: Sequence[WorkerJob], accept: Accept) -> WorkersOutcome:
    """Start one process per job, pass every report to `accept` as it arrives, wait for all to end."""
    context = _context()
    messages: Any = context.Queue()
    stop = _StopRequest()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main_thread else None
    processes: dict[int, Any] = {}
    try:
        if in_main_thread:  # children inherit "ignored" through exec and leave Ctrl-C to us
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for job in jobs:
            process = context.Process(
                target=worker_main, args=(job, messages), name=f"sendready-worker-{job.number}", daemon=True
            )
            process.start()
            processes[job.number] = process
        if in_main_thread:
            signal.signal(signal.SIGINT, stop.on_sigint)
        return _collect(processes, messages, accept, stop)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        for process in processes.values():
            process.join(_JOIN_SECONDS if not stop.hard else 0)
            if process.is_alive():
                process.kill()
                process.join()
        messages.close()


def _context() -> Any:
    """A fork server where there is one: a clean process (no threads, no sockets of ours) that
    imports sendready once and forks each worker from there, so a worker starts in milliseconds
    instead of paying the imports again. Elsewhere, spawn (a fresh interpreter per worker)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _collect(processes: dict[int, Any], messages: Any, accept: Accept, stop: _StopRequest) -> WorkersOutcome:
    finished: dict[int, tuple[bool, int, int]] = {}
    failures: dict[int, str] = {}
    silent_dead: set[int] = set()
    forwarded = False
    while len(finished) + len(failures) < len(processes):
        if stop.requested and not forwarded:
            forwarded = True
            for number, process in processes.items():
                if number not in finished and process.is_alive():
                    process.terminate()  # SIGTERM: the worker cancels and reports what it has
        if stop.hard:
            for process in processes.values():
                process.kill()
            break
        try:
            message = messages.get(timeout=_POLL_SECONDS)
        except queue_module.Empty:
            for number, process in processes.items():
                if number in finished or number in failures or process.is_alive():
                    continue
                if number in silent_dead:  # dead, and nothing more came from it: it is gone
                    failures[number] = f"worker {number} exited unexpectedly (exit code {process.exitcode})"
                else:
                    silent_dead.add(number)
            continue
        kind, number = message[0], message[1]
        if kind == "lines":
            for index, line, digest in message[2]:
                accept(index, line, digest)
        elif kind == "done":
            finished[number] = message[2:]
        elif kind == "failed":
            failures[number] = f"worker {number}: {message[2]}"
    if stop.requested:  # a worker stopped by us is not a failure, just unfinished
        failures = {n: f for n, f in failures.items() if "exited unexpectedly" not in f}
    complete = (
        not stop.requested
        and not failures
        and len(finished) == len(processes)
        and all(done[0] for done in finished.values())
    )
    return WorkersOutcome(
        complete=complete,
        interrupted=stop.requested,
        failure="; ".join(failures[n] for n in sorted(failures)) or None,
        dns_queries=sum(done[1] for done in finished.values()),
        dns_lookups=sum(done[2] for done in finished.values()),
    )


class _StopRequest:
    """Ctrl-C in the parent while workers run: the first asks them to stop, the second kills them."""

    def __init__(self) -> None:
        self.requested = False
        self.hard = False

    def on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        self.hard = self.requested
        self.requested = True


# --------------------------------------------------------------------------- the worker process


def worker_main(job: WorkerJob, messages: Any) -> None:
    """Entry point of a worker process: audit the job's targets, stream the results, report the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tells us (SIGTERM)
    try:
        rules = load_rules(list(job.rule_dirs))
        catalogue = load_catalogue(job.catalogue)
        backend = job.backend.build()
        outcome = asyncio.run(_audit(job, rules, catalogue, backend, messages))
    except BaseException as exc:  # whatever it was, the parent must hear of it
        messages.put(("failed", job.number, f"{exc.__class__.__name__}: {exc}"))
        raise SystemExit(1) from None
    messages.put(("done", job.number, outcome.complete, outcome.run.dns_queries, outcome.run.dns_lookups))


async def _audit(job: WorkerJob, rules: Any, catalogue: Any, backend: Any, messages: Any) -> StreamOutcome:
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    batch: list[tuple[int, bytes, ReportDigest]] = []
    last_sent = time.monotonic()

    def send() -> None:
        nonlocal last_sent
        if batch:
            messages.put(("lines", job.number, batch.copy()))
            batch.clear()
        last_sent = time.monotonic()

    def on_report(position: int, report: DomainReport) -> None:
        index = job.targets[position][0]
        batch.append((index, encode_line(DomainLine(index=index, report=report)), ReportDigest.of(report)))
        if len(batch) >= _BATCH or time.monotonic() - last_sent >= _BATCH_SECONDS:
            send()

    async def send_stragglers() -> None:  # so a slow tail still shows up in the progress bar
        while True:
            await asyncio.sleep(_BATCH_SECONDS)
            if time.monotonic() - last_sent >= _BATCH_SECONDS:
                send()

    ticker = asyncio.ensure_future(send_stragglers())
    try:
        outcome = await stream_audit(
            [target for _, target in job.targets],
            backend=backend,
            rules=rules,
            catalogue=catalogue,
            settings=job.settings,
            on_report=on_report,
        )
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        loop.remove_signal_handler(signal.SIGTERM)
    send()
    return outcome

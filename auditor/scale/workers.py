"""`--workers K`: this process and K-1 worker processes audit a share of the domains each.

Python runs one audit's rule evaluation and wire-format work on one core; a second process uses
the second core. The domains left to audit are dealt round-robin into K shares (an even split,
also after `--resume`). This process audits the first share itself, so K workers cost K-1 extra
interpreters; each other share goes to a spawned process that builds its own DNS backend,
resolver and rules and sends batches of `(inventory index, rendered JSON line, digest)` back over
a pipe. This process writes every output and keeps the totals; it never re-renders or re-parses a
report it only streams.

What is per worker, not per run: de-duplication of DNS questions (a provider's include chain is
asked once per worker) and the SMTP per-host caps. The global limits (`--max-in-flight`, `--qps`,
SMTP caps) are divided between the workers so that together they stay within them.

Interruption: workers start with SIGINT ignored, so Ctrl-C reaches only this process, which
cancels its own share and asks each worker to stop (SIGTERM); a worker then cancels its audit,
sends what it finished and exits. A second Ctrl-C stops at once. A worker that dies on its own
(its pipe closes before it said it was done) leaves the run incomplete, with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import TracebackType
from typing import Any

from auditor.audit import AuditSettings, StreamOutcome, stream_audit
from auditor.engine.catalogue import load_catalogues
from auditor.engine.rules import load_rules
from auditor.model.inventory import DomainTarget
from auditor.model.report import DomainReport
from auditor.model.stream import DomainLine
from auditor.scale.backends import BackendSpec
from auditor.scale.heap import settle_for_batch
from auditor.scale.jsonl import encode_line
from auditor.scale.spill import Form, encode_report
from auditor.scale.tally import ReportDigest

Accept = Callable[[int, bytes, ReportDigest], None]
"""Takes (inventory index, the domain's JSON line, its digest) in this process."""

_BATCH = 32
_BATCH_SECONDS = 0.1
_JOIN_SECONDS = 10.0
_EXIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """Everything one worker process needs, picklable: its share and how to build the rest."""

    number: int
    targets: tuple[tuple[int, DomainTarget], ...]
    backend: BackendSpec
    rule_dirs: tuple[Path, ...]
    catalogue: tuple[Path, ...]
    settings: AuditSettings
    form: Form = Form.LINE
    """How to encode each report: a JSON Lines record (a stream is written), or already in the JSON
    report's form when the parent only spills them for a report (saves re-encoding it there)."""


@dataclass(frozen=True, slots=True)
class WorkersOutcome:
    """How the worker processes ended, added up."""

    complete: bool
    interrupted: bool
    failure: str | None
    """Why the run is incomplete when a worker died or could not start (None otherwise)."""
    dns_queries: int
    dns_lookups: int


def deal(targets: Sequence[tuple[int, DomainTarget]], workers: int) -> list[list[tuple[int, DomainTarget]]]:
    """Round-robin shares, as many as `workers` (fewer when there are fewer targets)."""
    count = max(1, min(workers, len(targets)))
    return [list(targets[n::count]) for n in range(count)]


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


class WorkerPool:
    """The worker processes of one run: started on entry, always reaped (or killed) on exit."""

    def __init__(self, jobs: Sequence[WorkerJob]) -> None:
        self._jobs = list(jobs)
        self._processes: dict[int, Any] = {}
        self._pipes: dict[int, Connection] = {}
        self._stopping = False

    def __enter__(self) -> WorkerPool:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT) if in_main_thread else None
        try:
            if in_main_thread:  # children inherit "ignored" through exec and leave Ctrl-C to us
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            for job in self._jobs:
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=worker_main, args=(job, send), name=f"sendready-worker-{job.number}", daemon=True
                )
                process.start()
                send.close()  # ours; the worker's copy closing is how we see it end
                self._processes[job.number], self._pipes[job.number] = process, receive
        except BaseException:
            self._kill()
            raise
        finally:
            if in_main_thread:
                signal.signal(signal.SIGINT, previous)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:  # a second Ctrl-C, or an error here: no waiting
            self._kill()
            return
        for process in self._processes.values():
            process.join(_JOIN_SECONDS)
        self._kill()

    def _kill(self) -> None:
        for process in self._processes.values():
            if process.is_alive():
                process.kill()
            process.join()
        for pipe in self._pipes.values():
            pipe.close()

    def stop(self) -> None:
        """Ask every worker still running to cancel and report what it has (SIGTERM)."""
        self._stopping = True
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()

    async def run(self, own_share: Callable[[], Awaitable[StreamOutcome]], accept: Accept) -> WorkersOutcome:
        """Audit `own_share` here while passing the workers' reports to `accept`, on this loop."""
        loop = asyncio.get_running_loop()
        all_ended = asyncio.Event()
        finished: dict[int, tuple[bool, int, int]] = {}
        failures: dict[int, str] = {}
        ended: set[int] = set()
        errors: list[BaseException] = []

        def handle(number: int, message: tuple[Any, ...] | None) -> None:
            try:
                if message is None:  # the pipe closed: the worker is gone
                    ended.add(number)
                    if number not in finished and number not in failures and not self._stopping:
                        process = self._processes[number]
                        process.join(_EXIT_SECONDS)  # its pipe is closed: it is exiting
                        failures[number] = (
                            f"worker {number} exited unexpectedly (exit code {process.exitcode})"
                        )
                    if len(ended) == len(self._pipes):
                        all_ended.set()
                elif message[0] == "lines":
                    for index, line, digest in message[1]:
                        accept(index, line, digest)
                elif message[0] == "done":
                    finished[number] = message[1:]
                elif message[0] == "failed":
                    failures[number] = f"worker {number}: {message[1]}"
            except Exception as exc:  # e.g. the stream's disk is full: stop everything, raise below
                errors.append(exc)
                self.stop()
                all_ended.set()

        reader = threading.Thread(
            target=self._read, args=(loop, handle), name="sendready-workers", daemon=True
        )
        reader.start()
        interrupted = False
        own: StreamOutcome | None = None
        try:
            own = await own_share()
            if not own.complete:  # Ctrl-C cancelled our share: the workers stop too
                interrupted = True
                self.stop()
            await all_ended.wait()
        except asyncio.CancelledError:  # Ctrl-C after our share was done
            interrupted = True
            self.stop()
            await all_ended.wait()
        if errors:
            raise errors[0]
        complete = (
            not interrupted
            and own is not None
            and own.complete
            and not failures
            and len(finished) == len(self._pipes)
            and all(done[0] for done in finished.values())
        )
        return WorkersOutcome(
            complete=complete,
            interrupted=interrupted,
            failure="; ".join(failures[n] for n in sorted(failures)) or None,
            dns_queries=sum(done[1] for done in finished.values()) + (own.run.dns_queries if own else 0),
            dns_lookups=sum(done[2] for done in finished.values()) + (own.run.dns_lookups if own else 0),
        )

    def _read(self, loop: asyncio.AbstractEventLoop, handle: Callable[[int, Any], None]) -> None:
        """Reader thread: every message (and every end of pipe) goes to `handle` on the loop."""
        open_pipes = {pipe: number for number, pipe in self._pipes.items()}
        while open_pipes:
            for pipe in wait(list(open_pipes)):
                number = open_pipes[pipe]  # type: ignore[index]
                try:
                    message = pipe.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    del open_pipes[pipe]  # type: ignore[arg-type]
                    message = None
                try:
                    loop.call_soon_threadsafe(handle, number, message)
                except RuntimeError:  # the loop is gone (a second Ctrl-C): nobody is listening
                    return


# --------------------------------------------------------------------------- the worker process


def worker_main(job: WorkerJob, pipe: Connection) -> None:
    """Entry point of a worker process: audit the job's targets, stream the results, report the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tells us (SIGTERM)
    try:
        rules = load_rules(list(job.rule_dirs))
        catalogue = load_catalogues(job.catalogue)
        backend = job.backend.build()
        settle_for_batch()
        outcome = asyncio.run(_audit(job, rules, catalogue, backend, pipe))
        pipe.send(("done", outcome.complete, outcome.run.dns_queries, outcome.run.dns_lookups))
    except BaseException as exc:  # whatever it was, the parent must hear of it
        with contextlib.suppress(OSError):
            pipe.send(("failed", f"{exc.__class__.__name__}: {exc}"))
        raise SystemExit(1) from None
    finally:
        pipe.close()


async def _audit(job: WorkerJob, rules: Any, catalogue: Any, backend: Any, pipe: Connection) -> StreamOutcome:
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # not on Windows: there, terminate() kills
        loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    batch: list[tuple[int, bytes, ReportDigest]] = []
    last_sent = time.monotonic()

    def send() -> None:
        nonlocal last_sent
        if batch:
            pipe.send(("lines", batch.copy()))
            batch.clear()
        last_sent = time.monotonic()

    def on_report(position: int, report: DomainReport) -> None:
        index = job.targets[position][0]
        if job.form is Form.REPORT:
            data = encode_report(report)
        else:
            data = encode_line(DomainLine(index=index, report=report))
        batch.append((index, data, ReportDigest.of(report)))
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
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
    send()
    return outcome

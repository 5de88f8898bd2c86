"""A progress bar on stderr for long runs; silent when stderr is not a terminal."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from auditor.model.report import DomainReport
from auditor.scale.tally import ReportDigest

_MIN_DOMAINS = 20


class ProgressBar:
    """Counts audited domains; shows only on a terminal and only for runs worth watching."""

    def __init__(self, total: int, console: Console) -> None:
        enabled = console.is_terminal and total >= _MIN_DOMAINS
        self._progress = Progress(
            TextColumn("auditing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self._task = self._progress.add_task("audit", total=total)

    def advance(self, _report: DomainReport | ReportDigest) -> None:
        self._progress.advance(self._task)

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

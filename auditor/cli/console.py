"""Terminal output: a concise summary, untrusted DNS text rendered as plain `Text`.

The table shows at most `_MAX_ROWS` domains (not-ready ones first), so `SummaryTable` keeps only
those while a streamed audit runs: the summary never needs every report in memory.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.model.report import AuditReport, Readiness, Summary
from auditor.reporters.context import READINESS_LABEL
from auditor.reporters.templating import strip_controls
from auditor.scale.tally import ReportDigest

_STYLE = {Readiness.READY: "green", Readiness.NOT_READY: "red", Readiness.COULD_NOT_VERIFY: "yellow"}
_MAX_ROWS = 50


class SummaryTable:
    """The rows the terminal table will show, kept as digests arrive (bounded memory)."""

    def __init__(self, limit: int = _MAX_ROWS) -> None:
        self._limit = limit
        self._rows: list[ReportDigest] = []
        self.total = 0

    def add(self, digest: ReportDigest) -> None:
        self.total += 1
        self._rows.append(digest)
        if len(self._rows) >= 4 * self._limit:
            self._rows = self.rows()

    def rows(self) -> list[ReportDigest]:
        """Not-ready domains first, then by name; at most `limit` of them."""
        return sorted(self._rows, key=lambda d: (d.readiness is Readiness.READY, d.domain))[: self._limit]


def print_summary(report: AuditReport, console: Console) -> None:
    table = SummaryTable()
    for domain in report.domains:
        table.add(ReportDigest.of(domain))
    print_totals(report.summary, None if report.complete else INTERRUPTED, table, console)


INTERRUPTED = "AUDIT INTERRUPTED: the results below are incomplete."


def print_totals(summary: Summary, warning: str | None, table: SummaryTable, console: Console) -> None:
    """The table and the totals line, after `warning` (why the results are incomplete) if any."""
    s = summary
    if warning:
        console.print(Text(warning, style="bold red"), soft_wrap=True)
    grid = Table(title=None, show_edge=False, pad_edge=False)
    grid.add_column("Domain", overflow="fold")
    grid.add_column("Status")
    grid.add_column("Problems", overflow="fold")
    for d in table.rows():
        grid.add_row(
            Text(strip_controls(d.domain)),
            Text(READINESS_LABEL[d.readiness], style=_STYLE[d.readiness]),
            Text(", ".join(d.problems) or "-"),
        )
    console.print(grid)
    if table.total > _MAX_ROWS:
        console.print(Text(f"… and {table.total - _MAX_ROWS} more domains (see the report)."))
    by_sev = ", ".join(f"{k} {v}" for k, v in s.failed_by_severity.items() if v)
    line = Text()
    line.append(f"{s.domains} domains: ")
    line.append(f"{s.ready} ready", style="green")
    line.append(", ")
    line.append(f"{s.not_ready} not ready", style="red")
    line.append(", ")
    line.append(f"{s.could_not_verify} could not verify", style="yellow")
    if by_sev:
        line.append(f". Failed checks: {by_sev}")
    console.print(line)

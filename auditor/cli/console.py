"""Terminal output: a concise summary, untrusted DNS text rendered as plain `Text`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.model.report import AuditReport, Readiness
from auditor.reporters.context import READINESS_LABEL
from auditor.reporters.templating import strip_controls

_STYLE = {Readiness.READY: "green", Readiness.NOT_READY: "red", Readiness.COULD_NOT_VERIFY: "yellow"}
_MAX_ROWS = 50


def print_summary(report: AuditReport, console: Console) -> None:
    s = report.summary
    if not report.complete:
        console.print(Text("AUDIT INTERRUPTED: the results below are incomplete.", style="bold red"))
    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("Domain", overflow="fold")
    table.add_column("Status")
    table.add_column("Problems", overflow="fold")
    shown = sorted(report.domains, key=lambda d: (d.readiness is Readiness.READY, d.domain))
    for d in shown[:_MAX_ROWS]:
        problems = ", ".join(f"{f.rule_id}" for f in d.problems) or "-"
        table.add_row(
            Text(strip_controls(d.domain)),
            Text(READINESS_LABEL[d.readiness], style=_STYLE[d.readiness]),
            Text(problems),
        )
    console.print(table)
    if len(shown) > _MAX_ROWS:
        console.print(Text(f"… and {len(shown) - _MAX_ROWS} more domains (see the report)."))
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

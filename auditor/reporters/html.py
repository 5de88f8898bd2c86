"""One self-contained HTML file (inline CSS, no external assets), from `reports/html/`."""

from __future__ import annotations

from auditor.model.report import AuditReport
from auditor.reporters.context import template_context
from auditor.reporters.templating import html_environment


def render_html(report: AuditReport) -> str:
    return html_environment().get_template("report.html.j2").render(**template_context(report))

"""Markdown for pull requests, wikis and tickets, from `reports/markdown/`."""

from __future__ import annotations

from auditor.model.report import AuditReport
from auditor.reporters.context import template_context
from auditor.reporters.templating import markdown_environment


def render_markdown(report: AuditReport) -> str:
    return markdown_environment().get_template("report.md.j2").render(**template_context(report))

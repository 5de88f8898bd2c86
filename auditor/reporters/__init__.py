"""Reporters turn a complete `AuditReport` into text; `sinks` writes it. They never do I/O."""

from __future__ import annotations

from collections.abc import Callable

from auditor.model.report import AuditReport
from auditor.reporters.html import render_html
from auditor.reporters.json_reporter import render_json
from auditor.reporters.markdown import render_markdown

Renderer = Callable[[AuditReport], str]

REPORTERS: dict[str, tuple[Renderer, str]] = {
    "html": (render_html, ".html"),
    "md": (render_markdown, ".md"),
    "json": (render_json, ".json"),
}
SUFFIX_FORMATS = {suffix: name for name, (_, suffix) in REPORTERS.items()} | {".markdown": "md"}

__all__ = ["REPORTERS", "SUFFIX_FORMATS", "Renderer"]

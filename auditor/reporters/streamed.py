"""The same reports as `REPORTERS`, rendered a piece at a time from domains read back one by one.

`render_json`, `render_html` and `render_markdown` need an `AuditReport` holding every domain, and
return the whole text: about 1 GB at 10,000 domains. The functions here take a report whose
`domains` is a `DomainSource` (in practice `auditor.scale.spill.SpilledReports`, which decodes one
domain at a time from disk) and yield the text in pieces that a sink writes as they come. The output
is byte for byte what the whole-report renderers give for the same domains (a test compares them):

* JSON: the report's head and tail come from the same pydantic serializer, with an empty domain
  list, and each domain is copied in as the spill stored it (see `auditor.scale.spill`);
* HTML and Markdown: the same templates, through jinja2's `generate()` instead of `render()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, cast

from auditor.model.report import AuditReport, DomainReport
from auditor.reporters.context import template_context
from auditor.reporters.json_reporter import render_json_bytes
from auditor.reporters.templating import html_environment, markdown_environment


class DomainSource(Protocol):
    """Domains in inventory order: sized, re-iterable, and available as their stored JSON records."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[DomainReport]: ...

    def reports_json(self) -> Iterator[bytes]:
        """Each domain's object as the JSON report prints it, indented for its place, no separator."""
        ...


StreamedRenderer = Callable[[AuditReport, DomainSource], Iterable[str] | Iterable[bytes]]

_DOMAINS_EMPTY = b'\n  "domains": [],\n'


def report_over(report: AuditReport, domains: DomainSource) -> AuditReport:
    """`report` with `domains` in place of its tuple: what the templates iterate, one domain at a time."""
    return AuditReport(
        run=report.run,
        summary=report.summary,
        domains=cast("tuple[DomainReport, ...]", domains),
        complete=report.complete,
        schema_version=report.schema_version,
    )


def stream_json(report: AuditReport, domains: DomainSource) -> Iterator[bytes]:
    """The JSON report of `report` (its own `domains` ignored) with `domains` in it, in pieces."""
    shell = render_json_bytes(
        AuditReport(run=report.run, summary=report.summary, domains=(), complete=report.complete)
    )
    head, found, tail = shell.partition(_DOMAINS_EMPTY)
    if not found:  # pragma: no cover - the serializer changed its layout
        raise AssertionError("unexpected JSON report layout")
    yield head
    started = False
    for text in domains.reports_json():
        yield (b",\n" if started else b'\n  "domains": [\n') + text
        started = True
    yield (b"\n  ],\n" if started else _DOMAINS_EMPTY) + tail


def stream_html(report: AuditReport, domains: DomainSource) -> Iterator[str]:
    template = html_environment().get_template("report.html.j2")
    return template.generate(**template_context(report_over(report, domains)))


def stream_markdown(report: AuditReport, domains: DomainSource) -> Iterator[str]:
    template = markdown_environment().get_template("report.md.j2")
    return template.generate(**template_context(report_over(report, domains)))


STREAMED_REPORTERS: dict[str, StreamedRenderer] = {
    "html": stream_html,
    "md": stream_markdown,
    "json": stream_json,
}

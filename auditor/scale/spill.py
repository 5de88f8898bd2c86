"""Finished domain reports kept on disk instead of in memory, read back in inventory order.

A JSON, HTML or Markdown report is one document over every domain, but holding every
`DomainReport` until the end cost about 1 GB at 10,000 domains. Instead, each finished domain is
appended to an anonymous temporary file as JSON, and only `(inventory index, offset, length, form)`
stays in memory: a few dozen bytes per domain. The reporters then read the domains back one at a
time, in inventory order. A domain is stored in one of two forms:

* `REPORT`: the domain object exactly as the JSON report prints it (indented for its place in the
  report; `encode_report`), made by this process or a worker when no stream is written; the JSON
  report copies these bytes as they are;
* `LINE`: a JSON Lines record (`auditor.scale.jsonl`), as a stream file holds them (and workers
  send them when there is a stream); the JSON report re-indents the report inside (parsed to plain
  dicts and lists, not to models, so key order and value forms are kept).

The temporary file is unlinked from the start (`tempfile.TemporaryFile`), so it disappears with the
process, also when the process is killed. It is placed beside the report when there is one, so a
large audit does not fill a small `/tmp`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from enum import Enum
from functools import cache
from pathlib import Path
from typing import BinaryIO

import pydantic_core
from pydantic import TypeAdapter

from auditor.errors import ReporterError
from auditor.model.report import DomainReport
from auditor.model.stream import DomainLine
from auditor.scale.jsonl import encode_line

REPORT_INDENT = b"    "
"""A domain object sits two levels deep in the JSON report (indent 2)."""


class Form(Enum):
    REPORT = "report"
    LINE = "line"


class ReportSpill:
    """An append-only file of domain records, re-readable in inventory order any number of times."""

    def __init__(self, directory: Path | None = None) -> None:
        where = str(directory) if directory is not None and directory.is_dir() else None
        try:
            self._file: BinaryIO = tempfile.TemporaryFile(prefix=".sendready-spill-", dir=where)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ReporterError(f"{where or tempfile.gettempdir()}: cannot write: {exc}") from None
        self._size = 0
        self._entries: list[tuple[int, int, int, Form]] = []
        """(inventory index, offset, length, form) per domain, in the order they were added."""

    def __enter__(self) -> ReportSpill:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._entries)

    def add_line(self, index: int, line: bytes) -> None:
        """Keep one domain's JSON Lines record (`encode_line(DomainLine(...))`, newline included)."""
        self.add_encoded(index, line, Form.LINE)

    def add(self, line: DomainLine) -> None:
        """Keep a domain record that was read or built rather than received as bytes."""
        self.add_line(line.index, encode_line(line))

    def add_report(self, index: int, report: DomainReport) -> None:
        """Keep a report this process just made, already in the form the JSON report prints."""
        self.add_encoded(index, encode_report(report), Form.REPORT)

    def add_encoded(self, index: int, data: bytes, form: Form) -> None:
        """Keep a domain already encoded in `form` (by `encode_report` or `encode_line`)."""
        try:
            self._file.seek(0, os.SEEK_END)
            self._file.write(data)
        except OSError as exc:
            raise ReporterError(f"report spill file: cannot write: {exc.strerror or exc}") from None
        self._entries.append((index, self._size, len(data), form))
        self._size += len(data)

    def _in_order(self) -> Iterator[tuple[bytes, Form]]:
        """Every stored domain with its form, in inventory order (ties in the order they were added)."""
        self._file.flush()
        for _, offset, length, form in sorted(self._entries, key=lambda entry: entry[0]):
            self._file.seek(offset)
            yield self._file.read(length), form

    def reports_json(self) -> Iterator[bytes]:
        """Each domain as the JSON report prints it (indented, no separator), in inventory order."""
        for data, form in self._in_order():
            if form is Form.REPORT:
                yield data
            else:
                text = pydantic_core.to_json(pydantic_core.from_json(data)["report"], indent=2)
                yield REPORT_INDENT + text.replace(b"\n", b"\n" + REPORT_INDENT)

    def reports(self) -> SpilledReports:
        """The domains as `DomainReport`s, decoded one at a time (what the templates iterate)."""
        return SpilledReports(self)

    def close(self) -> None:
        self._file.close()


class SpilledReports:
    """A sized, re-iterable view of a spill's reports: every loop reads the file again.

    The HTML and Markdown templates loop over the domains twice (an index, then the details) and ask
    for their number, which is all this offers; only one decoded report is alive at a time.
    """

    def __init__(self, spill: ReportSpill) -> None:
        self._spill = spill

    def __len__(self) -> int:
        return len(self._spill)

    def __iter__(self) -> Iterator[DomainReport]:
        line, report = _line_adapter().validate_json, _report_adapter().validate_json
        for data, form in self._spill._in_order():
            yield report(data) if form is Form.REPORT else line(data).report

    def reports_json(self) -> Iterator[bytes]:
        """See `ReportSpill.reports_json`."""
        return self._spill.reports_json()


def encode_report(report: DomainReport) -> bytes:
    """One domain as the JSON report prints it: indented, and indented again for its depth."""
    text = _report_adapter().dump_json(report, indent=2)
    return REPORT_INDENT + text.replace(b"\n", b"\n" + REPORT_INDENT)


@cache
def _line_adapter() -> TypeAdapter[DomainLine]:
    return TypeAdapter(DomainLine)


@cache
def _report_adapter() -> TypeAdapter[DomainReport]:
    return TypeAdapter(DomainReport)

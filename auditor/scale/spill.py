"""Finished domain reports kept on disk instead of in memory, read back in inventory order.

A JSON, HTML or Markdown report is one document over every domain, but holding every
`DomainReport` until the end cost about 1 GB at 10,000 domains. Instead, each finished domain's
JSON Lines record (the bytes the stream writes anyway, see `auditor.scale.jsonl`) is appended to an
anonymous temporary file, and only `(inventory index, offset, length)` stays in memory: a few dozen
bytes per domain. The reporters then read the domains back one at a time, in inventory order.

The temporary file is unlinked from the start (`tempfile.TemporaryFile`), so it disappears with the
process, also when the process is killed. It is placed beside the report when there is one, so a
large audit does not fill a small `/tmp`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import BinaryIO

from pydantic import TypeAdapter

from auditor.errors import ReporterError
from auditor.model.report import DomainReport
from auditor.model.stream import DomainLine
from auditor.scale.jsonl import encode_line


class ReportSpill:
    """An append-only file of domain records, re-readable in inventory order any number of times."""

    def __init__(self, directory: Path | None = None) -> None:
        where = str(directory) if directory is not None and directory.is_dir() else None
        try:
            self._file: BinaryIO = tempfile.TemporaryFile(prefix=".sendready-spill-", dir=where)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ReporterError(f"{where or tempfile.gettempdir()}: cannot write: {exc}") from None
        self._size = 0
        self._entries: list[tuple[int, int, int]] = []
        """(inventory index, offset, length) per domain, in the order they were added."""

    def __enter__(self) -> ReportSpill:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._entries)

    def add_line(self, index: int, line: bytes) -> None:
        """Keep one domain's JSON Lines record (`encode_line(DomainLine(...))`, newline included)."""
        try:
            self._file.seek(0, os.SEEK_END)
            self._file.write(line)
        except OSError as exc:
            raise ReporterError(f"report spill file: cannot write: {exc.strerror or exc}") from None
        self._entries.append((index, self._size, len(line)))
        self._size += len(line)

    def add(self, line: DomainLine) -> None:
        """Keep a domain record that was read or built rather than received as bytes."""
        self.add_line(line.index, encode_line(line))

    def lines_in_order(self) -> Iterator[bytes]:
        """Every record, in inventory order (ties in the order they were added)."""
        self._file.flush()
        for _, offset, length in sorted(self._entries, key=lambda entry: entry[0]):
            self._file.seek(offset)
            yield self._file.read(length)

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
        decode = _line_adapter().validate_json
        for line in self._spill.lines_in_order():
            yield decode(line).report

    def records(self) -> Iterator[bytes]:
        """Each domain's JSON Lines record, undecoded (the JSON report copies them)."""
        return self._spill.lines_in_order()


@cache
def _line_adapter() -> TypeAdapter[DomainLine]:
    return TypeAdapter(DomainLine)

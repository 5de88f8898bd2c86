"""JSON Lines streams: written a line at a time while the audit runs, read back line by line.

Crash safety comes from the layout, not from luck:

* every record is one line, handed to the operating system in one `write` as soon as it exists
  (no Python buffering), so a killed process loses at most the line it was writing;
* a last line without its newline is a torn write: readers ignore it and `--resume` cuts it off;
* a file is locked (flock) while it is written, so two runs never interleave lines in one file;
* the `end` line is written last and says whether the run was complete; a stream without one was
  killed, and counts as incomplete.

The records and their JSON Schema (docs/jsonl.schema.json) come from `auditor.model.stream`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from pydantic import Field, TypeAdapter, ValidationError

from auditor.errors import InputError, ReporterError
from auditor.model.stream import (
    STREAM_FORMAT,
    STREAM_SCHEMA_VERSION,
    DomainLine,
    EndLine,
    ResumeLine,
    StreamHeader,
    StreamLine,
)

try:  # POSIX; elsewhere streams are simply not locked
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

SCHEMA_ID = f"https://sendready.dev/schema/jsonl-{STREAM_SCHEMA_VERSION}.json"
JSONL_SUFFIX = ".jsonl"


@cache
def _line_adapter() -> TypeAdapter[StreamLine]:
    return TypeAdapter(Annotated[StreamLine, Field(discriminator="type")])  # type: ignore[arg-type]


@cache
def _adapter_for(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def encode_line(record: StreamLine) -> bytes:
    """One record as one line of compact JSON, newline included."""
    return _adapter_for(type(record)).dump_json(record) + b"\n"


def stream_json_schema() -> dict[str, Any]:
    """The JSON Schema of one line of a stream (a `oneOf` told apart by `type`)."""
    schema = _line_adapter().json_schema(mode="serialization")
    for definition in [schema, *schema.get("$defs", {}).values()]:
        if "properties" in definition:  # every field is always written
            definition["required"] = sorted(definition["properties"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sendready audit stream: one JSON Lines record",
        **schema,
    }


class StreamWriter:
    """Appends records to a stream; each line goes to the OS in one `write` as soon as it is given."""

    def __init__(self, fd: int, name: str, *, handle: BinaryIO | None = None) -> None:
        self._fd = fd
        self._handle = handle
        self.name = name

    @classmethod
    def open(cls, path: Path, *, keep_bytes: int = 0) -> StreamWriter:
        """Lock `path` and cut it to its first `keep_bytes` bytes (0: a new, empty stream)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ReporterError(f"{path}: cannot write: {exc.strerror or exc}") from None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, keep_bytes)
            os.lseek(fd, 0, os.SEEK_END)
        except BlockingIOError:
            os.close(fd)
            raise InputError("another sendready process is writing this stream", path=path) from None
        except OSError as exc:
            os.close(fd)
            raise ReporterError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return cls(fd, str(path))

    @classmethod
    def stdout(cls) -> StreamWriter:
        """Standard output (`--output -`), flushed after every line."""
        return cls(-1, "<stdout>", handle=sys.stdout.buffer)

    def write(self, record: StreamLine) -> None:
        self.write_line(encode_line(record))

    def write_line(self, line: bytes) -> None:
        try:
            if self._handle is not None:
                self._handle.write(line)
                self._handle.flush()
                return
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise ReporterError(f"{self.name}: cannot write: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Make the stream durable (fsync) and release the lock."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1


@dataclass(frozen=True, slots=True)
class StreamScan:
    """What one pass over a stream found (the domain lines went to the caller one by one)."""

    path: Path
    header: StreamHeader
    end: EndLine | None
    resumes: tuple[ResumeLine, ...]
    reported: int
    """Domain lines read."""
    records_end: int
    """Byte offset just after the last domain, header or resume line: where `--resume` appends."""
    torn: bool
    """The last line had no newline (a killed writer) and was ignored."""

    @property
    def complete(self) -> bool:
        return self.end is not None and self.end.complete and self.reported == self.header.domains


def read_stream(path: Path, on_domain: Callable[[DomainLine], None] | None = None) -> StreamScan:
    """Read and check a whole stream, passing each domain line to `on_domain` as it is read.

    Raises a one-line `InputError` naming the file and line for anything that is not a sendready
    stream: a bad first line, an invalid record, a domain reported twice, a line after the end.
    """
    try:
        handle: BinaryIO = path.open("rb")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    with handle:
        return _scan(path, handle, on_domain)


def read_header(path: Path) -> StreamHeader:
    """Only the first line of a stream, checked: enough to tell which audit and shard it holds."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    return _header(path, first)


def _scan(path: Path, handle: BinaryIO, on_domain: Callable[[DomainLine], None] | None) -> StreamScan:
    header: StreamHeader | None = None
    end: EndLine | None = None
    resumes: list[ResumeLine] = []
    seen: set[str] = set()
    offset = records_end = 0
    torn = False
    for number, raw in enumerate(handle, start=1):
        if not raw.endswith(b"\n"):
            torn = True  # the writer was killed mid-line
            break
        offset += len(raw)
        if header is None:
            header = _header(path, raw)
            records_end = offset
            continue
        if end is not None:
            raise InputError("a record after the end record", path=path, line=number)
        record = _record(path, number, raw)
        if isinstance(record, DomainLine):
            if record.report.domain in seen:
                raise InputError(f"domain {record.report.domain} reported twice", path=path, line=number)
            seen.add(record.report.domain)
            if on_domain is not None:
                on_domain(record)
        elif isinstance(record, ResumeLine):
            resumes.append(record)
        elif isinstance(record, EndLine):
            end = record
            continue
        else:
            raise InputError("a second header record", path=path, line=number)
        records_end = offset
    if header is None:
        raise InputError("not a sendready JSON Lines stream (no header line)", path=path, line=1)
    return StreamScan(path, header, end, tuple(resumes), len(seen), records_end, torn)


def _header(path: Path, raw: bytes) -> StreamHeader:
    try:
        first = json.loads(raw)
    except ValueError:
        first = None
    if not isinstance(first, dict) or first.get("format") != STREAM_FORMAT or first.get("type") != "header":
        raise InputError("not a sendready JSON Lines stream (no header line)", path=path, line=1)
    record = _record(path, 1, raw)
    assert isinstance(record, StreamHeader)
    return record


def _record(path: Path, number: int, raw: bytes) -> StreamLine:
    try:
        return _line_adapter().validate_json(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(step) for step in error["loc"])
        message = error["msg"] if not where else f"{where}: {error['msg']}"
        raise InputError(f"invalid record ({message})", path=path, line=number) from None

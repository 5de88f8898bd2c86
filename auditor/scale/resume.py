"""`--resume`: find where an interrupted stream left off, after checking it is the same audit.

The stream must have been written for the same inventory (fingerprint), the same shard and the
same rules; anything else would mix results of different audits in one report, so it is refused
with one line. Domains are recognised by name, so reordering the inventory does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError
from auditor.model.stream import DomainLine, StreamHeader
from auditor.scale.jsonl import StreamScan, read_stream
from auditor.scale.tally import ReportDigest


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """An existing stream to continue: what it already holds and where to append."""

    scan: StreamScan
    reported: frozenset[str]
    """Names of the domains already in the stream."""

    @property
    def dns_queries(self) -> int:
        return self.scan.end.run.dns_queries if self.scan.end else 0

    @property
    def dns_lookups(self) -> int:
        return self.scan.end.run.dns_lookups if self.scan.end else 0


def find_resume_point(
    path: Path, expected: StreamHeader, on_digest: Callable[[ReportDigest], None]
) -> ResumePoint | None:
    """Read `path` (None when it is missing or empty: nothing to resume), check it, count its domains."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return None
    names: set[str] = set()

    def take(line: DomainLine) -> None:
        names.add(line.report.domain)
        on_digest(ReportDigest.of(line.report))

    scan = read_stream(path, take)
    _check_same_audit(path, scan.header, expected)
    return ResumePoint(scan=scan, reported=frozenset(names))


def _check_same_audit(path: Path, found: StreamHeader, expected: StreamHeader) -> None:
    def refuse(message: str) -> None:
        raise InputError(message, path=path, field="--resume")

    if found.inventory_fingerprint != expected.inventory_fingerprint:
        refuse(
            "the stream belongs to a different inventory "
            f"({_short(found.inventory_fingerprint)}, this one is {_short(expected.inventory_fingerprint)})"
        )
    if found.shard != expected.shard:
        refuse(f"the stream is for {_shard_text(found)}, not {_shard_text(expected)}")
    if found.rules_fingerprint != expected.rules_fingerprint:
        refuse("the stream was written with different rules (rule files or sendready version changed)")


def _short(fingerprint: str) -> str:
    return fingerprint[: len("sha256:") + 12]


def _shard_text(header: StreamHeader) -> str:
    return f"shard {header.shard}" if header.shard else "the whole inventory"

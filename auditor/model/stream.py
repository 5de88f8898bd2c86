"""The records of a JSON Lines audit stream (`--format jsonl`), one per line, told apart by `type`.

A stream is written while the audit runs, so a reader (or `--resume`, or `sendready merge`) can use
whatever finished before a crash::

    header   once, first: which inventory (fingerprint), which shard, which rules, when
    domain   one per audited domain, in the order domains finish; `index` is the inventory position
    resume   once per `--resume` that continued the file
    end      once, last, only when the run ended on its own or by Ctrl-C: summary and `complete`

A stream without an `end` line (the process was killed) is incomplete, like one whose `end` says
`complete: false`. Its JSON Schema (docs/jsonl.schema.json) is generated from these classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditor.model.report import DomainReport, RunInfo, Summary

STREAM_FORMAT = "sendready-jsonl"
"""The `format` of every header line: what makes a file a sendready stream."""
STREAM_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class ShardRef:
    """Shard `index` of `count` (1-based): the domains whose name hashes to it."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamHeader:
    """First line: identifies the stream and the exact work it is a record of."""

    type: Literal["header"] = "header"
    format: Literal["sendready-jsonl"] = STREAM_FORMAT
    schema_version: str = STREAM_SCHEMA_VERSION
    report_schema_version: str
    """The `schema_version` of the domain reports inside (docs/report.schema.json)."""
    tool_version: str
    started_at: str
    inventory: str | None
    inventory_fingerprint: str
    """sha256 over the whole normalised inventory, independent of order and of sharding."""
    inventory_domains: int
    """Domains in the whole inventory."""
    shard: ShardRef | None
    domains: int
    """Domains this stream is to report: the shard's share, or the whole inventory."""
    rules_fingerprint: str
    rule_count: int
    rule_sources: tuple[str, ...]
    resolver: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainLine:
    """One audited domain."""

    type: Literal["domain"] = "domain"
    index: int
    """Position of the domain in the whole inventory (0-based); reports are ordered by it."""
    report: DomainReport


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeLine:
    """`--resume` continued the stream from here."""

    type: Literal["resume"] = "resume"
    resumed_at: str
    tool_version: str
    resolver: str
    already_reported: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EndLine:
    """Last line: the run's totals. `complete` is true only when every domain is in the stream."""

    type: Literal["end"] = "end"
    complete: bool
    run: RunInfo
    summary: Summary


StreamLine = StreamHeader | DomainLine | ResumeLine | EndLine

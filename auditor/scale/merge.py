"""`sendready merge`: the streams of one sharded audit → one report, complete only if they all are.

The shards are checked from their header lines before anything is read in full: every file must
come from the same inventory (fingerprint) and the same rules, and together they must be shards
1..N of one split, each exactly once. One unsharded stream is accepted too (it renders as is).
Every domain line is checked to hash into the shard its file claims.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from auditor.errors import InputError
from auditor.model.report import AuditReport, DomainReport, RunInfo
from auditor.model.stream import DomainLine, StreamHeader
from auditor.scale.jsonl import StreamScan, read_header, read_stream
from auditor.scale.shards import shard_number
from auditor.scale.spill import ReportSpill
from auditor.scale.tally import ReportDigest, Tally


@dataclass(frozen=True, slots=True)
class ShardSet:
    """Streams that together hold one audit: (path, header) in shard order."""

    files: tuple[tuple[Path, StreamHeader], ...]

    @property
    def header(self) -> StreamHeader:
        """The header a single stream holding all of them would have."""
        first = self.files[0][1]
        return StreamHeader(
            report_schema_version=first.report_schema_version,
            tool_version=first.tool_version,
            started_at=min(h.started_at for _, h in self.files),
            inventory=first.inventory,
            inventory_fingerprint=first.inventory_fingerprint,
            inventory_domains=first.inventory_domains,
            shard=None,
            domains=sum(h.domains for _, h in self.files),
            rules_fingerprint=first.rules_fingerprint,
            rule_count=first.rule_count,
            rule_sources=first.rule_sources,
            resolver=_joined(h.resolver for _, h in self.files),
        )


@dataclass(frozen=True, slots=True)
class Merged:
    """The result of reading every stream of a `ShardSet`."""

    run: RunInfo
    tally: Tally
    complete: bool
    incomplete: tuple[str, ...]
    """The files that were not complete (killed, interrupted, or short of domains)."""


def check_shards(paths: Sequence[Path]) -> ShardSet:
    """Refuse, with one line, any set of streams that is not exactly one audit's shards."""
    if not paths:
        raise InputError("give the JSON Lines streams to merge", field="FILES")
    files = [(path, read_header(path)) for path in paths]
    first_path, first = files[0]
    for path, header in files[1:]:
        if header.inventory_fingerprint != first.inventory_fingerprint:
            raise InputError(f"not from the same inventory as {first_path}", path=path)
        if header.rules_fingerprint != first.rules_fingerprint:
            raise InputError(f"written with different rules from {first_path}", path=path)
    unsharded = [path for path, header in files if header.shard is None]
    if unsharded:
        if len(files) > 1:
            raise InputError(
                "holds the whole inventory, not a shard; merge one run's shards, or one stream",
                path=unsharded[0],
            )
        return ShardSet(tuple(files))
    count = first.shard.count if first.shard else 0
    by_index: dict[int, Path] = {}
    for path, header in files:
        assert header.shard is not None
        if header.shard.count != count:
            raise InputError(
                f"shard {header.shard} is not one of the {count} shards of {first_path}", path=path
            )
        if header.shard.index in by_index:
            also = by_index[header.shard.index]
            raise InputError(f"shard {header.shard} given twice (also {also})", path=path)
        by_index[header.shard.index] = path
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise InputError(f"missing shard {', '.join(missing)} of {count}", field="FILES")
    return ShardSet(tuple(sorted(files, key=lambda item: item[1].shard.index if item[1].shard else 0)))


def read_shards(shards: ShardSet, on_domain: Callable[[DomainLine], None]) -> Merged:
    """Read every stream, passing each domain line on; the totals are recounted, not trusted."""
    tally = Tally()
    scans: list[StreamScan] = []
    for path, header in shards.files:

        def take(line: DomainLine, path: Path = path, header: StreamHeader = header) -> None:
            shard = header.shard
            if shard is not None and shard_number(line.report.domain, shard.count) != shard.index:
                raise InputError(f"domain {line.report.domain} does not belong to shard {shard}", path=path)
            tally.add(ReportDigest.of(line.report))
            on_domain(line)

        scans.append(read_stream(path, take))
    incomplete = tuple(str(scan.path) for scan in scans if not scan.complete)
    return Merged(_merged_run(shards, scans), tally, not incomplete, incomplete)


def load_report(paths: Sequence[Path]) -> tuple[AuditReport, Merged]:
    """Every stream's reports in one `AuditReport`, in inventory order (everything in memory)."""
    lines: list[tuple[int, DomainReport]] = []
    merged = read_shards(check_shards(paths), lambda line: lines.append((line.index, line.report)))
    lines.sort(key=lambda item: item[0])
    report = AuditReport(
        run=merged.run,
        summary=merged.tally.summary(),
        domains=tuple(report for _, report in lines),
        complete=merged.complete,
    )
    return report, merged


def spill_report(paths: Sequence[Path], spill: ReportSpill) -> tuple[AuditReport, Merged]:
    """Like `load_report`, with the domains in `spill` (on disk) and an empty tuple in the report."""
    merged = read_shards(check_shards(paths), spill.add)
    report = AuditReport(run=merged.run, summary=merged.tally.summary(), domains=(), complete=merged.complete)
    return report, merged


def _merged_run(shards: ShardSet, scans: Sequence[StreamScan]) -> RunInfo:
    header = shards.header
    ends = [scan.end for scan in scans if scan.end is not None]
    finished = [end.run.finished_at for end in ends]
    finished += [_mtime(scan.path) for scan in scans if scan.end is None]
    return RunInfo(
        tool_version=_joined([end.run.tool_version for end in ends] or [header.tool_version]),
        started_at=header.started_at,
        finished_at=max(finished),
        resolver=_joined([end.run.resolver for end in ends] or [header.resolver]),
        rule_count=header.rule_count,
        rule_sources=header.rule_sources,
        inventory=header.inventory,
        dns_queries=sum(end.run.dns_queries for end in ends),
        dns_lookups=sum(end.run.dns_lookups for end in ends),
    )


def _joined(values: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(values))


def _mtime(path: Path) -> str:
    """When a stream without an end line was last written to: the best 'finished' there is."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")

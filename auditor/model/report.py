"""The complete result of a run, as every reporter receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from auditor.model.findings import Finding, Severity, Status
from auditor.model.smtp import SmtpProbeFacts

REPORT_SCHEMA_VERSION = "1.0"


class Readiness(StrEnum):
    """The one-word answer per domain."""

    READY = "ready"
    NOT_READY = "not_ready"
    COULD_NOT_VERIFY = "could_not_verify"


class RecordState(StrEnum):
    """A provider-required record as the provider's own dashboard would show it."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RecordVerification:
    """One record the provider checks before it calls the domain verified."""

    record: str
    required: bool
    state: RecordState
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegionView:
    """Declared, detected and effective region, with the DNS evidence behind the detection."""

    declared: str
    detected: str | None
    effective: str | None
    tells: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DomainReport:
    """Everything the report says about one domain."""

    domain: str
    provider: str
    region: RegionView
    readiness: Readiness
    verified: bool | None
    verification: tuple[RecordVerification, ...]
    findings: tuple[Finding, ...]
    txt_records: tuple[str, ...] = ()
    origin: str | None = None
    error: str | None = None
    smtp: SmtpProbeFacts | None = None
    """The submission probe with its redacted transcript, when one ran."""
    ready: bool = False
    """Always recomputed from `readiness` (a stored field, so that JSON carries it)."""
    profiles: tuple[str, ...] = ()
    """Compliance profiles applied to this domain (`--profile`, inventory `profiles:`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ready", self.readiness is Readiness.READY)

    @property
    def problems(self) -> tuple[Finding, ...]:
        """Failed and unknown findings above info, worst first: what a reader must act on."""
        selected = [
            f
            for f in self.findings
            if f.status in (Status.FAIL, Status.UNKNOWN) and f.severity is not Severity.INFO
        ]
        return tuple(
            sorted(selected, key=lambda f: (-f.severity.rank, f.status is Status.UNKNOWN, f.rule_id))
        )

    @property
    def notes(self) -> tuple[Finding, ...]:
        """Failed and unknown info-level findings (no MTA-STS, BIMI... published): advice, shown
        apart from the problems so that they do not bury them, by rule id."""
        selected = [
            f
            for f in self.findings
            if f.status in (Status.FAIL, Status.UNKNOWN) and f.severity is Severity.INFO
        ]
        return tuple(sorted(selected, key=lambda f: (f.status is Status.UNKNOWN, f.rule_id, f.subject)))


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts for the top of the report and for the exit code."""

    domains: int
    ready: int
    not_ready: int
    could_not_verify: int
    failed_by_severity: dict[str, int]
    unknown_findings: int
    profiles: tuple[str, ...] = ()
    """Every compliance profile applied to at least one domain, sorted."""

    @classmethod
    def of(cls, domains: tuple[DomainReport, ...]) -> Summary:
        by_severity = {s.value: 0 for s in Severity}
        unknown = 0
        for report in domains:
            for finding in report.findings:
                if finding.status is Status.FAIL:
                    by_severity[finding.severity.value] += 1
                elif finding.status is Status.UNKNOWN:
                    unknown += 1
        return cls(
            domains=len(domains),
            ready=sum(d.readiness is Readiness.READY for d in domains),
            not_ready=sum(d.readiness is Readiness.NOT_READY for d in domains),
            could_not_verify=sum(d.readiness is Readiness.COULD_NOT_VERIFY for d in domains),
            failed_by_severity=by_severity,
            unknown_findings=unknown,
            profiles=tuple(sorted({p for d in domains for p in d.profiles})),
        )


@dataclass(frozen=True, slots=True)
class RunInfo:
    """How the run was made, so a report can be reproduced and trusted."""

    tool_version: str
    started_at: str
    finished_at: str
    resolver: str
    rule_count: int
    rule_sources: tuple[str, ...]
    inventory: str | None = None
    dns_queries: int = 0
    """Questions put on the wire (or asked of zone files), retries and TCP included."""
    dns_lookups: int = 0
    """Questions the collectors asked, before run-wide de-duplication."""


@dataclass(frozen=True, slots=True, repr=False)
class AuditReport:
    """What reporters render. `complete` is false when the run was interrupted."""

    run: RunInfo
    summary: Summary
    domains: tuple[DomainReport, ...]
    complete: bool = True
    schema_version: str = field(default=REPORT_SCHEMA_VERSION)

    def __repr__(self) -> str:
        # Short on purpose: `asyncio.run` formats the finished task's result when it restores the
        # SIGINT handler (CPython 3.11's signal.getsignal builds an enum error message with it),
        # and the generated repr of every domain and finding cost about 0.7 ms per domain.
        return (
            f"AuditReport(domains={len(self.domains)}, complete={self.complete}, "
            f"schema_version={self.schema_version!r})"
        )

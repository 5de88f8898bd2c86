"""The run's totals, kept incrementally: nothing per domain is held, so a stream of any length fits.

A `ReportDigest` is the little a total needs from one `DomainReport`; worker processes send digests
(with the rendered line) to the parent, which never has to parse the report to count it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.model.findings import Severity, Status
from auditor.model.report import DomainReport, Readiness, Summary


@dataclass(frozen=True, slots=True)
class ReportDigest:
    """What totals, the exit code and the terminal table need from one domain's report."""

    domain: str
    readiness: Readiness
    problems: tuple[str, ...]
    """Rule ids of failed and unknown findings, worst first (the terminal table's column)."""
    failed: tuple[Severity, ...]
    unknown: tuple[Severity, ...]
    profiles: tuple[str, ...] = ()

    @classmethod
    def of(cls, report: DomainReport) -> ReportDigest:
        return cls(
            domain=report.domain,
            readiness=report.readiness,
            problems=tuple(f.rule_id for f in report.problems),
            failed=tuple(f.severity for f in report.findings if f.status is Status.FAIL),
            unknown=tuple(f.severity for f in report.findings if f.status is Status.UNKNOWN),
            profiles=report.profiles,
        )


def _per_severity() -> dict[Severity, int]:
    return dict.fromkeys(Severity, 0)


@dataclass(slots=True)
class Tally:
    """Running totals; `summary()` equals `Summary.of` over the same reports."""

    domains: int = 0
    readiness: dict[Readiness, int] = field(default_factory=lambda: dict.fromkeys(Readiness, 0))
    failed: dict[Severity, int] = field(default_factory=_per_severity)
    unknown: dict[Severity, int] = field(default_factory=_per_severity)
    profiles: set[str] = field(default_factory=set)

    def add(self, digest: ReportDigest) -> None:
        self.domains += 1
        self.profiles.update(digest.profiles)
        self.readiness[digest.readiness] += 1
        for severity in digest.failed:
            self.failed[severity] += 1
        for severity in digest.unknown:
            self.unknown[severity] += 1

    def summary(self) -> Summary:
        return Summary(
            domains=self.domains,
            ready=self.readiness[Readiness.READY],
            not_ready=self.readiness[Readiness.NOT_READY],
            could_not_verify=self.readiness[Readiness.COULD_NOT_VERIFY],
            failed_by_severity={s.value: self.failed[s] for s in Severity},
            unknown_findings=sum(self.unknown.values()),
            profiles=tuple(sorted(self.profiles)),
        )

    def fails(self, threshold: Severity, *, strict: bool) -> bool:
        """Whether a check failed at or above `threshold` (with `strict`, or could not be verified)."""
        counted = [self.failed, self.unknown] if strict else [self.failed]
        return any(n for counts in counted for s, n in counts.items() if s.at_least(threshold))

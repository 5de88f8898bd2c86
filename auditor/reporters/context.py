"""What the HTML and Markdown templates receive: the report plus a few precomputed views."""

from __future__ import annotations

from typing import Any

from auditor.model.findings import Severity, Status
from auditor.model.report import AuditReport, Readiness

READINESS_LABEL = {
    Readiness.READY: "Ready",
    Readiness.NOT_READY: "Not ready",
    Readiness.COULD_NOT_VERIFY: "Could not verify",
}


def template_context(report: AuditReport) -> dict[str, Any]:
    return {
        "report": report,
        "summary": report.summary,
        "run": report.run,
        "severities": [s.value for s in Severity],
        "readiness_label": {k.value: v for k, v in READINESS_LABEL.items()},
        "Status": Status,
        "passed": lambda d: [f for f in d.findings if f.status is Status.PASS],
        "skipped": lambda d: [f for f in d.findings if f.status is Status.SKIPPED],
    }

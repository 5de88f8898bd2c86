"""Findings: what a rule concluded about one domain, with evidence and a pasteable fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A rule's outcome. `unknown` means a fact it needs could not be collected."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class Severity(StrEnum):
    """How bad a failed rule is for sending, highest first.

    critical: mail will be rejected or cannot be sent; error: mail will likely fail authentication or
    land in spam; warning: works today but fragile or below best practice; info: observation only.
    """

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, threshold: Severity) -> bool:
        return self.rank >= threshold.rank


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A record to publish, exactly as a person pastes it into a DNS provider's form."""

    type: str
    name: str
    value: str
    priority: int | None = None

    @property
    def zone_line(self) -> str:
        """The record as one BIND master-file line (TXT values quoted, split at 255 bytes)."""
        value = self.value
        if self.type.upper() == "TXT":
            value = " ".join(_quote_txt_chunk(c) for c in _txt_chunks(value))
        else:
            if self.type.upper() in ("CNAME", "MX") and not value.endswith("."):
                value += "."
            if self.priority is not None:
                value = f"{self.priority} {value}"
        name = self.name if self.name.endswith(".") else f"{self.name}."
        return f"{name} IN {self.type.upper()} {value}"


def _txt_chunks(value: str) -> list[str]:
    """Split a TXT value into <=255-byte character-strings (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2)."""
    raw = value.encode("utf-8")
    if not raw:
        return [""]
    chunks: list[str] = []
    while raw:
        cut = min(255, len(raw))
        # Never split a UTF-8 sequence: back off to a character boundary.
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:
            cut -= 1
        chunks.append(raw[:cut].decode("utf-8"))
        raw = raw[cut:]
    return chunks


def _quote_txt_chunk(chunk: str) -> str:
    return '"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Remediation:
    """What to do: a summary, the exact records to publish, and any dashboard steps."""

    summary: str
    records: tuple[DnsRecord, ...] = ()
    steps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """A checkable source for a rule: an RFC section or a provider document."""

    title: str
    url: str | None = None
    rfc: int | None = None
    section: str | None = None

    @property
    def link(self) -> str | None:
        if self.url:
            return self.url
        if self.rfc is not None:
            anchor = f"#section-{self.section}" if self.section else ""
            return f"https://www.rfc-editor.org/rfc/rfc{self.rfc}{anchor}"
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule applied to one domain (or one DKIM selector of it)."""

    rule_id: str
    rule_name: str
    title: str
    severity: Severity
    category: str
    status: Status
    subject: str
    message: str
    evidence: dict[str, str] = field(default_factory=dict)
    remediation: Remediation | None = None
    references: tuple[Reference, ...] = ()
    reason: str | None = None
    """Why the status is `unknown` or `skipped` (the failed fact, or the rule error)."""

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

"""What the provider's own account says about a domain, and how that compares with DNS.

DNS alone tells us that *a* DKIM key or *an* SPF include is published; only the provider's account
knows which values it actually expects (its selector, the key it signs with, the region the domain
lives in, whether the domain is a sandbox or disabled). These types carry that answer, and the
value-by-value comparison with what DNS serves, as pure data. The API key used to ask is never part
of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RecordPurpose = Literal["sending", "receiving"]


@dataclass(frozen=True, slots=True)
class ExpectedRecord:
    """One DNS record the provider expects (Mailgun's `sending_dns_records[]`/`receiving_dns_records[]`).

    Values are kept as the provider wrote them, so a report can show them verbatim; the comparison
    normalises case and trailing dots itself. `provider_valid` is the provider's own verdict,
    lower-cased because Mailgun sends both `valid` and `VALID` (provider-facts §1.4). `cached` is what
    the provider last saw in DNS, which can lag behind what DNS serves now.
    """

    purpose: RecordPurpose
    record_type: str
    name: str
    value: str
    priority: int | None
    provider_valid: str | None
    cached: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """The provider's domains API answer for one domain (or that no region knows it).

    `region_queried` is the region asked first (the declared or detected one); `region_found` is the
    region whose API knew the domain, so a difference between the two is a region mismatch the
    rules can report. `api_base` is the base URL whose answer these facts describe. When `found` is
    false, every field about the domain is empty and `detail` says which regions were asked.
    """

    provider: str
    region_queried: str
    api_base: str
    found: bool
    region_found: str | None
    state: str | None
    is_disabled: bool
    domain_type: str | None
    smtp_login: str | None
    web_prefix: str | None
    expected: tuple[ExpectedRecord, ...]
    http_status: int | None
    detail: str

    @property
    def is_sandbox(self) -> bool:
        return self.domain_type == "sandbox"


@dataclass(frozen=True, slots=True)
class RecordComparison:
    """One expected record next to what DNS serves at its name.

    `matches` is true only when DNS serves what the provider expects. A record that could not be
    compared (its name was not collected, or its lookup failed) has `matches=False` and a `note`
    starting with `NOT_COLLECTED` or `LOOKUP_FAILED`, so a caller can fetch it, and a rule can
    tell "different" from "unknown".
    """

    record: ExpectedRecord
    dns_values: tuple[str, ...]
    matches: bool
    note: str

    @property
    def compared(self) -> bool:
        """False when DNS was not (successfully) consulted, so `matches` says nothing."""
        return not self.note.startswith((NOT_COLLECTED, LOOKUP_FAILED))


NOT_COLLECTED = "not collected"
"""Note prefix: the record's name/type was not among the DNS facts collected for the domain."""

LOOKUP_FAILED = "lookup failed"
"""Note prefix: the DNS facts for the record's name are a `Failure`."""

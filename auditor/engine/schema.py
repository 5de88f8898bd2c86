"""The rule file format (`sendready.rules/v1`), as pydantic models; the JSON Schema comes from here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RULES_SCHEMA = "sendready.rules/v1"

FACT_AREAS = (
    "dns.txt",
    "dns.spf",
    "dns.spf_tree",
    "dns.spf_check",
    "dns.dkim",
    "dns.mx",
    "dns.dmarc",
    "dns.tracking",
    "dns.return_path",
    "dns.mta_sts",
    "dns.tlsrpt",
    "dns.bimi",
    "dns.dnssec",
    "region",
    "smtp.submission",
    "account",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordSpec(_Strict):
    """A record to publish; each field is a template rendered from the facts."""

    type: Literal["TXT", "CNAME", "MX", "A", "AAAA"]
    name: str = Field(description="Owner name template, e.g. '{{ domain }}'.")
    value: str = Field(description="Record data template, e.g. '{{ provider.tracking_target }}'.")
    priority: str | int | None = Field(default=None, description="MX preference (template).")
    each: str | None = Field(
        default=None,
        description="Expression yielding a list: one record per item, bound to `item`.",
    )


class RemediationSpec(_Strict):
    summary: str = Field(min_length=1)
    records: list[RecordSpec] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)


class ReferenceSpec(_Strict):
    title: str = Field(min_length=1)
    url: str | None = Field(default=None, pattern=r"^https://")
    rfc: int | None = Field(default=None, ge=1)
    section: str | None = None

    @model_validator(mode="after")
    def _url_or_rfc(self) -> ReferenceSpec:
        if (self.url is None) == (self.rfc is None):
            raise ValueError("give exactly one of url or rfc")
        return self


class AppliesTo(_Strict):
    providers: list[str] = Field(default_factory=list, description="Empty: every provider.")
    regions: list[str] = Field(default_factory=list, description="Empty: every region.")


class RuleSpec(_Strict):
    """One rule. `condition` true means the problem is present (status `fail`)."""

    id: str = Field(pattern=r"^[A-Z]+[0-9]{3}$", description="Stable code, never reused.")
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: str = Field(min_length=5, max_length=100)
    severity: Literal["critical", "error", "warning", "info"]
    category: Literal[
        "spf", "dkim", "dmarc", "mx", "tracking", "return_path", "region", "dns", "smtp", "account"
    ]
    scope: Literal["domain", "dkim_selector"] = "domain"
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    requires: list[Literal[FACT_AREAS]] = Field(default_factory=list)  # type: ignore[valid-type]
    when: str | None = Field(default=None, description="Precondition; false gives `skipped`.")
    condition: str = Field(min_length=1)
    message: str = Field(min_length=1)
    pass_message: str | None = None
    rationale: str = Field(min_length=1)
    evidence: dict[str, str] = Field(default_factory=dict)
    remediation: RemediationSpec
    references: list[ReferenceSpec] = Field(min_length=1)
    verifies: Literal["spf", "dkim", "mx", "tracking", "return_path", "ownership", "dmarc"] | None = Field(
        default=None,
        description="The provider-checked record this rule is part of (verification status).",
    )
    since: str = "0.1"
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _title_style(self) -> RuleSpec:
        if self.title.lower().startswith("ensure"):
            raise ValueError("title states the problem; do not start it with 'Ensure'")
        return self


class RuleFile(_Strict):
    schema_: Literal["sendready.rules/v1"] = Field(alias="schema")
    rules: list[RuleSpec] = Field(min_length=1)

"""The inventory file format, validated by pydantic (unknown keys and wrong types are errors)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from auditor.names import normalise_domain, normalise_selector

_SECRET_REF = re.compile(r"^(env|file):.+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


SecretText = Annotated[str, StringConstraints(min_length=5)]
# Provider and region names are checked against the provider catalogue by the loader (the
# catalogue, not this schema, says which exist), so here they are only well-formed words.
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
RegionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]*$")]
ProfileName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
"""A compliance profile (`rules/profiles/<name>.yaml`); the CLI checks that it exists."""


class SmtpSpec(_Strict):
    """Credentials by reference only: a literal password is refused, never echoed."""

    username: str
    password: SecretText
    from_address: str | None = Field(default=None, alias="from")
    recipient: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    tls_name: str | None = None

    @field_validator("password")
    @classmethod
    def _reference_only(cls, value: str) -> str:
        if not _SECRET_REF.match(value):
            # The value itself is never repeated: it may be a real secret pasted by mistake.
            raise ValueError("must be a reference such as env:NAME or file:PATH, not a literal")
        return value


class DomainSpec(_Strict):
    """One `domains:` entry. Fields left out come from `defaults:`."""

    name: str
    provider: ProviderName | None = None
    region: RegionName | None = None
    dkim_selectors: list[str] | None = None
    receiving: bool | None = None
    tracking: bool | None = None
    return_path_host: str | None = None
    """The return-path / bounce host, relative to the domain (`em1234`) or in full."""
    tracking_host: str | None = None
    """The click-tracking host, relative to the domain (`links`) or in full."""
    smtp: SmtpSpec | None = None
    labels: dict[str, str] | None = None
    profiles: list[ProfileName] | None = None
    """Compliance profiles for this domain (`[parked]`); replaces `defaults.profiles`."""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return normalise_domain(value)

    @field_validator("return_path_host", "tracking_host")
    @classmethod
    def _valid_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Checked as a name here; the loader places it under the domain.
        normalise_domain(value if "." in value.strip(".") else f"{value}.example")
        return value.strip().strip(".").lower()

    @field_validator("dkim_selectors")
    @classmethod
    def _valid_selectors(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [normalise_selector(s) for s in value]


class DefaultsSpec(_Strict):
    """Values every domain inherits unless it sets its own."""

    provider: ProviderName = "mailgun"
    region: RegionName = "auto"
    dkim_selectors: list[str] = Field(default_factory=list)
    receiving: bool | None = None
    """None: what the provider does (Mailgun, Google, Microsoft 365 and Zoho receive mail)."""
    tracking: bool | None = None
    """None: what the provider does (Mailgun's `email.<domain>` tracking CNAME)."""
    labels: dict[str, str] = Field(default_factory=dict)
    profiles: list[ProfileName] = Field(default_factory=list)

    @field_validator("dkim_selectors")
    @classmethod
    def _valid_selectors(cls, value: list[str]) -> list[str]:
        return [normalise_selector(s) for s in value]


class InventorySpec(_Strict):
    """The whole file: optional `version`, optional `defaults`, a non-empty `domains` list."""

    version: Literal[1] = 1
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    domains: list[DomainSpec] = Field(min_length=1)

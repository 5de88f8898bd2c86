"""What the user asked us to audit: one `DomainTarget` per sending domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Region(StrEnum):
    """Mailgun's two regions and `auto` (detect the region from DNS).

    Other providers name their own regions and data centres in the catalogue (`eu-west-1`,
    `global`, ...): a `DomainTarget.region` is any of those names or `auto`, as plain text.
    """

    US = "us"
    EU = "eu"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives (`env:NAME` or `file:PATH`), never the secret itself.

    Only the SMTP collector resolves a reference, at the last moment; everything else (reports,
    logs, facts) sees this reference and nothing more.
    """

    scheme: str
    location: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.location}"

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """`env:NAME` or `file:PATH`; anything else (a literal secret, say) is a `ValueError`
        whose message never repeats the text."""
        scheme, colon, location = text.partition(":")
        if not colon or scheme not in ("env", "file") or not location:
            raise ValueError("must be a reference such as env:NAME or file:PATH, not a literal")
        return cls(scheme, location)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to probe the provider's submission service for this domain (issue: SMTP probe)."""

    username: str
    password: SecretRef
    from_address: str | None = None
    recipient: str | None = None
    host: str | None = None
    port: int | None = None
    tls_name: str | None = None
    """Certificate name to verify when `host` is an address (private relays, tests)."""


@dataclass(frozen=True, slots=True)
class DomainTarget:
    """One sending domain to audit, normalised (IDNA A-label, lower case, no trailing dot)."""

    name: str
    provider: str = "mailgun"
    region: str = Region.AUTO
    """A region name from the provider catalogue, or `auto`."""
    dkim_selectors: tuple[str, ...] = ()
    receiving: bool = True
    tracking: bool = True
    smtp: SmtpSettings | None = None
    return_path_host: str | None = None
    """The return-path / bounce host (`em1234.<domain>`), when the inventory names it."""
    tracking_host: str | None = None
    """The click-tracking host (`links.<domain>`), when the inventory names it."""
    labels: tuple[tuple[str, str], ...] = ()
    origin: str | None = field(default=None, compare=False)
    """Where the target was declared (`inventory.yaml:12`), for error messages and reports."""
    profiles: tuple[str, ...] = ()
    """Compliance profiles whose rules apply to this domain (inventory `profiles:` plus `--profile`)."""

"""DMARC facts beyond the record itself: report destinations and their authorisation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReportDestination:
    """One `rua`/`ruf` mailto destination and whether it accepts reports (RFC 7489 §7.1).

    `authorised` is True for a destination in the policy domain's own organisational domain (no
    check needed) or one that publishes `v=DMARC1` at `authorisation_name` (directly or through a
    wildcard the DNS server expands); False when that name has no such record; None when the
    lookup failed (`detail` says why): "could not verify", never "not authorised".
    """

    tag: str
    uri: str
    domain: str
    external: bool
    authorisation_name: str | None
    authorised: bool | None
    detail: str | None = None

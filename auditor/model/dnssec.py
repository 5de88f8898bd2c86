"""DNSSEC facts about a domain's zone: validated from the trust anchor down, never from an AD bit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DnssecStatus(StrEnum):
    """RFC 4033 §5 states. "Indeterminate" (a lookup failed) is a `Failure`, not a status."""

    SECURE = "secure"
    INSECURE = "insecure"
    BOGUS = "bogus"


@dataclass(frozen=True, slots=True)
class ZoneLink:
    """One zone of the chain, from the trust anchor down, and how it was reached."""

    zone: str
    status: DnssecStatus
    detail: str = ""
    """How the link holds ("DS 12345 matches", "no DS (NSEC proof)") or why it breaks."""


@dataclass(frozen=True, slots=True)
class DnssecFacts:
    """The domain's DNSSEC status.

    `zone` is the zone the domain's data lives in (its apex, found from the SOA). `chain` lists
    the zones from the anchor (the root) down to it. `ends_at` is, for an insecure domain, the last
    signed zone: the one that proves (NSEC/NSEC3) that its child has no DS. `reason` says why a
    bogus chain broke, or where an insecure one ends.
    """

    status: DnssecStatus
    zone: str
    chain: tuple[ZoneLink, ...]
    reason: str | None = None
    ends_at: str | None = None

"""Rule helpers for the mail-domain areas (MTA-STS MX patterns); pure functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from auditor.protocol.mta_sts import unmatched_hosts


def _mta_sts_unmatched(patterns: Iterable[str], hosts: Iterable[str]) -> list[str]:
    """MX hosts that no policy `mx` pattern covers (RFC 8461 §4.1)."""
    return unmatched_hosts(list(patterns), list(hosts))


MAIL_DOMAIN_HELPERS: dict[str, Callable[..., Any]] = {
    "mta_sts_unmatched": _mta_sts_unmatched,
}

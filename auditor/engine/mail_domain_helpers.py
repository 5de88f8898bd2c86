"""Rule helpers for the mail-domain areas (MTA-STS MX patterns, tag lookups); pure functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from auditor.protocol.mta_sts import unmatched_hosts


def _mta_sts_unmatched(patterns: Iterable[str], hosts: Iterable[str]) -> list[str]:
    """MX hosts that no policy `mx` pattern covers (RFC 8461 §4.1)."""
    return unmatched_hosts(list(patterns), list(hosts))


def _tag(tags: Iterable[tuple[str, str]], name: str, default: str | None = None) -> str | None:
    """The value of tag `name` in a (name, value) list such as `dmarc.tags`, else `default`."""
    return next((value for key, value in tags if key == name), default)


MAIL_DOMAIN_HELPERS: dict[str, Callable[..., Any]] = {
    "mta_sts_unmatched": _mta_sts_unmatched,
    "tag_value": _tag,
}

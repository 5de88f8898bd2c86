"""Helpers the compliance profiles' conditions call (rule expressions may call only helpers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def dmarc_tag(dmarc: Any, name: str, default: str | None = None) -> str | None:
    """The value of DMARC tag `name` (lower-cased), else `default` (`dmarc_tag(dmarc, 'sp', dmarc.policy)`).

    RFC 7489 §6.3 defaults: sp to p; np (RFC 9091) to sp. The caller passes the default so the
    rule states it.
    """
    for tag, value in getattr(dmarc, "tags", ()) or ():
        if tag.lower() == name.lower():
            return str(value).strip().lower()
    return default


PROFILE_HELPERS: dict[str, Callable[..., Any]] = {"dmarc_tag": dmarc_tag}

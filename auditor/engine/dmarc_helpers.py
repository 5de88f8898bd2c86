"""Rule helpers for DMARC remediation and conditions (registered in `expressions.HELPERS`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditor.protocol.dmarc import repaired, with_tag
from auditor.protocol.psl import registrable_domain


def _is_public_suffix(domain: str) -> bool:
    """RFC 9989 §3.2.9: a PSD DMARC record belongs to a public suffix (no registrable domain)."""
    return registrable_domain(domain) is None


DMARC_HELPERS: dict[str, Callable[..., Any]] = {
    "dmarc_with": with_tag,
    "dmarc_repaired": repaired,
    "is_public_suffix": _is_public_suffix,
}

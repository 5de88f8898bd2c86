"""Registrable and organisational domains from the Public Suffix List (RFC 7489 §3.2).

The list is the snapshot bundled with the `publicsuffixlist` package (the one checkdmarc uses), so
lookups never touch the network. checkdmarc's own `get_base_domain()` answers a name that is itself
a public suffix (`com`, `co.uk`, `test.ck`) or starts with a dot with the name unchanged, which is
not an organisational domain; 25 of the 78 PSL test cases fail through it. This module asks the list
directly and says "none" in those cases (all 78 pass, see docs/standards-conformance.md).
"""

from __future__ import annotations

from functools import cache

from publicsuffixlist import PublicSuffixList


@cache
def _suffix_list() -> PublicSuffixList:
    """The bundled list, parsed once per process (both ICANN and private sections, as checkdmarc)."""
    return PublicSuffixList()


def registrable_domain(name: str) -> str | None:
    """The public suffix plus one label (eTLD+1), lower-cased; None when there is none.

    None for a public suffix itself, an unlisted single label, an empty label (a leading dot or
    `a..b`) or an empty name. A single trailing dot (absolute name) is ignored. Unicode and
    punycode names are answered in the form they were given.
    """
    text = name[:-1] if name.endswith(".") else name
    if not text or "" in text.split("."):
        return None
    found = _suffix_list().privatesuffix(text.lower())
    return found if isinstance(found, str) else None


def organisational_domain(domain: str) -> str:
    """RFC 7489 §3.2 organisational domain; a name with none (a public suffix) is its own.

    Returning the name itself for a public suffix means the DMARC fallback lookup is skipped:
    there is no organisational domain above it to inherit a policy from.
    """
    return registrable_domain(domain) or domain.rstrip(".").lower()

"""Domain-name normalisation (IDNA 2008 via the `idna` package, with UTS #46 mapping)."""

from __future__ import annotations

import idna

_MAX_NAME = 253


def normalise_domain(raw: str) -> str:
    """Return the lower-case A-label form of `raw`, without a trailing dot.

    Raises ValueError with a short reason when `raw` is not a usable host name.
    """
    name = raw.strip().rstrip(".")
    if not name:
        raise ValueError("empty domain name")
    if any(c.isspace() for c in name):
        raise ValueError(f"{raw!r} contains white space")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{raw!r} is not a valid domain name ({exc})") from None
    ascii_name = ascii_name.lower()
    if len(ascii_name) > _MAX_NAME:
        raise ValueError(f"{raw!r} is longer than {_MAX_NAME} characters")
    if "." not in ascii_name:
        raise ValueError(f"{raw!r} is not a fully qualified domain name")
    for label in ascii_name.split("."):
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            raise ValueError(f"{raw!r} has an invalid label {label!r}")
        if not all(c.isalnum() or c in "-_" for c in label):
            raise ValueError(f"{raw!r} has an invalid label {label!r}")
    return ascii_name


def normalise_selector(raw: str) -> str:
    """A DKIM selector is one or more labels (RFC 6376 §3.1), compared case-insensitively."""
    selector = raw.strip().strip(".").lower()
    if not selector:
        raise ValueError("empty DKIM selector")
    for label in selector.split("."):
        if not label or len(label) > 63 or not all(c.isalnum() or c in "-_" for c in label):
            raise ValueError(f"{raw!r} is not a valid DKIM selector")
    return selector

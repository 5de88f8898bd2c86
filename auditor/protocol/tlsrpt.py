"""SMTP TLS Reporting (RFC 8460 §3): the `_smtp._tls` TXT record, parsed without I/O.

Grammar (§3): `v=TLSRPTv1` first (case-sensitive), then `;`-separated fields; `rua` is required
and holds one or more comma-separated URIs, each `mailto:` (an address) or `https:` (a URL);
extension fields are allowed. Records not starting with `v=TLSRPTv1` are ignored, and if more
than one record remains, senders report nowhere (§3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_ADDRESS = re.compile(r"[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+\Z")


@dataclass(frozen=True, slots=True)
class TlsRptRecord:
    """One `v=TLSRPTv1` record: its report URIs and what is wrong with it (empty: valid)."""

    text: str
    rua: tuple[str, ...]
    errors: tuple[str, ...]


def is_tlsrpt_record(text: str) -> bool:
    """True for the TXT records §3 considers (the rest are ignored)."""
    return text.startswith("v=TLSRPTv1")


def parse_tlsrpt_record(text: str) -> TlsRptRecord:
    """Check one record: version first, exactly one `rua` with valid mailto:/https: URIs."""
    errors: list[str] = []
    fields = [f.strip(" \t") for f in text.split(";")]
    if fields and fields[-1] == "":
        fields.pop()
    if not fields or fields[0] != "v=TLSRPTv1":
        errors.append("the record must start with 'v=TLSRPTv1;'")
    rua: list[str] = []
    seen_rua = False
    for field in fields[1:]:
        name, equals, value = field.partition("=")
        name, value = name.strip(), value.strip()
        if not equals:
            errors.append(f"field {field!r} is not name=value")
        elif name == "rua":
            if seen_rua:
                errors.append("'rua' appears more than once")
                continue
            seen_rua = True
            for uri in (u.strip() for u in value.split(",")):
                problem = rua_error(uri)
                if problem:
                    errors.append(problem)
                else:
                    rua.append(uri)
        elif not _EXT_NAME.match(name):
            errors.append(f"field {field!r} is not a valid extension field")
    if not seen_rua:
        errors.append("the record has no 'rua' (where reports go)")
    return TlsRptRecord(text, tuple(rua), tuple(errors))


def rua_error(uri: str) -> str | None:
    """Why `uri` is not a usable `mailto:` address or `https:` URL (§3), or None."""
    if not uri:
        return "an empty rua URI"
    scheme, colon, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "mailto" and colon:
        address = unquote(rest.split("?", 1)[0])
        if _ADDRESS.match(address):
            return None
        return f"rua {uri!r} is not mailto: followed by an e-mail address"
    if scheme == "https" and colon:
        parts = urlsplit(uri)
        if parts.hostname and "." in parts.hostname:
            return None
        return f"rua {uri!r} is not an https:// URL with a host name"
    return f"rua {uri!r} must be a mailto: or https: URI"

"""BIMI assertion records (draft-brand-indicators-for-message-identification §4.2), syntax only.

The record at `default._bimi.<domain>` is `v=BIMI1` (first), then `l=` (the logo: an https URL of
an SVG Tiny PS file) and `a=` (the authority evidence: an https URL of a PEM file holding a Verified
Mark Certificate). Either may be empty: `v=BIMI1; l=; a=;` declares that the domain does not take
part (a declination record). Nothing is fetched here; receivers also require the DMARC policy
to be enforcing, which a rule checks from the DMARC facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class BimiRecord:
    """One `v=BIMI1` record: logo URL, evidence URL, declination, and syntax errors (empty: valid)."""

    text: str
    logo_url: str | None
    authority_url: str | None
    declined: bool
    errors: tuple[str, ...]


def is_bimi_record(text: str) -> bool:
    """True for the TXT records a receiver considers (those starting with `v=BIMI1`)."""
    return text.replace(" ", "").startswith("v=BIMI1")


def parse_bimi_record(text: str) -> BimiRecord:
    """Check version, `l=` (https, .svg) and `a=` (https, .pem)."""
    errors: list[str] = []
    fields = [f.strip(" \t") for f in text.split(";")]
    if fields and fields[-1] == "":
        fields.pop()
    if not fields or fields[0].replace(" ", "") != "v=BIMI1":
        errors.append("the record must start with 'v=BIMI1;'")
    tags: dict[str, str] = {}
    for field in fields[1:]:
        name, equals, value = field.partition("=")
        name, value = name.strip(), value.strip()
        if not equals:
            errors.append(f"field {field!r} is not tag=value")
        elif name in tags:
            errors.append(f"tag {name!r} appears more than once")
        else:
            tags[name] = value
    if "l" not in tags:
        errors.append("the record has no 'l=' tag (logo location)")
    logo = tags.get("l") or None
    authority = tags.get("a") or None
    if logo is not None:
        errors.extend(_url_errors("l", logo, ".svg", "an SVG logo"))
    if authority is not None:
        errors.extend(_url_errors("a", authority, ".pem", "a PEM certificate (VMC)"))
    declined = "l" in tags and logo is None and authority is None
    return BimiRecord(text, logo, authority, declined, tuple(errors))


def _url_errors(tag: str, url: str, suffix: str, what: str) -> list[str]:
    if "," in url:
        return [f"{tag}= holds several URLs; BIMI1 allows one"]
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        return [f"{tag}={url} is not an https:// URL"]
    if not parts.path.lower().endswith(suffix):
        return [f"{tag}={url} does not name {what} ({suffix})"]
    return []

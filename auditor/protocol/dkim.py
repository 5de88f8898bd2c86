"""DKIM key records (RFC 6376 §3.2 and §3.6.1, RFC 8301, RFC 8463 for Ed25519), parsed without I/O.

The parser decides what a verifier would do with the record: whether a signature could be checked
against it at all (`error` is None), and if so with which key. Tag names and values are
case-sensitive (§3.2), as in dkimpy and mox, so `v=dkim1` and `k=RSA` are not accepted. Unknown tags
are ignored (§3.2), which is why `V=DKIM2; p=` is a valid, revoked record. Two leniencies, both shared
with dkimpy: whitespace around the whole record and one trailing `;` are accepted.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

KEY_TYPES = ("rsa", "ed25519")
"""Key types a verifier knows (RFC 6376 §3.6.1, RFC 8463 §4); any other `k=` is unusable."""

HASH_ALGORITHMS = ("sha1", "sha256")
"""Hash algorithms `h=` may name (RFC 6376 §3.6.1); RFC 8301 §3.1 forbids verifying with sha1."""

EMAIL_SERVICE_TYPES = ("email", "*")
"""`s=` values under which the key may verify mail (RFC 6376 §3.6.1)."""

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_WSP = " \t\r\n"  # WSP and the CRLF of FWS (§2.8); TXT strings should not hold CRLF but may
_VALCHAR_OR_WSP = re.compile(r"[\x21-\x3a\x3c-\x7e \t\r\n]*\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


@dataclass(frozen=True, slots=True)
class DkimKey:
    """What a key record says. `error` is set when the record cannot be used to verify mail.

    The optional tags are exposed even when `error` is set, so a report can show them:
    `hash_algorithms` and `service_types` are empty when the tag is absent (meaning "any").
    """

    tags: tuple[tuple[str, str], ...]
    key_type: str | None
    bits: int | None
    revoked: bool
    error: str | None
    hash_algorithms: tuple[str, ...] = ()
    service_types: tuple[str, ...] = ()
    testing: bool = False
    strict: bool = False
    notes: str | None = None


def looks_like_dkim(text: str) -> bool:
    """A TXT string that is meant as a DKIM key record (has `v=DKIM1` or a `p=` tag)."""
    lowered = text.replace(" ", "").lower()
    return lowered.startswith("v=dkim1") or "p=" in lowered


def parse_tag_list(text: str) -> tuple[list[tuple[str, str]], str | None]:
    """RFC 6376 §3.2 tag=value list. Returns the tags and the first syntax problem, if any.

    Values keep their inner whitespace (a single-token tag such as `k=` must not contain any);
    whitespace around names and values is dropped. An empty tag-spec is allowed only after the
    last `;`.
    """
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    specs = text.strip(_WSP).split(";")
    if specs and specs[-1].strip(_WSP) == "":
        specs.pop()
    if not specs:
        return tags, "empty record"
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip(_WSP)
        if not sep:
            return tags, f"malformed tag {spec.strip(_WSP)!r} (no '=')"
        if not _TAG_NAME.match(name):
            return tags, f"malformed tag name {name!r}"
        if not _VALCHAR_OR_WSP.match(value):
            return tags, f"tag {name}= holds a character not allowed in a tag value"
        if name in seen:
            return tags, f"duplicate tag {name!r}"
        seen.add(name)
        tags.append((name, value.strip(_WSP)))
    return tags, None


def _colon_list(value: str) -> tuple[str, ...]:
    """A `:`-separated list with optional whitespace around the colons (`h=`, `s=`, `t=`)."""
    return tuple(item.strip(_WSP) for item in value.split(":"))


def _decode_rsa(raw: bytes) -> rsa.RSAPublicKey | str:
    """An RSA key from DER: SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey as dkimpy accepts.

    `load_der_public_key` tries SubjectPublicKeyInfo first and falls back to PKCS#1 RSAPublicKey.
    """
    try:
        key = load_der_public_key(raw)
    except (ValueError, TypeError):
        return "p= does not decode to an RSA public key (truncated?)"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "p= holds an Ed25519 key although k=rsa"
    if not isinstance(key, rsa.RSAPublicKey):
        return "p= holds a key that is not RSA although k=rsa"
    return key


def parse_dkim_key(text: str) -> DkimKey:
    """Parse a key record; any reason it could not verify an email signature goes in `error`."""
    tags, problem = parse_tag_list(text)
    found = dict(tags)
    key_type = found.get("k", "rsa")
    hashes = _colon_list(found["h"]) if "h" in found else ()
    services = _colon_list(found["s"]) if "s" in found else ()
    flags = _colon_list(found["t"]) if "t" in found else ()
    parsed = {
        "hash_algorithms": hashes,
        "service_types": services,
        "testing": "y" in flags,
        "strict": "s" in flags,
        "notes": found.get("n"),
    }

    def broken(reason: str) -> DkimKey:
        return DkimKey(tuple(tags), key_type, None, False, reason, **parsed)

    if problem:
        return broken(problem)
    if "v" in found and (tags[0][0] != "v" or found["v"] != "DKIM1"):
        return broken("v= must be DKIM1 and the first tag")
    if "p" not in found:
        return broken("no p= tag (public key)")
    if "h" in found and "" in hashes:
        return broken("h= has an empty hash algorithm")
    if "s" in found and "" in services:
        return broken("s= has an empty service type")
    if services and not set(services) & set(EMAIL_SERVICE_TYPES):
        return broken(f"s={':'.join(services)} restricts the key to other services than email")
    encoded = "".join(found["p"].split())  # FWS is allowed inside base64 (§3.6.1 key-p-tag)
    if encoded == "":
        return DkimKey(tuple(tags), key_type, None, True, None, **parsed)
    if key_type not in KEY_TYPES:
        return broken(f"unknown key type k={key_type}")
    if not _BASE64.match(encoded):
        return broken("p= is not valid base64 (truncated or pasted with stray characters)")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return broken("p= is not valid base64 (truncated or pasted with stray characters)")
    if key_type == "ed25519":
        if len(raw) != 32:
            return broken(f"Ed25519 key must be 32 raw bytes (RFC 8463 §4), found {len(raw)}")
        return DkimKey(tuple(tags), key_type, 256, False, None, **parsed)
    key = _decode_rsa(raw)
    if isinstance(key, str):
        return broken(key)
    return DkimKey(tuple(tags), key_type, key.key_size, False, None, **parsed)

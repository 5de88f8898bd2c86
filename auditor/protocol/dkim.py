"""DKIM key records (RFC 6376 §3.6.1, RFC 8463 for Ed25519), parsed without I/O."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key


@dataclass(frozen=True, slots=True)
class DkimKey:
    """What a key record says. `error` is set when the record cannot be used to verify mail."""

    tags: tuple[tuple[str, str], ...]
    key_type: str | None
    bits: int | None
    revoked: bool
    error: str | None


def looks_like_dkim(text: str) -> bool:
    """A TXT string that is meant as a DKIM key record (has `v=DKIM1` or a `p=` tag)."""
    lowered = text.replace(" ", "").lower()
    return lowered.startswith("v=dkim1") or "p=" in lowered


def parse_tag_list(text: str) -> tuple[list[tuple[str, str]], str | None]:
    """RFC 6376 §3.2 tag=value list. Returns the tags and the first syntax problem, if any."""
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            return tags, f"malformed tag {part.strip()!r}"
        if name in seen:
            return tags, f"duplicate tag {name!r}"
        seen.add(name)
        tags.append((name, "".join(value.split())))
    return tags, None


def parse_dkim_key(text: str) -> DkimKey:
    """Parse a key record; any reason it could not verify a signature goes in `error`."""
    tags, problem = parse_tag_list(text)
    found = dict(tags)
    key_type = found.get("k", "rsa").lower()

    def broken(reason: str) -> DkimKey:
        return DkimKey(tuple(tags), key_type, None, False, reason)

    if problem:
        return broken(problem)
    if "v" in found and (tags[0][0] != "v" or found["v"] != "DKIM1"):
        return broken("v= must be DKIM1 and the first tag")
    if "p" not in found:
        return broken("no p= tag (public key)")
    if found["p"] == "":
        return DkimKey(tuple(tags), key_type, None, True, None)
    try:
        raw = base64.b64decode(found["p"], validate=True)
    except (binascii.Error, ValueError):
        return broken("p= is not valid base64 (truncated or pasted with stray characters)")
    if key_type == "ed25519":
        if len(raw) != 32:
            return broken(f"Ed25519 key must be 32 bytes, found {len(raw)}")
        return DkimKey(tuple(tags), key_type, 256, False, None)
    if key_type != "rsa":
        return broken(f"unknown key type k={key_type}")
    try:
        key = load_der_public_key(raw)
    except (ValueError, TypeError):
        return broken("p= does not decode to an RSA public key (truncated?)")
    if not isinstance(key, rsa.RSAPublicKey):
        return broken("p= holds a key that is not RSA although k=rsa")
    return DkimKey(tuple(tags), key_type, key.key_size, False, None)

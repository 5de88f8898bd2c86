"""MTA-STS (RFC 8461): the `_mta-sts` TXT record, the HTTPS policy file, and MX pattern matching.

Pure functions over text already fetched; the collector (`auditor.collect.mta_sts_fetch`) does the
I/O. What a sender does with each defect decides what counts as an error here:

* TXT (§3.1): records not starting with `v=STSv1` are discarded; if the number left is not one,
  or the one is invalid, senders assume the domain has no MTA-STS. `v=` and `STSv1` are
  case-sensitive, `id` is 1-32 letters or digits, extension fields are allowed.
* Policy (§3.2): `key: value` lines ending in LF or CRLF; `version: STSv1`, `mode` (enforce,
  testing, none) and `max_age` (0-31557600 seconds) must be present, `mx` at least once unless the
  mode is `none`; unknown keys are ignored. A policy that fails these is not applied.
* MX patterns (§4.1): a pattern is a host name or `*.` plus one; the wildcard stands for exactly
  one leftmost label (`*.example.com` matches `mx1.example.com`, not `example.com` nor
  `a.b.example.com`). Case and a trailing dot do not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STS_VERSION = "STSv1"
MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31_557_600
"""One year, the largest `max_age` a policy may state (§3.2)."""

_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_DIGITS = re.compile(r"[0-9]{1,10}\Z")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


@dataclass(frozen=True, slots=True)
class StsRecord:
    """One `v=STSv1` TXT record: its `id`, and why a sender would reject it (empty: valid)."""

    text: str
    policy_id: str | None
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StsPolicy:
    """A parsed policy file; `errors` non-empty means senders do not apply it."""

    version: str | None
    mode: str | None
    max_age: int | None
    mx: tuple[str, ...]
    errors: tuple[str, ...]


def is_sts_record(text: str) -> bool:
    """True for TXT records senders consider at all (§3.1: the rest are discarded)."""
    return text.startswith("v=STSv1")


def parse_sts_record(text: str) -> StsRecord:
    """Check one record against the §3.1 grammar (`v=STSv1; id=...`, extension fields allowed)."""
    errors: list[str] = []
    fields = [f.strip(" \t") for f in text.split(";")]
    if fields and fields[-1] == "":
        fields.pop()  # one trailing ';' is allowed
    if not fields or fields[0] != "v=STSv1":
        errors.append("the record must start with 'v=STSv1;'")
    policy_id: str | None = None
    ids_seen = 0
    for field in fields[1:]:
        name, equals, value = field.partition("=")
        if not equals:
            errors.append(f"field {field!r} is not name=value")
        elif name == "id":
            ids_seen += 1
            if ids_seen > 1:
                errors.append("'id' appears more than once")
            elif not _ID.match(value):
                errors.append(f"id {value!r} must be 1 to 32 letters or digits")
            else:
                policy_id = value
        elif not _EXT_NAME.match(name) or not _EXT_VALUE.match(value):
            errors.append(f"field {field!r} is not a valid extension field")
    if not ids_seen:
        errors.append("the record has no 'id' field")
    return StsRecord(text, policy_id, tuple(errors))


def parse_policy(text: str) -> StsPolicy:
    """Parse a policy body (already decoded). The first of a repeated key wins, except `mx`."""
    values: dict[str, str] = {}
    mx: list[str] = []
    errors: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not colon or not key:
            errors.append(f"line {number}: {line[:60]!r} is not 'key: value'")
            continue
        if key == "mx":
            mx.append(value)
        else:
            values.setdefault(key, value)
    version = values.get("version")
    if version != STS_VERSION:
        errors.append(
            "'version: STSv1' is missing" if version is None else f"version {version!r} is not STSv1"
        )
    mode = values.get("mode")
    if mode not in MODES:
        errors.append(
            "'mode' is missing" if mode is None else f"mode {mode!r} is not enforce, testing or none"
        )
    max_age: int | None = None
    age_text = values.get("max_age")
    if age_text is None:
        errors.append("'max_age' is missing")
    elif not _DIGITS.match(age_text) or int(age_text) > MAX_AGE_LIMIT:
        errors.append(f"max_age {age_text!r} is not a whole number of seconds from 0 to {MAX_AGE_LIMIT}")
    else:
        max_age = int(age_text)
    for pattern in mx:
        problem = mx_pattern_error(pattern)
        if problem:
            errors.append(problem)
    if not mx and mode in ("enforce", "testing"):
        errors.append(f"mode {mode} needs at least one 'mx' line")
    return StsPolicy(version, mode if mode in MODES else None, max_age, tuple(mx), tuple(errors))


def mx_pattern_error(pattern: str) -> str | None:
    """Why `pattern` is not `[*.]host-name` (§3.2), or None."""
    host = pattern.lower().rstrip(".")
    host = host.removeprefix("*.")
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"mx pattern {pattern!r} is not a host name or '*.' followed by one"
    return None


def mx_matches(pattern: str, host: str) -> bool:
    """Does MX host `host` match policy pattern `pattern` (§4.1; the wildcard is one label)?"""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern


def unmatched_hosts(patterns: tuple[str, ...] | list[str], hosts: tuple[str, ...] | list[str]) -> list[str]:
    """The MX hosts no pattern covers: in enforce mode, senders refuse to deliver to them (§5)."""
    return [h for h in hosts if not any(mx_matches(p, h) for p in patterns)]

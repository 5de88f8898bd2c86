"""SPF macros (RFC 7208 §7): parsing macro-strings and expanding them, pure.

A macro-string is parsed once, when its record is parsed, into literal text, the three escapes
(`%%`, `%_`, `%-`) and `%{...}` expansions. Keeping the escapes apart from the literals matters:
the grammar lets a domain-spec end in any macro-expand, escapes included (§7.1, `domain-end`).

Expansion needs the values of the letters (`MacroValues`); the `p` letter needs DNS, so the
evaluator resolves it first and hands it in. Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote

MACRO_LETTERS = frozenset("slodiphcrtv")
# RFC 7208 §7.2: these letters are allowed only in the explanation text fetched by exp=.
EXPLANATION_ONLY_LETTERS = frozenset("crt")
DELIMITERS = ".-+,/_="
MAX_DOMAIN_LENGTH = 253  # §7.3: longer expansions lose labels from the left
MAX_LABEL_LENGTH = 63

_EXPAND_BODY = re.compile(r"([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)")
_TOPLABEL = r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN_END = re.compile(r"\." + _TOPLABEL + r"\.?\Z")
_ESCAPES = {"%": "%", "_": " ", "-": "%20"}
_URL_SAFE = "-._~"  # RFC 3986 "unreserved", which §7.3 keeps unescaped


class MacroSyntaxError(ValueError):
    """A macro-string that does not follow RFC 7208 §7.1."""


@dataclass(frozen=True, slots=True)
class Literal:
    """Plain text copied as it is."""

    text: str


@dataclass(frozen=True, slots=True)
class Escape:
    """`%%`, `%_` or `%-`: a macro-expand whose value is fixed (`%`, a space, `%20`)."""

    value: str


@dataclass(frozen=True, slots=True)
class Expand:
    """`%{letter digits r delimiters}`; an upper-case letter means URL-escape the value."""

    letter: str
    digits: int | None
    reverse: bool
    delimiters: str
    url_escape: bool


MacroToken = Literal | Escape | Expand


@dataclass(frozen=True, slots=True)
class MacroString:
    """A parsed macro-string and the text it came from."""

    text: str
    tokens: tuple[MacroToken, ...]

    @property
    def letters(self) -> frozenset[str]:
        return frozenset(t.letter for t in self.tokens if isinstance(t, Expand))


def parse_macro_string(text: str, *, explanation: bool = False) -> MacroString:
    """Parse `text` as a macro-string, or as an explain-string when `explanation` is true.

    An explain-string may also hold spaces and the letters c, r and t. Anything outside
    %x21-7E (control characters, non-ASCII) is a syntax error in both.
    """
    tokens: list[MacroToken] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append(Literal("".join(literal)))
            literal.clear()

    index = 0
    while index < len(text):
        char = text[index]
        if char != "%":
            if not (0x21 <= ord(char) <= 0x7E or (explanation and char == " ")):
                raise MacroSyntaxError(f"character {char!r} is not allowed in {text!r}")
            literal.append(char)
            index += 1
            continue
        follower = text[index + 1 : index + 2]
        if follower in _ESCAPES:
            flush()
            tokens.append(Escape(_ESCAPES[follower]))
            index += 2
            continue
        if follower != "{":
            raise MacroSyntaxError(f"'%' must be followed by '{{', '%', '_' or '-' in {text!r}")
        close = text.find("}", index + 2)
        if close < 0:
            raise MacroSyntaxError(f"unterminated macro in {text!r}")
        flush()
        tokens.append(_parse_expand(text[index + 2 : close], text, explanation))
        index = close + 1
    flush()
    return MacroString(text, tuple(tokens))


def _parse_expand(body: str, text: str, explanation: bool) -> Expand:
    match = _EXPAND_BODY.fullmatch(body)
    if match is None or match.group(1).lower() not in MACRO_LETTERS:
        raise MacroSyntaxError(f"invalid macro %{{{body}}} in {text!r}")
    letter = match.group(1).lower()
    if letter in EXPLANATION_ONLY_LETTERS and not explanation:
        raise MacroSyntaxError(f"macro letter {letter!r} is only allowed in explanation text: {text!r}")
    digits = int(match.group(2)) if match.group(2) else None
    if digits == 0:
        raise MacroSyntaxError(f"macro %{{{body}}} asks for zero labels (RFC 7208 §7.3) in {text!r}")
    return Expand(letter, digits, bool(match.group(3)), match.group(4), match.group(1).isupper())


def parse_domain_spec(text: str) -> MacroString:
    """Parse a domain-spec: a macro-string ending in `.toplabel` (and an optional dot) or a macro."""
    spec = parse_macro_string(text)
    last = spec.tokens[-1] if spec.tokens else None
    if last is None:
        raise MacroSyntaxError("empty domain-spec")
    if isinstance(last, Literal) and not _DOMAIN_END.search(last.text):
        raise MacroSyntaxError(f"{text!r} does not end in a valid top-level label or a macro")
    return spec


@dataclass(frozen=True, slots=True)
class MacroValues:
    """The values of the macro letters for one check_host() evaluation (§7.3)."""

    sender: str
    local_part: str
    sender_domain: str
    domain: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str
    receiver: str
    timestamp: int
    validated_name: str | None = None  # p; None when it has not been looked up

    def value(self, letter: str) -> str:
        if letter == "s":
            return self.sender
        if letter == "l":
            return self.local_part
        if letter == "o":
            return self.sender_domain
        if letter == "d":
            return self.domain
        if letter == "i":
            return dotted_ip(self.ip)
        if letter == "p":
            if self.validated_name is None:
                raise ValueError("the p macro needs its validated name looked up first")
            return self.validated_name
        if letter == "v":
            return "in-addr" if self.ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)
        if letter == "r":
            return self.receiver
        if letter == "t":
            return str(self.timestamp)
        raise ValueError(f"unknown macro letter {letter!r}")


def dotted_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The `i` macro: dotted quad for IPv4, 32 dot-separated nibbles for IPv6.

    Lower-case nibbles, as in RFC 7208 §7.4's example (`1.0.b.c.0.0...`).
    """
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def reverse_name(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The PTR query name for `ip` (in-addr.arpa or ip6.arpa)."""
    parts = dotted_ip(ip).split(".")
    suffix = "in-addr.arpa" if ip.version == 4 else "ip6.arpa"
    return ".".join([*reversed(parts), suffix])


def expand(spec: MacroString, values: MacroValues) -> str:
    """Expand every macro in `spec` (RFC 7208 §7.3); the caller checks the letters are allowed."""
    out: list[str] = []
    for token in spec.tokens:
        if isinstance(token, Literal):
            out.append(token.text)
        elif isinstance(token, Escape):
            out.append(token.value)
        else:
            out.append(_expand_one(token, values))
    return "".join(out)


def _expand_one(token: Expand, values: MacroValues) -> str:
    value = values.value(token.letter)
    delimiters = token.delimiters or "."
    parts = re.split("[" + re.escape(delimiters) + "]", value)
    if token.reverse:
        parts.reverse()
    if token.digits is not None and token.digits < len(parts):
        parts = parts[-token.digits :]
    text = ".".join(parts)
    if token.url_escape:
        text = quote(text, safe=_URL_SAFE, errors="surrogateescape")
    return text


def target_name(expanded: str) -> str | None:
    """The domain name to query for an expanded domain-spec, or None if no query can be made.

    §7.3: a trailing dot is dropped and names over 253 characters lose labels from the left.
    Empty labels and labels over 63 octets cannot be put in a query at all (§4.3, §4.8).
    """
    name = expanded[:-1] if expanded.endswith(".") else expanded
    while _octets(name) > MAX_DOMAIN_LENGTH and "." in name:
        name = name.split(".", 1)[1]
    if not valid_name(name):
        return None
    return name


def valid_name(name: str) -> bool:
    """True when `name` (no trailing dot) can be sent in a DNS query."""
    if not name or _octets(name) > MAX_DOMAIN_LENGTH:
        return False
    return all(0 < _octets(label) <= MAX_LABEL_LENGTH for label in name.split("."))


def _octets(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogateescape"))

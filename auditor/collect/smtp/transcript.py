"""The SMTP dialogue as `C:`/`S:` lines, with AUTH payloads redacted *at the source*.

Why at the source: a transcript is shown in the HTML report and written to JSON, and reports
are mailed around and attached to tickets. Redacting later (in a reporter) would mean the secret
exists in the facts and in every copy of them. Here the credential never enters the recorder:

* the probe records AUTH commands through `auth_command()`, which takes no payload at all;
* every client line sent while an AUTH exchange is in progress (after a `334`) is stored as
  `***`, whatever the caller passes in;
* a client line starting with `AUTH` keeps only its first two words, plus `***` if anything
  followed — a defence in depth for a careless caller;
* server text goes through a `Scrubber` that knows the secret's encoded forms, so a server that
  echoes the payload back (some do in error replies) cannot smuggle it into the facts either.

`334` challenges are kept: for LOGIN they are just "Username:"/"Password:" in base64.
"""

from __future__ import annotations

import base64
import re

from auditor.collect.smtp.secrets import Secret

__all__ = ["REDACTED", "Scrubber", "Transcript", "clean_text", "join_reply"]

REDACTED = "***"

_MIN_SCRUB_LENGTH = 5

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Make server text safe to store: valid UTF-8 and no control characters.

    aiosmtplib decodes replies with `surrogateescape`; a lone surrogate would later break JSON
    encoding and terminal output, so undecodable bytes become U+FFFD here.
    """
    text = _utf8(text).decode("utf-8", "replace")
    return _CONTROL.sub("?", text)


def _utf8(text: str) -> bytes:
    """UTF-8 bytes for any str: escaped bytes as they were, other lone surrogates as-is."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Never let this exception out: its `.object` would be the whole (secret) string.
        return text.encode("utf-8", "surrogatepass")


def join_reply(text: str) -> str:
    """A multi-line reply text (lines separated by `\\n`) as one line joined with ' / '."""
    return " / ".join(line.strip() for line in text.split("\n") if line.strip())


class Scrubber:
    """Replaces every known encoded form of one secret with `***`.

    It is built from the `Secret` by the probe, holds only derived strings, and prints as
    `Scrubber(***)`, so it is as safe to have in a traceback as the `Secret` itself.
    """

    __slots__ = ("__forms",)

    def __init__(self, secret: Secret | None = None, username: str = "") -> None:
        forms: set[str] = set()
        if secret is not None:
            value = secret.reveal()
            raw = _utf8(value)
            user = _utf8(username)
            forms.add(value)
            forms.add(base64.b64encode(raw).decode("ascii"))
            forms.add(base64.b64encode(b"\0" + user + b"\0" + raw).decode("ascii"))
            forms.add(base64.b64encode(user + b"\0" + user + b"\0" + raw).decode("ascii"))
        # Very short forms would garble ordinary text ("x" in "smtp.example"); real SMTP
        # passwords are longer (Mailgun: 5-32 characters) and their base64 forms longer still.
        forms = {form for form in forms if len(form) >= _MIN_SCRUB_LENGTH}
        # Longest first, so a form that contains another is replaced whole.
        self.__forms = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for form in self.__forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def __repr__(self) -> str:
        return "Scrubber(***)"

    def __reduce_ex__(self, protocol: object) -> object:
        raise TypeError("Scrubber cannot be pickled")


class Transcript:
    """Records the dialogue line by line; see the module docstring for the redaction rules."""

    __slots__ = ("_in_auth", "_lines", "_scrub")

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        self._lines: list[str] = []
        self._scrub = scrubber if scrubber is not None else Scrubber()
        self._in_auth = False

    def client(self, line: str) -> None:
        """Record a command the client sent (without CRLF)."""
        if self._in_auth:
            # A continuation line of an AUTH exchange: always a credential or part of one.
            self._lines.append(f"C: {REDACTED}")
            return
        words = line.split(" ")
        if words and words[0].upper() == "AUTH":
            kept = " ".join(words[:2])
            line = f"{kept} {REDACTED}" if len(words) > 2 else kept
            self._in_auth = True
        self._lines.append("C: " + self._scrub(clean_text(line)))

    def auth_command(self, mechanism: str, *, initial_response: bool) -> None:
        """Record `AUTH <mechanism>` and, if one was sent on the same line, a masked payload."""
        line = f"AUTH {mechanism}" + (f" {REDACTED}" if initial_response else "")
        self._lines.append(f"C: {line}")
        self._in_auth = True

    def client_redacted(self) -> None:
        """Record a client line whose content is a credential (an AUTH continuation)."""
        self._lines.append(f"C: {REDACTED}")

    def server(self, code: int | None, text: str) -> None:
        """Record a reply; multi-line replies become `S: 250-...` lines, like on the wire."""
        if code != 334:
            self._in_auth = False
        lines = [self._scrub(clean_text(line)) for line in text.split("\n")]
        prefix = "" if code is None else str(code)
        for index, line in enumerate(lines):
            sep = "-" if index < len(lines) - 1 else " "
            head = f"{prefix}{sep}" if prefix else ""
            self._lines.append(f"S: {head}{line}".rstrip())

    def scrub(self, text: str) -> str:
        """Clean and scrub server-provided text for use outside the transcript (step texts)."""
        return self._scrub(clean_text(text))

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self._lines)

"""Typed facts of one SMTP submission probe (issue 3): what the server said, step by step.

The probe only *records*; rules decide what a 535 or a certificate mismatch means for the user.
So these types keep the raw evidence a rule needs (reply code and text per step, TLS names, the
AUTH mechanisms offered) plus a small amount of classification that only the collector can do
(the outcome, which step failed, the *shape* of the password). Nothing here ever holds a secret:
the password is reduced to a `CredentialShape` before the facts are built, and the transcript is
redacted at the source by `auditor.collect.smtp.transcript`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TlsMode(StrEnum):
    """How TLS is reached: STARTTLS upgrade (25/587/2525) or TLS from the first byte (465)."""

    STARTTLS = "starttls"
    IMPLICIT = "implicit"


class SmtpStepName(StrEnum):
    """One stage of the submission dialogue, in the order the probe runs them.

    `connect` is the TCP connection; in implicit-TLS mode a failed handshake is also reported
    as `connect`, because the handshake is part of connecting on that port.
    """

    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    EHLO_TLS = "ehlo_tls"
    AUTH = "auth"
    MAIL_FROM = "mail_from"
    RCPT_TO = "rcpt_to"
    DATA = "data"
    RSET = "rset"
    QUIT = "quit"


class SmtpOutcome(StrEnum):
    """How far the probe got and why it stopped; one value per cause a rule can explain."""

    OK = "ok"
    AUTH_FAILED = "auth_failed"
    """535 (or another 5xx) to AUTH: wrong, reset or foreign credentials."""
    AUTH_UNAVAILABLE = "auth_unavailable"
    """AUTH not offered, no mechanism we speak, or 530/503/538 to AUTH."""
    SENDER_REJECTED = "sender_rejected"
    RECIPIENT_REJECTED = "recipient_rejected"
    TEMPORARY = "temporary"
    """Any 4xx (421/450/451/452...): throttled or refused for now — "try again", not "broken"."""
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_FAILED = "connect_failed"
    """The host name does not resolve or the network is unreachable (neither refused nor slow)."""
    TLS_FAILED = "tls_failed"
    PROTOCOL_ERROR = "protocol_error"
    """The server dropped the connection or said something that is not SMTP."""
    TIMEOUT = "timeout"
    """The server went silent after the connection was established."""
    DATA_REJECTED = "data_rejected"
    CREDENTIAL_UNAVAILABLE = "credential_unavailable"
    """The password reference could not be resolved; nothing was sent to the server."""


class CredentialShape(StrEnum):
    """What the SMTP password *looks like*, so a 535 can be explained without storing it.

    Mailgun's private API key pasted as the SMTP password is the most common login mistake
    (provider-facts §1.2, §14.1); its shapes are recognisable.
    """

    MAILGUN_API_KEY = "mailgun_api_key"
    """`<32 hex>-<8 hex>-<8 hex>`, the current private API key format."""
    MAILGUN_API_KEY_LEGACY = "mailgun_api_key_legacy"
    """`key-<32 hex>`, the legacy private API key format."""
    MAILGUN_PUBLIC_KEY = "mailgun_public_key"
    """`pubkey-...`, the public validation key."""
    PLAUSIBLE_SMTP_PASSWORD = "plausible_smtp_password"
    UNAVAILABLE = "unavailable"
    """The secret could not be resolved, so its shape is unknown."""


class TlsVerifyFailure(StrEnum):
    """Why certificate verification failed, classified from OpenSSL's verify code.

    Rules explain these differently: a host-name mismatch usually means a vanity CNAME in front
    of `smtp.mailgun.org` (provider-facts §1.1), an expired certificate is the operator's fault,
    an untrusted one means a private relay that needs `ca_file`.
    """

    HOSTNAME_MISMATCH = "hostname_mismatch"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SELF_SIGNED = "self_signed"
    UNTRUSTED = "untrusted"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SmtpStep:
    """One command (or the connection/banner) and the server's answer to it.

    `code` is None when there was no reply (connect, timeout, dropped connection); `text` is then
    what happened instead. Multi-line replies are joined with `' / '` so the text stays one line.
    `elapsed_ms` is wall-clock time for this step; in implicit-TLS mode the TLS handshake is
    counted in `banner`, because the SMTP client reads the greeting as part of the handshake.
    """

    name: SmtpStepName
    code: int | None
    text: str
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What TLS the server negotiated and which names its certificate covers.

    On a failed handshake only `verified`, `verify_error` and `verify_failure` are known.
    With `insecure` probing the certificate is read but not verified (`verified` is False and
    `verify_error` is None).
    """

    version: str | None
    cipher: str | None
    subject_cn: str | None
    san_dns: tuple[str, ...]
    not_after: str | None
    """Certificate expiry, ISO 8601 in UTC, when the certificate could be read."""
    verified: bool
    verify_error: str | None
    verify_failure: TlsVerifyFailure | None = None


@dataclass(frozen=True, slots=True)
class SmtpProbeFacts:
    """Everything one submission probe found out, including how and where it stopped."""

    host: str
    port: int
    tls_mode: TlsMode
    server_hostname: str
    """The name the certificate was verified against (the provider's host name)."""
    outcome: SmtpOutcome
    failed_step: SmtpStepName | None
    detail: str
    """One line on why the probe stopped (the reply text, or e.g. "STARTTLS not offered")."""
    steps: tuple[SmtpStep, ...]
    tls: TlsInfo | None
    auth_mechanisms: tuple[str, ...]
    """Mechanisms offered after TLS, upper case, in the server's order."""
    auth_mechanism_used: str | None
    insecure: bool
    credential_shape: CredentialShape
    username_domain: str
    """Domain part of the SMTP login (lower case; empty if the login has no `@`)."""
    from_address: str | None
    recipient: str | None
    deep_data: bool
    """Whether the opt-in DATA step was requested (it stops at 354; no message is sent)."""
    transcript: tuple[str, ...]
    """The dialogue as `C: ...` / `S: ...` lines with every AUTH payload replaced by `***`."""

    @property
    def ok(self) -> bool:
        return self.outcome is SmtpOutcome.OK

    def step(self, name: SmtpStepName) -> SmtpStep | None:
        """The last recorded step called `name` (the one a rule wants for evidence)."""
        for step in reversed(self.steps):
            if step.name is name:
                return step
        return None

    @property
    def failed_reply(self) -> SmtpStep | None:
        """The step that stopped the probe, with its reply code and text."""
        return None if self.failed_step is None else self.step(self.failed_step)


@dataclass(frozen=True, slots=True)
class SmtpPlan:
    """Which submission host the probe used, and why.

    `configured_host` is what the inventory asked for (None: the provider's host for the region).
    When it is the provider's host of *another* region, the probe logs in to the right region's
    host instead (`corrected`), so credentials are never tried against the wrong region.
    """

    configured_host: str | None
    host: str
    port: int
    server_hostname: str
    region: str | None
    corrected: bool

"""Probe a provider's submission service with real credentials, without ever sending a message.

Why: the most common sending failure (`535 Authentication failed`) has causes DNS cannot show —
an API key pasted as the SMTP password, another domain's login, a reset password, the wrong
region's host. Only a real login tells them apart. The probe walks the submission dialogue

    connect (+ implicit TLS) → banner → EHLO → STARTTLS → EHLO → AUTH → MAIL FROM → [RCPT TO]
    → [DATA, dropped at 354] → RSET → QUIT

and records every reply as facts; it never judges them (rules do, see STYLE §2.2). Every
failure — refused, timed out, TLS, a 5xx, a dropped connection, an unexpected exception — is
turned into an `SmtpOutcome` with the step where it happened, so one bad host never stops a
batch (STYLE §2.1): `probe_submission` does not raise.

aiosmtplib is the transport (a maintained asyncio SMTP client). AUTH is driven here with
`execute_command` rather than `SMTP.login()`, because `login()` tries mechanisms in its own
order and would put the payload where we cannot redact it; this way the credential exists only
as the bytes handed to the socket, and the transcript records `***` (see `transcript.py`).
aiosmtplib itself does no logging.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import aiosmtplib
from aiosmtplib import (
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPReadTimeoutError,
    SMTPResponse,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from auditor.collect.smtp.classify import (
    VERIFY_CODES,
    certificate_names,
    classify_reply,
    credential_shape,
    username_domain,
)
from auditor.collect.smtp.secrets import Secret
from auditor.collect.smtp.transcript import Scrubber, Transcript, join_reply
from auditor.model.smtp import (
    CredentialShape,
    SmtpOutcome,
    SmtpProbeFacts,
    SmtpStep,
    SmtpStepName,
    TlsInfo,
    TlsMode,
    TlsVerifyFailure,
)

__all__ = [
    "IMPLICIT_TLS_PORTS",
    "ProbeSettings",
    "classify_reply",
    "credential_shape",
    "probe_submission",
    "unavailable_credential_facts",
    "username_domain",
]

log = logging.getLogger(__name__)

#: Ports where TLS starts with the first byte (RFC 8314); every other port uses STARTTLS.
IMPLICIT_TLS_PORTS: frozenset[int] = frozenset({465, 2465})

#: The reply each step expects on success.
_EXPECTED: dict[SmtpStepName, frozenset[int]] = {
    SmtpStepName.BANNER: frozenset({220}),
    SmtpStepName.EHLO: frozenset({250}),
    SmtpStepName.STARTTLS: frozenset({220}),
    SmtpStepName.EHLO_TLS: frozenset({250}),
    SmtpStepName.AUTH: frozenset({235}),
    SmtpStepName.MAIL_FROM: frozenset({250}),
    SmtpStepName.RCPT_TO: frozenset({250, 251}),
    SmtpStepName.DATA: frozenset({354}),
    SmtpStepName.RSET: frozenset({250}),
    SmtpStepName.QUIT: frozenset({221}),
}

_POLITE_QUIT_TIMEOUT = 2.0

_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """Where and how to probe; hashable, so the scheduler can de-duplicate identical probes.

    `server_hostname` is the name the certificate must match — the provider's host name, even
    when `host` is an address or a CNAME (a vanity name in front of `smtp.mailgun.org` fails the
    check, and that is a finding, provider-facts §1.1). `ca_file` is for private relays and
    tests; `insecure` skips verification and is reported in the facts. `local_hostname` is the
    EHLO name; by default the address literal of our side of the connection (RFC 5321 §4.1.4),
    which avoids a reverse DNS look-up (`socket.getfqdn`) on every probe.
    """

    host: str
    port: int = 587
    tls_mode: TlsMode | None = None
    server_hostname: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    command_timeout: float = 20.0
    local_hostname: str | None = None

    @property
    def effective_tls_mode(self) -> TlsMode:
        """The given mode, else implicit TLS on 465/2465 and STARTTLS everywhere else."""
        if self.tls_mode is not None:
            return TlsMode(self.tls_mode)
        return TlsMode.IMPLICIT if self.port in IMPLICIT_TLS_PORTS else TlsMode.STARTTLS

    @property
    def effective_server_hostname(self) -> str:
        return (self.server_hostname or self.host).rstrip(".")


def unavailable_credential_facts(
    settings: ProbeSettings,
    username: str,
    from_address: str | None,
    recipient: str | None,
    detail: str,
    *,
    deep_data: bool = False,
) -> SmtpProbeFacts:
    """Facts for a probe that could not start because the password is unusable.

    Nothing is sent to the server: without a password the probe could only show the banner,
    and a rule about an unresolvable secret reference needs no network evidence.
    """
    return SmtpProbeFacts(
        host=settings.host,
        port=settings.port,
        tls_mode=settings.effective_tls_mode,
        server_hostname=settings.effective_server_hostname,
        outcome=SmtpOutcome.CREDENTIAL_UNAVAILABLE,
        failed_step=None,
        detail=detail,
        steps=(),
        tls=None,
        auth_mechanisms=(),
        auth_mechanism_used=None,
        insecure=settings.insecure,
        credential_shape=CredentialShape.UNAVAILABLE,
        username_domain=username_domain(username),
        from_address=from_address,
        recipient=recipient,
        deep_data=deep_data,
        transcript=(),
    )


async def probe_submission(
    settings: ProbeSettings,
    username: str,
    password: Secret,
    from_address: str | None,
    recipient: str | None,
    *,
    deep_data: bool = False,
) -> SmtpProbeFacts:
    """Run one submission probe and return its facts. Never raises (except on cancellation).

    `deep_data=True` also sends DATA after a successful RCPT TO and drops the connection the
    moment the server answers 354 — the message is never completed, so nothing is delivered —
    because Mailgun rejects sandbox and free-tier sends only at DATA (provider-facts §1.5).
    """
    try:
        _encode(password.reveal())
        _encode(username)
    except UnicodeEncodeError:
        # Never chain or keep this exception: its `.object` is the whole string.
        return unavailable_credential_facts(
            settings,
            username,
            from_address,
            recipient,
            "the username or password cannot be encoded as UTF-8",
            deep_data=deep_data,
        )
    probe = _Probe(settings, username, password, from_address, recipient, deep_data)
    return await probe.run()


def _encode(text: str) -> bytes:
    """UTF-8, keeping undecodable bytes that came in through `os.environ` as they were."""
    return text.encode("utf-8", "surrogateescape")


class _Stop(Exception):
    """Ends the dialogue early with an outcome. Internal; never leaves this module."""

    def __init__(self, outcome: SmtpOutcome, step: SmtpStepName, detail: str) -> None:
        super().__init__(outcome, step, detail)
        self.outcome = outcome
        self.step = step
        self.detail = detail


class _Probe:
    """State of one probe run: the client, the steps so far, the transcript."""

    def __init__(
        self,
        settings: ProbeSettings,
        username: str,
        password: Secret,
        from_address: str | None,
        recipient: str | None,
        deep_data: bool,
    ) -> None:
        self.settings = settings
        self.mode = settings.effective_tls_mode
        self.server_hostname = settings.effective_server_hostname
        self.username = username
        self.password = password
        self.from_address = from_address
        self.recipient = recipient
        self.deep_data = deep_data
        self.transcript = Transcript(Scrubber(password, username))
        self.steps: list[SmtpStep] = []
        self.tls: TlsInfo | None = None
        self.mechanisms: tuple[str, ...] = ()
        self.extensions: frozenset[str] = frozenset()
        self.mechanism_used: str | None = None
        self.smtp: aiosmtplib.SMTP | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.context: ssl.SSLContext | None = None
        self.sock: socket.socket | None = None
        self.current = SmtpStepName.CONNECT
        self.outcome = SmtpOutcome.OK
        self.failed_step: SmtpStepName | None = None
        self.detail = ""

    # -- driver ------------------------------------------------------------------------------

    async def run(self) -> SmtpProbeFacts:
        try:
            await self._dialogue()
        except _Stop as stop:
            self.outcome, self.failed_step, self.detail = stop.outcome, stop.step, stop.detail
            await self._quit_politely()
        except Exception as exc:  # last resort: a probe never raises into the batch
            self.outcome = SmtpOutcome.PROTOCOL_ERROR
            self.failed_step = self.current
            # The class name only: the text of an unexpected exception is not vetted.
            self.detail = f"unexpected error in the SMTP client ({type(exc).__name__})"
            log.debug("smtp probe %s:%d: %s", self.settings.host, self.settings.port, self.detail)
        finally:
            await self._close()
        return self._facts()

    async def _dialogue(self) -> None:
        self.context = self._tls_context()
        await self._connect()
        await self._banner()
        await self._ehlo(SmtpStepName.EHLO)
        if self.mode is TlsMode.STARTTLS:
            await self._starttls()
            await self._ehlo(SmtpStepName.EHLO_TLS)
        await self._auth()
        if self.from_address is None:
            self.detail = "logged in; no from address given, MAIL FROM not tried"
        else:
            await self._mail_from(self.from_address)
            if self.recipient is not None:
                await self._rcpt_to(self.recipient)
                if self.deep_data:
                    await self._data()
                    return  # the connection was dropped at 354: no RSET, no QUIT
            elif self.deep_data:
                self.detail = "DATA not tried: no test recipient given"
        await self._finish()

    # -- steps -------------------------------------------------------------------------------

    async def _connect(self) -> None:
        """TCP only; our own socket, so refused/timeout/unresolvable are told apart exactly."""
        self.current = SmtpStepName.CONNECT
        settings = self.settings
        start = time.monotonic()
        try:
            async with asyncio.timeout(settings.connect_timeout):
                self.sock = await _open_socket(settings.host, settings.port)
        except TimeoutError:
            self._fail_without_reply(
                SmtpOutcome.CONNECT_TIMEOUT,
                start,
                f"no TCP connection to {settings.host}:{settings.port} within {settings.connect_timeout:g}s",
            )
        except ConnectionRefusedError:
            self._fail_without_reply(
                SmtpOutcome.CONNECT_REFUSED,
                start,
                f"connection to {settings.host}:{settings.port} refused",
            )
        except socket.gaierror as exc:
            self._fail_without_reply(
                SmtpOutcome.CONNECT_FAILED,
                start,
                f"cannot resolve {settings.host}: {exc.strerror or type(exc).__name__}",
            )
        except OSError as exc:
            self._fail_without_reply(
                SmtpOutcome.CONNECT_FAILED,
                start,
                f"cannot connect to {settings.host}:{settings.port}: {exc.strerror or type(exc).__name__}",
            )
        peer = self.sock.getpeername()
        self._record(SmtpStepName.CONNECT, None, f"connected to {_format_peer(peer)}", start)

    async def _banner(self) -> None:
        """Hand the socket to aiosmtplib: implicit TLS handshake (if any), then the greeting."""
        self.current = SmtpStepName.BANNER
        assert self.sock is not None
        implicit = self.mode is TlsMode.IMPLICIT
        self.smtp = aiosmtplib.SMTP(
            hostname=self.server_hostname,
            sock=self.sock,
            use_tls=implicit,
            start_tls=False,
            tls_context=self.context if implicit else None,
            local_hostname=self.settings.local_hostname or _address_literal(self.sock),
            timeout=self.settings.command_timeout,
        )
        # From here the asyncio transport owns the socket and closes it (asynchronously, when
        # the loop runs its connection_lost). Closing it ourselves as well would free the file
        # descriptor while the loop still has it registered, and the next probe's socket,
        # given the same number, would fail with "File descriptor N is used by transport".
        self.sock = None
        start = time.monotonic()
        try:
            response = await self.smtp.connect()
        except SMTPConnectTimeoutError as exc:
            if isinstance(exc.__cause__, SMTPTimeoutError):
                self._fail_without_reply(
                    SmtpOutcome.TIMEOUT,
                    start,
                    f"no greeting within {self.settings.command_timeout:g}s",
                )
            self._tls_handshake_failed(exc, start, SmtpStepName.CONNECT)
        except SMTPConnectResponseError as exc:
            # Not 220 (a 421 "too busy", a 554 "no service"); aiosmtplib has hung up already.
            self._reply(SmtpStepName.BANNER, SMTPResponse(exc.code, exc.message), start)
        except SMTPConnectError as exc:
            if isinstance(exc.__cause__, SMTPServerDisconnected):
                self._fail_without_reply(
                    SmtpOutcome.PROTOCOL_ERROR, start, "connection closed before the greeting"
                )
            if implicit:
                self._tls_handshake_failed(exc, start, SmtpStepName.CONNECT)
            self._fail_without_reply(
                SmtpOutcome.PROTOCOL_ERROR, start, f"connection failed ({_cause_name(exc)})"
            )
        except (ssl.SSLError, ConnectionError) as exc:  # not wrapped by every aiosmtplib path
            self._tls_handshake_failed(exc, start, SmtpStepName.CONNECT)
        self.transport = self.smtp.transport
        if implicit:
            self._read_tls()
        self._reply(SmtpStepName.BANNER, response, start)

    async def _ehlo(self, step: SmtpStepName) -> None:
        assert self.smtp is not None
        name = self.smtp.local_hostname or "localhost"
        response = await self._command(step, f"EHLO {name}", b"EHLO", _encode(name))
        # The property setter parses extensions and AUTH mechanisms (aiosmtplib public API).
        # Keep our own copy: aiosmtplib forgets them when the connection drops.
        self.smtp.last_ehlo_response = response
        self.extensions = frozenset(self.smtp.esmtp_extensions)
        self.mechanisms = tuple(m.upper() for m in self.smtp.server_auth_methods)

    def _require_connection(self, start: float) -> None:
        """Stop with `protocol_error` if the server hung up between two commands."""
        if self.smtp is None or not self.smtp.is_connected:
            self._fail_without_reply(SmtpOutcome.PROTOCOL_ERROR, start, "connection lost")

    async def _starttls(self) -> None:
        assert self.smtp is not None
        self.current = SmtpStepName.STARTTLS
        start = time.monotonic()
        if "starttls" not in self.extensions:
            self._fail_without_reply(SmtpOutcome.TLS_FAILED, start, "STARTTLS not offered")
        self._require_connection(start)
        self.transcript.client("STARTTLS")
        try:
            response = await self.smtp.starttls(
                server_hostname=self.server_hostname,
                tls_context=self.context,
                timeout=self.settings.command_timeout,
            )
        except SMTPResponseException as exc:
            if exc.code < 0:
                self._fail_without_reply(
                    SmtpOutcome.PROTOCOL_ERROR, start, self.transcript.scrub(exc.message)
                )
            self._reply(SmtpStepName.STARTTLS, SMTPResponse(exc.code, exc.message), start)
        except SMTPReadTimeoutError:
            self._fail_without_reply(
                SmtpOutcome.TIMEOUT,
                start,
                f"no reply to STARTTLS within {self.settings.command_timeout:g}s",
            )
        except SMTPTimeoutError as exc:
            # The server said 220 but the handshake did not finish in time.
            self._tls_handshake_failed(exc, start, SmtpStepName.STARTTLS, code=220)
        except SMTPServerDisconnected:
            self._fail_without_reply(SmtpOutcome.PROTOCOL_ERROR, start, "connection lost at STARTTLS")
        except (ssl.SSLError, OSError) as exc:
            self._tls_handshake_failed(exc, start, SmtpStepName.STARTTLS, code=220)
        self.transport = self.smtp.transport
        self._read_tls()
        # RFC 3207 §4.2: forget what was offered before TLS.
        self.mechanisms = ()
        self.extensions = frozenset()
        self._reply(SmtpStepName.STARTTLS, response, start)

    async def _auth(self) -> None:
        assert self.smtp is not None
        self.current = SmtpStepName.AUTH
        start = time.monotonic()
        if "auth" not in self.extensions:
            self._fail_without_reply(SmtpOutcome.AUTH_UNAVAILABLE, start, "AUTH not offered")
        self._require_connection(start)
        if "PLAIN" in self.mechanisms:
            self.mechanism_used = "PLAIN"
            response = await self._auth_plain(start)
        elif "LOGIN" in self.mechanisms:
            self.mechanism_used = "LOGIN"
            response = await self._auth_login(start)
        else:
            offered = " ".join(self.mechanisms) or "none"
            self._fail_without_reply(
                SmtpOutcome.AUTH_UNAVAILABLE,
                start,
                f"no supported AUTH mechanism (offered: {offered}; PLAIN or LOGIN needed)",
            )
        self._reply(SmtpStepName.AUTH, response, start)

    async def _auth_plain(self, start: float) -> SMTPResponse:
        """RFC 4616: one line, `AUTH PLAIN base64(authzid NUL authcid NUL passwd)`."""
        self.transcript.auth_command("PLAIN", initial_response=True)
        return await self._send(
            SmtpStepName.AUTH,
            start,
            b"AUTH",
            b"PLAIN",
            _plain_payload(self.username, self.password),
        )

    async def _auth_login(self, start: float) -> SMTPResponse:
        """The LOGIN exchange: `AUTH LOGIN`, 334, base64(user), 334, base64(password)."""
        self.transcript.auth_command("LOGIN", initial_response=False)
        response = await self._send(SmtpStepName.AUTH, start, b"AUTH", b"LOGIN")
        if response.code != 334:
            return response
        self.transcript.server(response.code, response.message)
        self.transcript.client_redacted()
        response = await self._send(SmtpStepName.AUTH, start, base64.b64encode(_encode(self.username)))
        if response.code != 334:
            return response
        self.transcript.server(response.code, response.message)
        self.transcript.client_redacted()
        return await self._send(SmtpStepName.AUTH, start, base64.b64encode(_encode(self.password.reveal())))

    async def _mail_from(self, address: str) -> None:
        args = [b"MAIL", b"FROM:<" + _encode(address) + b">"]
        if not address.isascii() and "smtputf8" in self.extensions:
            args.append(b"SMTPUTF8")
        line = " ".join(a.decode("utf-8", "replace") for a in args)
        await self._command(SmtpStepName.MAIL_FROM, line, *args)

    async def _rcpt_to(self, address: str) -> None:
        line = f"RCPT TO:<{address}>"
        await self._command(SmtpStepName.RCPT_TO, line, b"RCPT", b"TO:<" + _encode(address) + b">")

    async def _data(self) -> None:
        """Send DATA and hang up at 354: the server never gets a complete message."""
        assert self.smtp is not None
        await self._command(SmtpStepName.DATA, "DATA", b"DATA")
        self.detail = "DATA accepted (354); connection dropped before any message content"
        await self._close()  # at once: not one byte of content, not the final "."

    async def _finish(self) -> None:
        """RSET and QUIT; their replies are recorded but cannot change the outcome."""
        for step, verb in ((SmtpStepName.RSET, b"RSET"), (SmtpStepName.QUIT, b"QUIT")):
            if self.smtp is None or not self.smtp.is_connected:
                return
            try:
                await self._command(step, verb.decode(), verb, check=False)
            except _Stop:
                return

    async def _quit_politely(self) -> None:
        """After a refusal, say QUIT if the server is still listening (briefly, best effort)."""
        smtp = self.smtp
        if smtp is None or not smtp.is_connected:
            return
        self.transcript.client("QUIT")
        start = time.monotonic()
        try:
            response = await smtp.execute_command(b"QUIT", timeout=_POLITE_QUIT_TIMEOUT)
        except Exception:
            return
        self._reply(SmtpStepName.QUIT, response, start, check=False)

    # -- plumbing ----------------------------------------------------------------------------

    async def _command(self, step: SmtpStepName, line: str, *args: bytes, check: bool = True) -> SMTPResponse:
        """Send one command, record it and its reply; raise `_Stop` unless the reply is good."""
        self.current = step
        self.transcript.client(line)
        start = time.monotonic()
        response = await self._send(step, start, *args)
        self._reply(step, response, start, check=check)
        return response

    async def _send(self, step: SmtpStepName, start: float, *args: bytes) -> SMTPResponse:
        """One command on the wire; errors become `_Stop` with nothing of `args` in them."""
        assert self.smtp is not None
        self.current = step
        try:
            response = await self.smtp.execute_command(*args, timeout=self.settings.command_timeout)
        except SMTPTimeoutError:
            self._fail_without_reply(
                SmtpOutcome.TIMEOUT,
                start,
                f"no reply within {self.settings.command_timeout:g}s",
            )
        except SMTPServerDisconnected:
            self._fail_without_reply(SmtpOutcome.PROTOCOL_ERROR, start, "connection lost")
        except SMTPResponseException as exc:
            # aiosmtplib could not parse the reply (code -1): garbage or an over-long line.
            self._fail_without_reply(
                SmtpOutcome.PROTOCOL_ERROR,
                start,
                "malformed reply: " + self.transcript.scrub(exc.message),
            )
        except ValueError:
            # aiosmtplib refuses arguments with control characters (header/command injection);
            # its message names no value. Typically a from/recipient address with CR/LF in it.
            outcome = {
                SmtpStepName.MAIL_FROM: SmtpOutcome.SENDER_REJECTED,
                SmtpStepName.RCPT_TO: SmtpOutcome.RECIPIENT_REJECTED,
            }.get(step, SmtpOutcome.PROTOCOL_ERROR)
            self._fail_without_reply(outcome, start, "not sent: the argument has control chars")
        return response

    def _reply(self, step: SmtpStepName, response: SMTPResponse, start: float, *, check: bool = True) -> None:
        """Record a reply; with `check`, stop the dialogue if it is not the expected one."""
        self.transcript.server(response.code, response.message)
        text = join_reply(self.transcript.scrub(response.message))
        self._record(step, response.code, text, start)
        if check and response.code not in _EXPECTED[step]:
            raise self._unexpected(step, response.code, response.message)

    def _unexpected(self, step: SmtpStepName, code: int, message: str) -> _Stop:
        text = join_reply(self.transcript.scrub(message))
        return _Stop(classify_reply(step, code), step, f"{code} {text}".strip())

    def _record(self, step: SmtpStepName, code: int | None, text: str, start: float) -> None:
        elapsed_ms = round((time.monotonic() - start) * 1000.0, 1)
        self.steps.append(SmtpStep(step, code, text, elapsed_ms))
        log.debug(
            "smtp probe %s:%d %s -> %s %s",
            self.settings.host,
            self.settings.port,
            step.value,
            "-" if code is None else code,
            text,
        )

    def _fail_without_reply(self, outcome: SmtpOutcome, start: float, detail: str) -> NoReturn:
        """Record the current step as failed with no reply code, and stop."""
        self._record(self.current, None, detail, start)
        raise _Stop(outcome, self.current, detail)

    def _tls_handshake_failed(
        self,
        exc: BaseException,
        start: float,
        step: SmtpStepName,
        code: int | None = None,
    ) -> NoReturn:
        """Turn a failed handshake into facts: the verify reason, or a timeout, or a reset."""
        self.current = step
        verify = _find_cause(exc, ssl.SSLCertVerificationError)
        if verify is not None:
            failure = VERIFY_CODES.get(verify.verify_code, TlsVerifyFailure.OTHER)
            message = str(verify.verify_message or verify.reason or "verification failed")
            self.tls = TlsInfo(
                version=None,
                cipher=None,
                subject_cn=None,
                san_dns=(),
                not_after=None,
                verified=False,
                verify_error=message,
                verify_failure=failure,
            )
            detail = f"certificate verification failed ({failure.value}): {message}"
            outcome = SmtpOutcome.TLS_FAILED
        elif (
            _find_cause(exc, TimeoutError) is not None or _find_cause(exc, ConnectionAbortedError) is not None
        ):
            detail = "TLS handshake timed out"
            outcome = SmtpOutcome.TIMEOUT
        else:
            ssl_error = _find_cause(exc, ssl.SSLError)
            if ssl_error is not None:
                detail = f"TLS handshake failed: {ssl_error.reason or type(ssl_error).__name__}"
            else:
                detail = f"TLS handshake failed: connection lost ({_cause_name(exc)})"
            outcome = SmtpOutcome.TLS_FAILED
        self._record(step, code, detail, start)
        raise _Stop(outcome, step, detail)

    def _tls_context(self) -> ssl.SSLContext:
        """Verify against the system store (or `ca_file`), unless `insecure` was asked for."""
        try:
            context = ssl.create_default_context(cafile=self.settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            detail = f"cannot load CA file {self.settings.ca_file}: {_cause_name(exc)}"
            self._record(SmtpStepName.CONNECT, None, detail, time.monotonic())
            raise _Stop(SmtpOutcome.TLS_FAILED, SmtpStepName.CONNECT, detail) from None
        if self.settings.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _read_tls(self) -> None:
        """Version, cipher and certificate names of the session just established."""
        assert self.smtp is not None
        try:
            ssl_object = self.smtp.get_transport_info("ssl_object")
        except SMTPServerDisconnected:
            return
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return
        cipher = ssl_object.cipher()
        subject_cn, san_dns, not_after = certificate_names(ssl_object.getpeercert(True))
        self.tls = TlsInfo(
            version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            subject_cn=subject_cn,
            san_dns=san_dns,
            not_after=not_after,
            verified=not self.settings.insecure,
            verify_error=None,
        )

    async def _close(self) -> None:
        """Hang up now and let the loop release the socket before the probe returns.

        `abort()` rather than a graceful close: the dialogue is over (QUIT answered, or the
        connection is being dropped at 354), and a graceful TLS close waits for the peer's
        close_notify, which would outlive a probe run as the last thing in `asyncio.run()`
        and leave the socket to the garbage collector.
        """
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.abort()
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.close()
        if self.sock is not None:  # never handed to the client (see `_banner`)
            with contextlib.suppress(OSError):
                self.sock.close()
        # connection_lost (which closes the socket) runs on the next loop iterations.
        for _ in range(2):
            await asyncio.sleep(0)

    def _facts(self) -> SmtpProbeFacts:
        return SmtpProbeFacts(
            host=self.settings.host,
            port=self.settings.port,
            tls_mode=self.mode,
            server_hostname=self.server_hostname,
            outcome=self.outcome,
            failed_step=self.failed_step,
            detail=self.detail,
            steps=tuple(self.steps),
            tls=self.tls,
            auth_mechanisms=self.mechanisms,
            auth_mechanism_used=self.mechanism_used,
            insecure=self.settings.insecure,
            credential_shape=credential_shape(self.password),
            username_domain=username_domain(self.username),
            from_address=self.from_address,
            recipient=self.recipient,
            deep_data=self.deep_data,
            transcript=self.transcript.lines,
        )


def _plain_payload(username: str, password: Secret) -> bytes:
    """`base64(NUL username NUL password)`, UTF-8 (RFC 4616 §2), built at the last moment."""
    return base64.b64encode(b"\0" + _encode(username) + b"\0" + _encode(password.reveal()))


async def _open_socket(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket, trying each address of `host` in turn."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last_error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last_error if last_error is not None else OSError(f"no address for {host}")


def _address_literal(sock: socket.socket) -> str:
    """Our side's address as an EHLO address literal: `[192.0.2.1]` or `[IPv6:2001:db8::1]`."""
    try:
        address = ipaddress.ip_address(sock.getsockname()[0])
    except (OSError, ValueError):
        return "localhost"
    if address.version == 6:
        return f"[IPv6:{address.compressed}]"
    return f"[{address}]"


def _format_peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


def _find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of type `kind` in `exc`'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _cause_name(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause if cause is not None else exc).__name__

"""Real SMTP servers on loopback for the submission probe's tests.

Why real servers: the probe's value is in how it reads a real dialogue — TLS handshakes that fail
for a reason, AUTH exchanges, replies at the step where a provider really gives them, servers
that go silent or hang up. Mocking aiosmtplib would test our assumptions about it instead.

`SmtpTestServers` runs one asyncio loop in a background thread and starts, on 127.0.0.1 port 0:

* aiosmtpd submission servers with real TLS from a trustme CA — a STARTTLS listener and an
  implicit-TLS listener — with AUTH PLAIN/LOGIN for one login, `auth_required=True`, and
  Mailgun-/Postfix-style reply texts (`../shared/provider-facts.md` §1.5), a sender policy, a
  recipient policy, and a mode that answers DATA with Mailgun's free-account 421;
* certificates that fail verification for a reason: wrong name, expired, untrusted, self-signed;
* fault servers written on plain asyncio: accepts and never speaks, banner then silence, 421 at
  the banner, drops the connection after EHLO, a listener whose accept queue is full (connect
  timeout), and a port with nothing listening (connection refused).

Each listener counts connections (and the most open at once), AUTH attempts (mechanism and
result, never the password) and messages received, so tests can assert that identical probes
opened one connection, that caps held, and that the DATA step never delivered anything.

Usage::

    with SmtpTestServers() as servers:
        listener = servers.starttls(SmtpPolicy(password="s3cret"))
        # probe 127.0.0.1:listener.port, server_hostname=TLS_NAME, ca_file=servers.ca_file
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import shutil
import socket
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import trustme
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = [
    "FREE_ACCOUNT_421",
    "MAILGUN_535",
    "POSTFIX_535",
    "SANDBOX_550",
    "TLS_NAME",
    "Listener",
    "ListenerStats",
    "SmtpPolicy",
    "SmtpTestServers",
]

#: The name the good certificates are issued for (plus "localhost" and 127.0.0.1).
TLS_NAME = "smtp.test.example"

MAILGUN_535 = "535 5.7.0 Mailgun is not loving your login or password"
POSTFIX_535 = "535 5.7.8 Error: authentication failed: authentication failure"
SANDBOX_550 = (
    "550 5.7.1 Sandbox subdomains are for test purposes only. Please add your own domain or "
    "add the address to authorized recipients in domain settings."
)
FREE_ACCOUNT_421 = (
    "421 Domain sandbox0123456789abcdef0123456789abcdef.mailgun.org is not allowed to send: "
    "Free accounts are for test purposes only. Please upgrade or add the address to your "
    "authorized recipients."
)

_T = TypeVar("_T")
_LOOP_CALL_TIMEOUT = 10.0


@dataclass
class SmtpPolicy:
    """How a test submission server behaves."""

    username: str = "postmaster@mg.example.com"
    password: str = "correct horse battery staple"
    auth_failure_reply: str = MAILGUN_535
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    """Which built-in mechanisms to offer (after TLS)."""
    offer_auth: bool = True
    """False: no AUTH line in EHLO at all."""
    offer_starttls: bool = True
    allowed_sender_domains: tuple[str, ...] = ("mg.example.com",)
    allowed_recipients: tuple[str, ...] | None = None
    """None accepts every recipient; otherwise others get `recipient_reply`."""
    recipient_reply: str = SANDBOX_550
    data_reply: str | None = None
    """If set, DATA is answered with this reply (and the connection closed if it is a 421)."""
    ehlo_delay: float = 0.0
    """Seconds to wait before answering EHLO, to keep connections open for concurrency tests."""
    auth_delay: float = 0.0
    """Seconds to wait before processing AUTH, to make a client time out mid-AUTH."""


@dataclass
class ListenerStats:
    """What a listener saw. Mutated on the server thread; read after the probe finished."""

    connections: int = 0
    active: int = 0
    max_active: int = 0
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)

    def opened(self) -> None:
        self.connections += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)

    def closed(self) -> None:
        self.active -= 1


@dataclass
class Listener:
    """One listening port: where to connect and what it recorded."""

    host: str
    port: int
    kind: str
    stats: ListenerStats

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait until the server has seen every connection close (it learns asynchronously)."""
        deadline = time.monotonic() + timeout
        while self.stats.active > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.stats.active == 0


class _Handler:
    """aiosmtpd hooks implementing the policy (sender, recipient, DATA, EHLO tweaks)."""

    def __init__(self, policy: SmtpPolicy, stats: ListenerStats) -> None:
        self.policy = policy
        self.stats = stats

    async def handle_EHLO(  # aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.policy.ehlo_delay:
            await asyncio.sleep(self.policy.ehlo_delay)
        if not self.policy.offer_auth:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_AUTH(  # aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> Any:
        if self.policy.auth_delay:
            await asyncio.sleep(self.policy.auth_delay)
        return MISSING  # carry on with aiosmtpd's built-in PLAIN/LOGIN

    async def handle_MAIL(  # aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain not in self.policy.allowed_sender_domains:
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        allowed = self.policy.allowed_recipients
        if allowed is not None and address.lower() not in {a.lower() for a in allowed}:
            return self.policy.recipient_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.stats.messages.append(bytes(envelope.original_content or b""))
        return "250 OK queued"

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        """Accept exactly one login; compare bytes (UTF-8) so non-ASCII passwords are exact."""
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.policy.username.encode("utf-8")
            and auth_data.password == self.policy.password.encode("utf-8")
        )
        self.stats.auth_attempts.append((mechanism, ok))
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False, message=self.policy.auth_failure_reply)


class _SubmissionServer(SMTP):
    """aiosmtpd's SMTP with connection accounting and a DATA-refusal mode."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._policy = handler.policy
        self._stats = handler.stats
        self._closed_counted = False

    def connection_lost(self, error: Exception | None) -> None:
        if not self._closed_counted:
            self._closed_counted = True
            self._stats.closed()
        super().connection_lost(error)

    async def smtp_DATA(self, arg: str) -> None:
        reply = self._policy.data_reply
        if reply is None or self.envelope is None or not self.envelope.rcpt_tos:
            await super().smtp_DATA(arg)
            return
        # Mailgun refuses sandbox/free-account sends at DATA, before 354 (provider-facts §1.5).
        await self.push(reply)
        if reply.startswith("421") and self.transport is not None:
            self.transport.close()


class _FaultProtocol(asyncio.Protocol):
    """Base for hand-written misbehaving servers: counts connections, keeps the transport."""

    def __init__(self, stats: ListenerStats, transports: set[asyncio.BaseTransport]) -> None:
        self.stats = stats
        self.transports = transports
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.transports.add(transport)
        self.stats.opened()
        self.on_connect()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.transports.discard(self.transport)
        self.stats.closed()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            self.on_line(line.rstrip(b"\r"))

    def on_connect(self) -> None:
        """Called once the TCP connection is up."""

    def on_line(self, line: bytes) -> None:
        """Called for every line the client sends."""

    def write(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(text.encode("ascii") + b"\r\n")


class _Silent(_FaultProtocol):
    """Accepts TCP and never says anything."""


class _BannerThenSilence(_FaultProtocol):
    def on_connect(self) -> None:
        self.write("220 fault.test ESMTP")


class _Banner421(_FaultProtocol):
    def on_connect(self) -> None:
        self.write("421 4.3.2 Service not available, closing transmission channel")
        assert self.transport is not None
        self.transport.close()


class _DropAfterEhlo(_FaultProtocol):
    def on_connect(self) -> None:
        self.write("220 fault.test ESMTP")

    def on_line(self, line: bytes) -> None:
        if line.upper().startswith((b"EHLO", b"HELO")):
            self.write("250-fault.test")
            self.write("250-STARTTLS")
            self.write("250 AUTH PLAIN LOGIN")
            assert self.transport is not None
            self.transport.close()


class SmtpTestServers:
    """Starts and owns every test listener; a context manager that stops them all.

    The CA file clients should trust is `ca_file`; good certificates are for `TLS_NAME`,
    "localhost" and 127.0.0.1.
    """

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._tmp = Path(tempfile.mkdtemp(prefix="sendready-smtp-"))
        self.ca_file = str(self._tmp / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-test-servers", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: set[asyncio.BaseTransport] = set()
        self._smtp_protocols: list[_SubmissionServer] = []
        self._raw_sockets: list[socket.socket] = []
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> SmtpTestServers:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_LOOP_CALL_TIMEOUT)
            self._started = False
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()
        for sock in self._raw_sockets:
            sock.close()
        self._raw_sockets.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SmtpTestServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for proto in self._smtp_protocols:
            if proto.transport is not None:
                proto.transport.close()
        for transport in list(self._transports):
            transport.close()
        await asyncio.sleep(0.05)
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if not self._started:
            self.start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_LOOP_CALL_TIMEOUT)

    # -- certificates --------------------------------------------------------------------------

    def server_context(
        self,
        names: tuple[str, ...] = (TLS_NAME, "localhost", "127.0.0.1"),
        *,
        expired: bool = False,
        ca: trustme.CA | None = None,
        self_signed: bool = False,
    ) -> ssl.SSLContext:
        """A server-side TLS context with a certificate that passes or fails for one reason."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if self_signed:
            # A CA certificate is self-signed; used as a leaf it fails with "self-signed".
            other = trustme.CA()
            cert_path = self._tmp / f"self-signed-{id(other)}.pem"
            key_path = self._tmp / f"self-signed-{id(other)}.key"
            other.cert_pem.write_to_path(str(cert_path))
            other.private_key_pem.write_to_path(str(key_path))
            context.load_cert_chain(str(cert_path), str(key_path))
            return context
        issuer = ca if ca is not None else self.ca
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            cert = issuer.issue_cert(
                *names,
                not_before=now - datetime.timedelta(days=30),
                not_after=now - datetime.timedelta(days=1),
            )
        else:
            cert = issuer.issue_cert(*names)
        cert.configure_cert(context)
        return context

    # -- submission servers --------------------------------------------------------------------

    def starttls(
        self, policy: SmtpPolicy | None = None, *, context: ssl.SSLContext | None = None
    ) -> Listener:
        """A submission server that offers STARTTLS and AUTH only after TLS (like port 587)."""
        policy = policy or SmtpPolicy()
        tls = context if context is not None else self.server_context()
        return self._call(
            self._start_submission(policy, "starttls", tls if policy.offer_starttls else None, None)
        )

    def implicit(
        self, policy: SmtpPolicy | None = None, *, context: ssl.SSLContext | None = None
    ) -> Listener:
        """A submission server with TLS from the first byte (like port 465)."""
        policy = policy or SmtpPolicy()
        tls = context if context is not None else self.server_context()
        return self._call(self._start_submission(policy, "implicit", None, tls))

    async def _start_submission(
        self,
        policy: SmtpPolicy,
        kind: str,
        starttls_context: ssl.SSLContext | None,
        implicit_context: ssl.SSLContext | None,
    ) -> Listener:
        loop = asyncio.get_running_loop()
        stats = ListenerStats()
        handler = _Handler(policy, stats)
        excluded = [m for m in ("PLAIN", "LOGIN") if m not in policy.mechanisms]

        def factory() -> _SubmissionServer:
            stats.opened()
            with warnings.catch_warnings():
                # aiosmtpd warns when AUTH does not require STARTTLS; on the implicit-TLS
                # listener the whole session is already encrypted (and aiosmtpd does not know
                # it, so auth_require_tls=True would refuse AUTH there with 538).
                warnings.simplefilter("ignore")
                proto = _SubmissionServer(
                    handler,
                    hostname=TLS_NAME,
                    ident="ESMTP sendready-test",
                    tls_context=starttls_context,
                    auth_required=True,
                    auth_require_tls=implicit_context is None,
                    authenticator=handler.authenticate,
                    auth_exclude_mechanism=excluded,
                    enable_SMTPUTF8=True,
                    timeout=30,
                    loop=loop,
                )
            self._smtp_protocols.append(proto)
            return proto

        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=implicit_context)
        self._servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return Listener("127.0.0.1", port, kind, stats)

    # -- fault servers -------------------------------------------------------------------------

    def silent(self) -> Listener:
        """Accepts TCP and never speaks (no banner, no TLS handshake)."""
        return self._fault(_Silent, "silent")

    def banner_then_silence(self) -> Listener:
        """Sends `220`, then never answers anything."""
        return self._fault(_BannerThenSilence, "banner_then_silence")

    def banner_421(self) -> Listener:
        """Greets with `421` and closes, like an overloaded or throttling server."""
        return self._fault(_Banner421, "banner_421")

    def drop_after_ehlo(self) -> Listener:
        """Answers EHLO (offering STARTTLS and AUTH) and then hangs up."""
        return self._fault(_DropAfterEhlo, "drop_after_ehlo")

    def _fault(self, protocol: Callable[..., _FaultProtocol], kind: str) -> Listener:
        stats = ListenerStats()

        async def start() -> Listener:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: protocol(stats, self._transports), "127.0.0.1", 0)
            self._servers.append(server)
            return Listener("127.0.0.1", server.sockets[0].getsockname()[1], kind, stats)

        return self._call(start())

    def blackhole(self) -> Listener:
        """A port whose accept queue is full, so new TCP connections time out.

        With `listen(0)` Linux queues one connection; a filler connection takes that place and
        the kernel then drops further SYNs, which is what a filtered port looks like.
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        self._raw_sockets.append(listener)
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.settimeout(0.2)
            with contextlib.suppress(OSError):
                filler.connect(("127.0.0.1", port))
            self._raw_sockets.append(filler)
        return Listener("127.0.0.1", port, "blackhole", ListenerStats())

    def refused_port(self) -> int:
        """A loopback port with nothing listening (bound, read, closed)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        sock.close()
        return port

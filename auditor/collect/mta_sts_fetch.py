"""Fetch MTA-STS policies over HTTPS (RFC 8461 §3.3), at most once per policy host per run.

`GET https://mta-sts.<domain>/.well-known/mta-sts.txt`, as a sending MTA would: the certificate
must be valid for the `mta-sts` host, redirects are not followed, the media type must be
`text/plain`, and the body is capped (`max_bytes`, 64 KiB by default: real policies are a few
hundred bytes) and time-bounded (`timeout` for the whole fetch, connection to last byte).

The host's address comes from the run's own resolver (so `--zone-dir` and `--nameserver` runs
never ask the system's DNS); `connect_to` maps a policy host (or `*`) to an `address:port` to
connect to instead, keeping the host name for SNI, certificate checks and the Host header. Tests
use it to reach a loopback server with its own CA (`verify=<CA file>`).

Outcomes are data (STYLE §2.2.3). An answer that shows the policy is broken is a fact
(`MtaStsPolicyFacts.problem`): HTTP status other than 200, a redirect, the wrong media type, a
body over the cap, bad syntax, a certificate that does not verify, a policy host that does not
exist. No answer at all is a `Failure`: timeout (TIMEOUT), connection refused or reset (NETWORK),
5xx (SERVFAIL), the address lookup failing (its DNS failure).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Mapping

import dns.rdatatype
import httpx

from auditor._version import __version__
from auditor.collect.dns.answers import AnswerStatus
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.facts import Failure, FailureKind
from auditor.model.mail_domain import MtaStsPolicyFacts
from auditor.protocol.mta_sts import parse_policy

__all__ = ["DEFAULT_MAX_BYTES", "MtaStsPolicyClient", "parse_connect_to", "policy_url"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024
WELL_KNOWN_PATH = "/.well-known/mta-sts.txt"


def policy_url(domain: str) -> str:
    """Where RFC 8461 §3.3 puts the policy of `domain`."""
    return f"https://mta-sts.{domain}{WELL_KNOWN_PATH}"


def parse_connect_to(item: str) -> tuple[str, tuple[str, int]]:
    """`HOST=ADDRESS:PORT` (HOST may be `*`; IPv6 as `[::1]:8443`) → (host, (address, port)).

    Raises ValueError with a one-line reason.
    """
    host, equals, target = item.partition("=")
    host = host.strip().lower().rstrip(".")
    address, colon, port_text = target.strip().rpartition(":")
    address = address.removeprefix("[").removesuffix("]")
    if not equals or not host or not colon or not port_text.isdigit():
        raise ValueError(f"expected HOST=ADDRESS:PORT, got {item!r}")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address") from None
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return host, (address, port)


class MtaStsPolicyClient:
    """Fetches policies with one shared connection pool; concurrency-bounded and de-duplicated.

    Args:
        resolver: the run's resolver, for the policy host's address.
        timeout: seconds for one whole fetch (connect, TLS, headers and body).
        verify: True for the system trust store, or a CA file path (private CAs and tests).
        connect_to: policy host (or `*`) → (address, port) to connect to instead of the DNS
            address and port 443.
        max_bytes: largest body accepted.
        max_concurrent: fetches in flight at once across the run.
        transport: an httpx transport to use instead of the network one.
    """

    def __init__(
        self,
        resolver: CachingResolver,
        *,
        timeout: float = 10.0,
        verify: str | bool = True,
        connect_to: Mapping[str, tuple[str, int]] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_concurrent: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._resolver = resolver
        self._timeout = timeout
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self._connect_to = {k.lower().rstrip("."): v for k, v in (connect_to or {}).items()}
        self._max_bytes = max_bytes
        self._limit = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._fetches: dict[str, asyncio.Task[MtaStsPolicyFacts | Failure]] = {}
        self.fetches_sent = 0

    async def aclose(self) -> None:
        for task in self._fetches.values():
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, domain: str) -> MtaStsPolicyFacts | Failure:
        """The policy of `domain`; concurrent and repeated calls for one host share one fetch."""
        host = f"mta-sts.{domain.lower().rstrip('.')}"
        task = self._fetches.get(host)
        if task is None:
            task = asyncio.ensure_future(self._fetch_bounded(host))
            self._fetches[host] = task
        # shield: one caller's cancellation must not cancel the fetch other domains wait on.
        return await asyncio.shield(task)

    async def _fetch_bounded(self, host: str) -> MtaStsPolicyFacts | Failure:
        url = f"https://{host}{WELL_KNOWN_PATH}"
        async with self._limit:
            target = await self._address(host)
            if not isinstance(target, tuple):
                return target if isinstance(target, Failure) else MtaStsPolicyFacts(url, target)
            self.fetches_sent += 1
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._get(url, host, *target)
            except TimeoutError:
                return Failure(FailureKind.TIMEOUT, f"{url}: no complete answer within {self._timeout:g}s")
            except httpx.TimeoutException:
                return Failure(FailureKind.TIMEOUT, f"{url}: no complete answer within {self._timeout:g}s")
            except httpx.HTTPError as exc:
                return _transport_outcome(url, exc)
            except (ssl.SSLError, OSError) as exc:
                return Failure(FailureKind.NETWORK, f"{url}: {exc.__class__.__name__}")

    async def _address(self, host: str) -> tuple[str, int] | Failure | str:
        """(address, port) to connect to, a Failure, or a problem text (the host does not exist)."""
        override = self._connect_to.get(host) or self._connect_to.get("*")
        if override is not None:
            return override
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            answer = await self._resolver.resolve(host, rdtype)
            if answer.ok:
                return str(answer.rdatas[0]), 443
            if not answer.definitive:
                return answer.failure()
            if answer.status is AnswerStatus.NXDOMAIN:
                return f"the policy host {host} does not exist (NXDOMAIN)"
        return f"the policy host {host} has no A or AAAA record"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                transport=self._transport,
                verify=self._verify,
                trust_env=False,
                follow_redirects=False,  # RFC 8461 §3.3: redirects MUST NOT be followed
                # No kept-alive connections: requests go to an address, and two policy hosts on one
                # address must each get their own TLS handshake (SNI and certificate check).
                limits=httpx.Limits(max_connections=self._max_concurrent, max_keepalive_connections=0),
                headers={"User-Agent": f"sendready/{__version__}", "Accept": "text/plain"},
            )
        return self._client

    async def _get(self, url: str, host: str, address: str, port: int) -> MtaStsPolicyFacts | Failure:
        netloc = f"[{address}]" if ":" in address else address
        request = self._http().build_request(
            "GET",
            f"https://{netloc}:{port}{WELL_KNOWN_PATH}",
            headers={"Host": host},
            extensions={"sni_hostname": host},
        )
        response = await self._http().send(request, stream=True)
        try:
            status = response.status_code
            if 300 <= status < 400:
                where = response.headers.get("location", "")
                target = f" to {where[:200]}" if where else ""
                return MtaStsPolicyFacts(url, f"HTTP {status} redirect{target}; senders do not follow it")
            if status >= 500:
                return Failure(FailureKind.SERVFAIL, f"{url}: HTTP {status}")
            if status != 200:
                return MtaStsPolicyFacts(url, f"HTTP {status}; senders find no policy")
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "text/plain":
                shown = media_type or "none"
                return MtaStsPolicyFacts(url, f"media type {shown[:80]}, not text/plain")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                return MtaStsPolicyFacts(
                    url, f"body of {declared} bytes is over the {self._max_bytes}-byte cap"
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > self._max_bytes:
                    return MtaStsPolicyFacts(url, f"body is over the {self._max_bytes}-byte cap")
        finally:
            await response.aclose()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return MtaStsPolicyFacts(url, "the body is not UTF-8 text")
        policy = parse_policy(text)
        problem = f"invalid policy: {'; '.join(policy.errors)}" if policy.errors else None
        return MtaStsPolicyFacts(
            url, problem, policy.version, policy.mode, policy.max_age, policy.mx, policy.errors
        )


def _transport_outcome(url: str, exc: httpx.HTTPError) -> MtaStsPolicyFacts | Failure:
    """A certificate that does not verify is the policy's problem; anything else is no answer."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "verification failed"
            return MtaStsPolicyFacts(url, f"the certificate does not verify ({reason})")
        cause = cause.__cause__ or cause.__context__
    log.debug("MTA-STS fetch of %s failed", url, exc_info=True)
    return Failure(FailureKind.NETWORK, f"{url}: {exc.__class__.__name__}")

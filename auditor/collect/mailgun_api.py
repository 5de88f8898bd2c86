"""Ask Mailgun's domains API what it knows about a domain (issue 3, item 3: the account cross-check).

`GET {base}/v4/domains/{name}` on the regional base URL returns the domain's state, type and the DNS
records Mailgun expects (provider-facts §1.4). Each domain lives in exactly one region, and the
wrong region answers 404 (`Domain not found`) or, for some users, 401, so the client asks the
hinted region first and then the others: the region that answers 200 is where the domain lives.

Outcomes are data, never exceptions (STYLE §2.2.3): `AccountFacts` when an API answered
definitively (found, or 404 from every region), otherwise a `Failure`:

| What happened                                  | FailureKind | Why this kind                              |
|------------------------------------------------|-------------|--------------------------------------------|
| 401 from every region                          | REFUSED     | the provider refused the credential        |
| 404 in one region, 401 in another              | REFUSED     | the refusing region might hold the domain  |
| 429 (`{"retry-seconds": N}`)                   | REFUSED     | refused for now; detail says when to retry |
| 403, 3xx or another unexpected status          | REFUSED     | the API would not answer the question      |
| 5xx                                            | SERVFAIL    | the server failed, as a DNS SERVFAIL does  |
| connection refused, TLS failure, reset         | NETWORK     | nothing definitive was received            |
| no complete answer within `timeout`            | TIMEOUT     |                                            |
| body not JSON, wrong shape, or over 1 MiB      | MALFORMED   |                                            |

The API allows 300 requests a minute per account, so requests are paced (`requests_per_second`,
4.5 by default: 270 a minute) across every domain of the run. A 429 that asks for a short wait (at
most `retry_wait_limit` seconds) is waited out and the same request asked once more; a longer one
stops the search at once, since asking the other region would only spend more of the limit.
Failures to connect stop it too, since a domain not found elsewhere could still live in the
unreachable region.

The API key arrives as a `Secret` (see `auditor.collect.smtp.secrets.resolve_secret`) and is
revealed only to build each request's basic-auth header (user `api`, provider-facts §1.2). It is
never stored in a URL (httpx logs request lines), never in facts or failure details, and any text
taken from an exception is scrubbed of the key and its base64 forms before it is kept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from auditor._version import __version__
from auditor.collect.smtp.secrets import Secret
from auditor.engine.catalogue import Catalogue
from auditor.model.account import AccountFacts, ExpectedRecord, RecordPurpose
from auditor.model.facts import Failure, FailureKind

__all__ = ["MAX_BODY_BYTES", "MailgunAccountClient", "api_base_urls", "parse_domain_answer"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
"""A domain answer is a few kilobytes; anything far larger is not the documented shape."""

PROVIDER = "mailgun"


def api_base_urls(catalogue: Catalogue, provider: str = PROVIDER) -> dict[str, str]:
    """Region → API base URL from the provider catalogue (`regions.<r>.api_base`), in catalogue order.

    The catalogue is the one place the endpoints are written down (us `https://api.mailgun.net`,
    eu `https://api.eu.mailgun.net`); tests and private deployments pass their own mapping instead.
    """
    return {spec.region: spec.api_base for spec in catalogue.provider_regions(provider)}


class MailgunAccountClient:
    """Fetches `AccountFacts` for domains, one request per region tried.

    Use it as an async context manager to share one connection pool across many domains; a bare
    `fetch` outside the context opens and closes a pool for that call. Proxy and `.netrc`
    settings from the environment are ignored on purpose (`trust_env=False`): configuration is
    passed explicitly, and an ambient `.netrc` must never replace the key.

    Args:
        base_urls: region → base URL, tried in this order after the hinted region
            (see `api_base_urls` for the catalogue's values).
        api_key: the resolved private API key.
        timeout: seconds for the whole of one request, connection to last body byte.
        transport: an httpx transport to use instead of the network one (tests).
        verify: True for the system trust store, a CA file path for private endpoints and tests,
            False to skip verification (only when the user asked for it).
        max_connections: connections open at once, across all domains; the API is rate-limited
            per account, so there is nothing to gain from many.
        requests_per_second: pace of requests across all domains (None: unpaced).
        retry_wait_limit: longest `retry-seconds` of a 429 that is waited out and retried once.
    """

    def __init__(
        self,
        base_urls: Mapping[str, str],
        api_key: Secret,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: str | bool = True,
        max_connections: int = 4,
        requests_per_second: float | None = 4.5,
        retry_wait_limit: float = 10.0,
    ) -> None:
        if not base_urls:
            raise ValueError("at least one regional API base URL is needed")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._base_urls = {str(region): url.rstrip("/") for region, url in base_urls.items()}
        self._key = api_key
        self._timeout = timeout
        self._transport = transport
        self._verify = _verify_setting(verify)
        self._max_connections = max_connections
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._next_send = 0.0
        self._retry_wait_limit = retry_wait_limit
        self._client: httpx.AsyncClient | None = None
        self.requests_sent = 0

    def __repr__(self) -> str:
        regions = ", ".join(self._base_urls)
        return f"MailgunAccountClient(regions=[{regions}], api_key={self._key!r})"

    async def __aenter__(self) -> MailgunAccountClient:
        if self._client is None:
            self._client = self._new_client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared connection pool, if one is open."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def fetch(self, domain: str, region_hint: str | None) -> AccountFacts | Failure:
        """What the account knows about `domain`, asking `region_hint`'s API first.

        `region_hint` is the declared or detected region (`us`, `eu`); None, `auto` or a region
        without a base URL means "in `base_urls` order". Never raises for network or HTTP trouble.
        """
        order = self._order(region_hint)
        if self._client is not None:
            return await self._search(self._client, domain, order)
        async with self._new_client() as client:
            return await self._search(client, domain, order)

    def _order(self, region_hint: str | None) -> list[str]:
        regions = list(self._base_urls)
        hint = str(region_hint).lower() if region_hint is not None else None
        if hint in self._base_urls:
            regions.remove(hint)
            regions.insert(0, hint)
        return regions

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout),
            transport=self._transport,
            verify=self._verify,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self._max_connections),
            headers={"Accept": "application/json", "User-Agent": f"sendready/{__version__}"},
        )

    async def _search(
        self, client: httpx.AsyncClient, domain: str, order: list[str]
    ) -> AccountFacts | Failure:
        first = order[0]
        tried: list[tuple[str, int]] = []
        for region in order:
            base = self._base_urls[region]
            log.debug("asking the %s domains API about %s", region, domain)
            answer = await self._get_waiting(client, base, region, domain)
            if isinstance(answer, Failure):
                return answer
            status, body, retry_after = answer
            if status == 200:
                return parse_domain_answer(
                    body, domain=domain, region=region, api_base=base, region_queried=first
                )
            if status in (401, 404):
                tried.append((region, status))
                continue
            if status == 429:
                wait = _retry_seconds(body, retry_after)
                when = f"retry after {wait} s" if wait is not None else "retry later"
                return Failure(FailureKind.REFUSED, f"rate limited by the {region} API (HTTP 429), {when}")
            if status >= 500:
                return Failure(FailureKind.SERVFAIL, f"the {region} API failed (HTTP {status})")
            return Failure(FailureKind.REFUSED, f"the {region} API answered HTTP {status}")
        summary = ", ".join(f"{region}: HTTP {status}" for region, status in tried)
        statuses = {status for _, status in tried}
        if statuses == {404}:
            return AccountFacts(
                provider=PROVIDER,
                region_queried=first,
                api_base=self._base_urls[first],
                found=False,
                region_found=None,
                state=None,
                is_disabled=False,
                domain_type=None,
                smtp_login=None,
                web_prefix=None,
                expected=(),
                http_status=404,
                detail=f"no regional API knows {domain} ({summary})",
            )
        if statuses == {401}:
            return Failure(FailureKind.REFUSED, f"API key rejected by every regional API ({summary})")
        # Mailgun says keys are global, yet users report 401 from the wrong region (§1.4): the
        # region that refused could still be where the domain lives, so "not found" is a guess.
        return Failure(
            FailureKind.REFUSED,
            f"{domain} not found where the API key was accepted, and the key was rejected "
            f"elsewhere ({summary}); cannot tell whether the domain exists",
        )

    async def _get_waiting(
        self, client: httpx.AsyncClient, base: str, region: str, domain: str
    ) -> tuple[int, bytes, str | None] | Failure:
        """`_get`, and once more after a 429 that asks for a short wait (`retry_wait_limit`)."""
        answer = await self._get(client, base, region, domain)
        if isinstance(answer, Failure) or answer[0] != 429:
            return answer
        wait = _retry_seconds(answer[1], answer[2])
        if wait is None or wait > self._retry_wait_limit:
            return answer
        log.debug("the %s API asked to wait %s s; retrying once", region, wait)
        await asyncio.sleep(wait)
        return await self._get(client, base, region, domain)

    async def _get(
        self, client: httpx.AsyncClient, base: str, region: str, domain: str
    ) -> tuple[int, bytes, str | None] | Failure:
        """One GET, fully read within the timeout; transport trouble becomes a `Failure`."""
        await self._pace()
        url = f"{base}/v4/domains/{quote(domain, safe='')}"
        where = f"the {region} API ({httpx.URL(base).host})"
        try:
            async with asyncio.timeout(self._timeout):
                # The key goes only into the Authorization header, built for this request.
                auth = httpx.BasicAuth("api", self._key.reveal())
                async with client.stream("GET", url, auth=auth) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            return Failure(
                                FailureKind.MALFORMED,
                                f"{where} sent more than {MAX_BODY_BYTES} bytes; not a domain answer",
                            )
                    return response.status_code, bytes(body), response.headers.get("retry-after")
        except (TimeoutError, httpx.TimeoutException):
            return Failure(FailureKind.TIMEOUT, f"{where} did not answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Failure(FailureKind.NETWORK, f"{where} unreachable: {self._reason(exc)}")
        except OSError as exc:  # pragma: no cover - httpx wraps these normally
            return Failure(FailureKind.NETWORK, f"{where} unreachable: {self._reason(exc)}")

    async def _pace(self) -> None:
        """Wait for this request's turn so the run stays under the account's rate limit."""
        self.requests_sent += 1
        if not self._interval:
            return
        now = time.monotonic()
        self._next_send = max(self._next_send + self._interval, now)
        delay = self._next_send - now
        if delay > 0:
            await asyncio.sleep(delay)

    def _reason(self, exc: BaseException) -> str:
        """An exception's own words, shortened, with every form of the key removed."""
        text = str(exc).strip() or exc.__class__.__name__
        # TLS errors nest their cause; the innermost message is the useful one.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLError) and str(cause):
            text = str(cause)
        return _scrub(text, self._key)[:300]


def parse_domain_answer(
    body: bytes, *, domain: str, region: str, api_base: str, region_queried: str
) -> AccountFacts | Failure:
    """Turn a 200 answer's body (the documented `GET /v4/domains/{name}` shape) into facts.

    Strict about types, tolerant about absence: a missing optional field is None, a field of the
    wrong type makes the whole answer `MALFORMED`, since a half-understood answer would compare
    the wrong records. Records marked `is_active: false` (inactive DKIM keys) are left out: Mailgun
    does not sign with them, so DNS need not serve them.
    """
    where = f"the {region} API"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Failure(FailureKind.MALFORMED, f"{where} answered 200 with a body that is not JSON")
    try:
        return _facts(data, domain=domain, region=region, api_base=api_base, region_queried=region_queried)
    except _Malformed as exc:
        return Failure(FailureKind.MALFORMED, f"{where} answered 200 in an unexpected shape: {exc}")


class _Malformed(ValueError):
    """A field of the answer has the wrong type; the message names the field, not its value."""


def _facts(data: Any, *, domain: str, region: str, api_base: str, region_queried: str) -> AccountFacts:
    if not isinstance(data, dict):
        raise _Malformed("top level is not an object")
    info = data.get("domain")
    if not isinstance(info, dict):
        raise _Malformed("no `domain` object")
    name = _text(info, "name", "domain")
    if name is not None and _norm(name) != _norm(domain):
        raise _Malformed("`domain.name` is a different domain")
    state = _lower(_text(info, "state", "domain"))
    disabled_flag = info.get("is_disabled", False)
    if not isinstance(disabled_flag, bool):
        raise _Malformed("`domain.is_disabled` is not a boolean")
    inactive = 0
    expected: list[ExpectedRecord] = []
    for key, purpose in (("sending_dns_records", "sending"), ("receiving_dns_records", "receiving")):
        records, skipped = _records(data.get(key), key, purpose, name or domain)
        expected.extend(records)
        inactive += skipped
    detail = f"found in the {region} API"
    if region != region_queried:
        detail += f" (asked {region_queried} first)"
    if inactive:
        detail += f"; {inactive} inactive record(s) left out"
    return AccountFacts(
        provider=PROVIDER,
        region_queried=region_queried,
        api_base=api_base,
        found=True,
        region_found=region,
        state=state,
        # The flag and the state can disagree in older answers; either one means "cannot send".
        is_disabled=disabled_flag or state == "disabled",
        domain_type=_lower(_text(info, "type", "domain")),
        smtp_login=_text(info, "smtp_login", "domain"),
        web_prefix=_text(info, "web_prefix", "domain"),
        expected=tuple(expected),
        http_status=200,
        detail=detail,
    )


def _records(raw: Any, key: str, purpose: RecordPurpose, domain: str) -> tuple[list[ExpectedRecord], int]:
    if raw is None:
        return [], 0
    if not isinstance(raw, list):
        raise _Malformed(f"`{key}` is not a list")
    out: list[ExpectedRecord] = []
    skipped = 0
    for index, item in enumerate(raw):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise _Malformed(f"`{where}` is not an object")
        active = item.get("is_active", True)
        if active is False:
            skipped += 1
            continue
        record_type = _text(item, "record_type", where)
        value = _text(item, "value", where)
        if not record_type or value is None:
            raise _Malformed(f"`{where}` lacks record_type or value")
        cached = item.get("cached")
        if cached is None:
            cached = []
        if not isinstance(cached, list) or not all(isinstance(c, str) for c in cached):
            raise _Malformed(f"`{where}.cached` is not a list of strings")
        out.append(
            ExpectedRecord(
                purpose=purpose,
                record_type=record_type.upper(),
                # Receiving (MX) records come without a name: they belong at the domain itself.
                name=_text(item, "name", where) or domain,
                value=value,
                priority=_priority(item.get("priority"), where),
                # `valid`/`VALID`, `unknown`/`UNKNOWN` both occur (provider-facts §1.4).
                provider_valid=_lower(_text(item, "valid", where)),
                cached=tuple(cached),
            )
        )
    return out, skipped


def _text(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(f"`{where}.{key}` is not a string")
    return value


def _priority(value: Any, where: str) -> int | None:
    # The documented sample sends `"priority": "10"` (a string); SDKs declare an integer.
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _Malformed(f"`{where}.priority` is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise _Malformed(f"`{where}.priority` is not a number")


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _retry_seconds(body: bytes, header: str | None) -> int | None:
    """`{"retry-seconds": 60}` (provider-facts §1.4), else a numeric Retry-After header."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        value = data.get("retry-seconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return int(value)
    if header is not None and header.strip().isdigit():
        return int(header.strip())
    return None


def _verify_setting(verify: str | bool) -> ssl.SSLContext | bool:
    # httpx 0.28 deprecates `verify=<path>`; an explicit context says the same thing.
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def _scrub(text: str, key: Secret) -> str:
    """Remove the key, and the base64 forms a basic-auth header would carry, from `text`."""
    secret = key.reveal()
    if not secret:
        return text
    forms = {
        secret,
        base64.b64encode(f"api:{secret}".encode()).decode("ascii"),
        base64.b64encode(secret.encode()).decode("ascii"),
    }
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text

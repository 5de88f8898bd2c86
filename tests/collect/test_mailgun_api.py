"""The Mailgun account client against real HTTP servers on loopback (issue 3, item 3).

Two `ThreadingHTTPServer`s stand in for the US and EU domains APIs and answer in the documented
shapes (provider-facts §1.4): one JSON object per domain, `404 Domain not found` from the wrong
region, `401 Forbidden`, `429 {"retry-seconds": 60}`. The client under test is the real one, with
its real httpx transport; nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from auditor.collect.mailgun_api import MailgunAccountClient, api_base_urls
from auditor.collect.smtp.secrets import Secret, resolve_secret
from auditor.engine.catalogue import load_catalogue
from auditor.model.account import AccountFacts
from auditor.model.facts import Failure, FailureKind
from auditor.model.inventory import SecretRef
from auditor.resources import rules_dir
from tests.servers.mailgun_api_server import Apis, FakeDomainsApi, Reply, as_json, domain_body, start, stop

DOMAIN = "mg.example.com"
KEY = "key-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CANARY = "key-canary0123456789abcdef0123456789"
FAST = 0.3


@pytest.fixture(scope="module")
def running() -> Iterator[Apis]:
    apis = Apis(FakeDomainsApi("us"), FakeDomainsApi("eu"))
    start(apis.us)
    start(apis.eu)
    yield apis
    stop(apis.us)
    stop(apis.eu)


@pytest.fixture
def apis(running: Apis) -> Apis:
    """The module's servers with no scripted replies and no recorded requests."""
    for api in (running.us, running.eu):
        api.replies.clear()
        api.queued.clear()
        api.default = None
        api.seen.clear()
    return running


def domain_answer(
    name: str = DOMAIN,
    *,
    state: str = "active",
    kind: str = "custom",
    is_disabled: bool = False,
    region: str = "us",
    valid: str = "valid",
) -> dict[str, Any]:
    """A `GET /v4/domains/{name}` body in the documented shape (mailgun docs, mailgun-go)."""
    suffix = "eu.mailgun.org" if region == "eu" else "mailgun.org"
    mx = "mxa.eu.mailgun.org" if region == "eu" else "mxa.mailgun.org"
    return domain_body(
        name,
        state=state,
        kind=kind,
        is_disabled=is_disabled,
        receiving=[
            {"priority": "10", "record_type": "MX", "valid": valid.upper(), "value": mx, "cached": [mx]},
            {"priority": "10", "record_type": "MX", "valid": "Unknown", "value": mx.replace("mxa", "mxb")},
        ],
        sending=[
            {
                "record_type": "TXT",
                "valid": valid,
                "name": name,
                "value": "v=spf1 include:mailgun.org ~all",
                "cached": ["v=spf1 include:mailgun.org ~all"],
                "is_active": True,
            },
            {
                "record_type": "TXT",
                "valid": "UNKNOWN",
                "name": f"k1._domainkey.{name}",
                "value": "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC",
                "cached": [],
                "is_active": True,
            },
            {
                "record_type": "TXT",
                "valid": "unknown",
                "name": f"old._domainkey.{name}",
                "value": "k=rsa; p=MIGfOLD",
                "cached": [],
                "is_active": False,
            },
            {
                "record_type": "CNAME",
                "valid": valid,
                "name": f"email.{name}",
                "value": suffix,
                "cached": [suffix],
            },
        ],
    )


FORBIDDEN = Reply(401, b"Forbidden", content_type="text/plain")


def fetch(
    base_urls: dict[str, str],
    hint: str | None,
    *,
    key: str = KEY,
    domain: str = DOMAIN,
    timeout: float = 5.0,
    verify: str | bool = True,
) -> AccountFacts | Failure:
    client = MailgunAccountClient(base_urls, Secret(key), timeout=timeout, verify=verify)
    return asyncio.run(client.fetch(domain, hint))


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{key}".encode()).decode()


# --- found, and where -----------------------------------------------------------------------------


def test_found_in_the_hinted_region(apis: Apis) -> None:
    # Given the US API knows the domain
    apis.us.replies[DOMAIN] = as_json(domain_answer())
    # When we ask with the US hint
    facts = fetch(apis.base_urls, "us")
    # Then one request was enough, with the key as basic auth for user `api`
    assert isinstance(facts, AccountFacts)
    assert (facts.found, facts.region_queried, facts.region_found) == (True, "us", "us")
    assert facts.api_base == apis.us.base_url
    assert (facts.state, facts.is_disabled, facts.domain_type, facts.is_sandbox) == (
        "active",
        False,
        "custom",
        False,
    )
    assert facts.smtp_login == f"postmaster@{DOMAIN}"
    assert facts.web_prefix == "email"
    assert facts.http_status == 200
    assert [s.path for s in apis.us.seen] == [f"/v4/domains/{DOMAIN}"]
    assert apis.us.seen[0].authorization == basic(KEY)
    assert apis.eu.seen == []
    # And the records are parsed; `valid` is lower-cased whatever case Mailgun used
    by_type = [(r.purpose, r.record_type, r.name, r.priority, r.provider_valid) for r in facts.expected]
    assert by_type == [
        ("sending", "TXT", DOMAIN, None, "valid"),
        ("sending", "TXT", f"k1._domainkey.{DOMAIN}", None, "unknown"),
        ("sending", "CNAME", f"email.{DOMAIN}", None, "valid"),
        ("receiving", "MX", DOMAIN, 10, "valid"),
        ("receiving", "MX", DOMAIN, 10, "unknown"),
    ]
    assert facts.expected[0].cached == ("v=spf1 include:mailgun.org ~all",)
    # And the inactive DKIM key is left out, and said so
    assert all("old._domainkey" not in r.name for r in facts.expected)
    assert "1 inactive" in facts.detail


def test_found_only_in_the_other_region(apis: Apis) -> None:
    # Given the domain lives in the EU, but the hint says US (the US API answers its 404)
    apis.eu.replies[DOMAIN] = as_json(domain_answer(region="eu"))
    facts = fetch(apis.base_urls, "us")
    # Then the US API was asked first, the EU one knew the domain
    assert isinstance(facts, AccountFacts)
    assert (facts.found, facts.region_queried, facts.region_found) == (True, "us", "eu")
    assert facts.api_base == apis.eu.base_url
    assert len(apis.us.seen) == 1 and len(apis.eu.seen) == 1
    assert "asked us first" in facts.detail


def test_401_in_the_hinted_region_then_found_in_the_other(apis: Apis) -> None:
    # Some users see 401, not 404, from the wrong region (provider-facts §1.4)
    apis.us.default = FORBIDDEN
    apis.eu.replies[DOMAIN] = as_json(domain_answer(region="eu"))
    facts = fetch(apis.base_urls, "us")
    assert isinstance(facts, AccountFacts)
    assert facts.region_found == "eu"


def test_hint_eu_asks_eu_first(apis: Apis) -> None:
    apis.eu.replies[DOMAIN] = as_json(domain_answer(region="eu"))
    facts = fetch(apis.base_urls, "eu")
    assert isinstance(facts, AccountFacts)
    assert (facts.region_queried, facts.region_found) == ("eu", "eu")
    assert apis.us.seen == []


def test_no_hint_follows_the_mapping_order(apis: Apis) -> None:
    apis.eu.replies[DOMAIN] = as_json(domain_answer(region="eu"))
    facts = fetch(apis.base_urls, "auto")
    assert isinstance(facts, AccountFacts)
    assert (facts.region_queried, facts.region_found) == ("us", "eu")


def test_not_found_anywhere_is_a_fact(apis: Apis) -> None:
    facts = fetch(apis.base_urls, "us")
    assert isinstance(facts, AccountFacts)
    assert (facts.found, facts.region_found, facts.http_status, facts.expected) == (False, None, 404, ())
    assert "us: HTTP 404" in facts.detail and "eu: HTTP 404" in facts.detail


def test_sandbox_domain(apis: Apis) -> None:
    sandbox = "sandbox0123456789abcdef0123456789ab.mailgun.org"
    apis.us.replies[sandbox] = as_json(domain_answer(sandbox, kind="sandbox"))
    facts = fetch(apis.base_urls, "us", domain=sandbox)
    assert isinstance(facts, AccountFacts)
    assert facts.domain_type == "sandbox" and facts.is_sandbox


@pytest.mark.parametrize(
    ("state", "flag", "disabled"),
    [
        ("unverified", False, False),
        ("disabled", True, True),
        ("disabled", False, True),
        ("Active", True, True),
    ],
)
def test_unverified_and_disabled_domains(apis: Apis, state: str, flag: bool, disabled: bool) -> None:
    apis.us.replies[DOMAIN] = as_json(domain_answer(state=state, is_disabled=flag, valid="unknown"))
    facts = fetch(apis.base_urls, "us")
    assert isinstance(facts, AccountFacts)
    assert facts.state == state.lower()
    assert facts.is_disabled is disabled
    assert {r.provider_valid for r in facts.expected} == {"unknown"}


# --- refusals and failures ------------------------------------------------------------------------


def test_401_in_every_region_is_a_refused_key(apis: Apis) -> None:
    apis.us.default = apis.eu.default = FORBIDDEN
    result = fetch(apis.base_urls, "us")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.REFUSED
    assert "API key rejected" in result.detail


def test_404_and_401_cannot_say_not_found(apis: Apis) -> None:
    apis.eu.default = FORBIDDEN
    result = fetch(apis.base_urls, "us")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.REFUSED
    assert "cannot tell" in result.detail


def test_rate_limited_stops_and_says_when_to_retry(apis: Apis) -> None:
    apis.us.default = as_json({"retry-seconds": 60}, status=429)
    result = fetch(apis.base_urls, "us")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.REFUSED
    assert "rate limited" in result.detail and "retry after 60 s" in result.detail
    # The limit is per account: the other region is not asked
    assert apis.eu.seen == []


def test_short_rate_limit_wait_is_waited_out_and_retried_once(apis: Apis) -> None:
    # Given the US API answers 429 asking for a one-second wait, and then the domain
    apis.us.queued[DOMAIN] = [as_json({"retry-seconds": 1}, status=429)]
    apis.us.replies[DOMAIN] = as_json(domain_answer())
    facts = fetch(apis.base_urls, "us")
    # Then the same request was asked again and the answer used; the EU API was not bothered
    assert isinstance(facts, AccountFacts) and facts.found, facts
    assert [s.path for s in apis.us.seen] == [f"/v4/domains/{DOMAIN}"] * 2
    assert apis.eu.seen == []


def test_second_rate_limit_in_a_row_gives_up(apis: Apis) -> None:
    apis.us.default = as_json({"retry-seconds": 1}, status=429)
    result = fetch(apis.base_urls, "us")
    assert isinstance(result, Failure) and result.reason is FailureKind.REFUSED
    assert "rate limited" in result.detail
    assert len(apis.us.seen) == 2 and apis.eu.seen == []


def test_server_error(apis: Apis) -> None:
    apis.us.default = Reply(503, b"<html>busy</html>", content_type="text/html")
    result = fetch(apis.base_urls, "us")
    assert isinstance(result, Failure) and result.reason is FailureKind.SERVFAIL


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[]",
        b'{"message": "no domain"}',
        json.dumps({"domain": {"name": DOMAIN, "state": 3}}).encode(),
        json.dumps({"domain": {"name": DOMAIN}, "sending_dns_records": [{"record_type": "TXT"}]}).encode(),
        json.dumps({"domain": {"name": DOMAIN}, "receiving_dns_records": "MX"}).encode(),
        json.dumps({"domain": {"name": "other.example"}}).encode(),
    ],
)
def test_malformed_answers(apis: Apis, body: bytes) -> None:
    apis.us.replies[DOMAIN] = Reply(200, body)
    result = fetch(apis.base_urls, "us")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.MALFORMED


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused(apis: Apis) -> None:
    port = _closed_port()
    result = fetch({"us": f"http://127.0.0.1:{port}", "eu": apis.eu.base_url}, "us")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.NETWORK
    assert "the us API (127.0.0.1)" in result.detail
    # An unreachable region could hold the domain: no "not found" from the other one
    assert apis.eu.seen == []


def test_timeout(apis: Apis) -> None:
    # Given a server that answers well after the client's timeout
    apis.us.replies[DOMAIN] = as_json(domain_answer(), delay=FAST * 4)
    result = fetch(apis.base_urls, "us", timeout=FAST)
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.TIMEOUT


def test_shared_pool_fetches_many(apis: Apis) -> None:
    names = [f"d{i}.example.com" for i in range(6)]
    for name in names:
        apis.us.replies[name] = as_json(domain_answer(name))

    async def main() -> list[AccountFacts | Failure]:
        async with MailgunAccountClient(apis.base_urls, Secret(KEY), timeout=5) as client:
            return await asyncio.gather(*(client.fetch(n, "us") for n in names))

    results = asyncio.run(main())
    assert all(isinstance(r, AccountFacts) and r.found for r in results)


def test_catalogue_base_urls() -> None:
    catalogue = load_catalogue(rules_dir() / "providers" / "catalogue.yaml")
    assert api_base_urls(catalogue) == {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeDomainsApi, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    api = FakeDomainsApi("us")
    api.replies[DOMAIN] = as_json(domain_answer())
    start(api, tls=server_ctx)
    yield api, ca_path
    stop(api)


def test_tls_with_a_ca_file(tls_api: tuple[FakeDomainsApi, Path]) -> None:
    api, ca_path = tls_api
    facts = fetch({"us": api.base_url}, "us", verify=str(ca_path))
    assert isinstance(facts, AccountFacts) and facts.found


def test_tls_untrusted_certificate_is_a_network_failure(tls_api: tuple[FakeDomainsApi, Path]) -> None:
    api, _ca_path = tls_api
    result = fetch({"us": api.base_url}, "us")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.NETWORK
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


# --- the key never leaks --------------------------------------------------------------------------


def _forms(secret: str) -> list[str]:
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"api:{secret}".encode()).decode(),
    ]


def test_canary_key_is_used_but_never_shown(
    apis: Apis, caplog: pytest.LogCaptureFixture, tls_api: tuple[FakeDomainsApi, Path]
) -> None:
    # Given the key comes by reference, as an audit resolves it
    key = resolve_secret(SecretRef("env", "MAILGUN_API_KEY"), {"MAILGUN_API_KEY": CANARY})
    caplog.set_level(logging.DEBUG)  # root: httpx and httpcore log their request lines here
    outcomes: list[object] = []

    def run(base_urls: dict[str, str], timeout: float = 5.0, verify: str | bool = True) -> None:
        client = MailgunAccountClient(base_urls, key, timeout=timeout, verify=verify)
        outcomes.append(client)
        outcomes.append(asyncio.run(client.fetch(DOMAIN, "us")))

    # When every kind of outcome happens with it
    apis.eu.replies[DOMAIN] = as_json(domain_answer(region="eu"))
    run(apis.base_urls)  # 404 then found
    apis.us.default = apis.eu.default = FORBIDDEN
    apis.eu.replies.clear()
    run(apis.base_urls)  # 401 everywhere
    apis.us.default = as_json({"retry-seconds": 60}, status=429)
    run(apis.base_urls)  # rate limited
    apis.us.default = Reply(200, b"{not json")
    run(apis.base_urls)  # malformed
    apis.us.default = as_json(domain_answer(), delay=FAST * 4)
    run(apis.base_urls, timeout=FAST)  # timeout
    run({"us": f"http://127.0.0.1:{_closed_port()}"})  # refused
    tls, _ca = tls_api
    run({"us": tls.base_url})  # TLS failure

    # Then the servers really received it, as basic auth for user `api`
    received = {s.authorization for s in apis.us.seen + apis.eu.seen}
    assert received == {basic(CANARY)}
    assert all(CANARY not in s.path for s in apis.us.seen + apis.eu.seen)
    # And it appears in no outcome's repr or str, no detail, and no log record at any level
    texts = [repr(o) for o in outcomes] + [str(o) for o in outcomes]
    texts += [o.detail for o in outcomes if isinstance(o, Failure | AccountFacts)]
    assert any(isinstance(o, AccountFacts) and o.found for o in outcomes)
    assert sum(isinstance(o, Failure) for o in outcomes) == 6
    assert caplog.records, "httpx/httpcore logged nothing: the log check would prove nothing"
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    texts.append(caplog.text)
    for form in _forms(CANARY):
        for text in texts:
            assert form not in text

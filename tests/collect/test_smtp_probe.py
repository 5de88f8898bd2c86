"""The SMTP submission probe against real servers on loopback (issue 3).

Every outcome is produced by a real server — aiosmtpd with trustme certificates, or a hand-written
fault server — never by a mocked client, because the probe's job is to read real dialogues.
Nothing here leaves 127.0.0.1. Fault servers use 0.5 s timeouts so the file stays fast; no test
asserts a duration.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import pickle
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from auditor.collect.smtp import (
    REDACTED,
    ProbeScheduler,
    ProbeSettings,
    Scrubber,
    Secret,
    SecretUnavailable,
    Transcript,
    classify_reply,
    credential_shape,
    probe_submission,
    resolve_secret,
)
from auditor.model.inventory import SecretRef
from auditor.model.smtp import (
    CredentialShape,
    SmtpOutcome,
    SmtpProbeFacts,
    SmtpStepName,
    TlsMode,
    TlsVerifyFailure,
)
from tests.conftest import LogCollector
from tests.servers.smtp_server import (
    FREE_ACCOUNT_421,
    MAILGUN_535,
    POSTFIX_535,
    TLS_NAME,
    Listener,
    SmtpPolicy,
    SmtpTestServers,
)

pytestmark = pytest.mark.filterwarnings(
    # aiosmtpd's own deprecation notice, raised inside the test server on every login.
    "ignore:Session.login_data is deprecated:DeprecationWarning",
)

USER = "postmaster@mg.example.com"
PASSWORD = "correct horse battery staple"
FROM = "alerts@mg.example.com"
RCPT = "ops@example.org"
FAST = 0.5  # timeouts against fault servers
S = SmtpStepName


@pytest.fixture(scope="module")
def servers() -> Iterator[SmtpTestServers]:
    with SmtpTestServers() as running:
        yield running


def settings(servers: SmtpTestServers, listener: Listener | int, **overrides: Any) -> ProbeSettings:
    """Probe settings for a loopback listener, verifying the certificate against TLS_NAME."""
    port = listener if isinstance(listener, int) else listener.port
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls_mode": TlsMode.STARTTLS,
        "server_hostname": TLS_NAME,
        "ca_file": servers.ca_file,
        "connect_timeout": 5.0,
        "command_timeout": 5.0,
    }
    values.update(overrides)
    return ProbeSettings(**values)


def probe(
    servers: SmtpTestServers,
    listener: Listener | int,
    *,
    username: str = USER,
    password: str = PASSWORD,
    from_address: str | None = FROM,
    recipient: str | None = RCPT,
    deep_data: bool = False,
    **overrides: Any,
) -> SmtpProbeFacts:
    return asyncio.run(
        probe_submission(
            settings(servers, listener, **overrides),
            username,
            Secret(password),
            from_address,
            recipient,
            deep_data=deep_data,
        )
    )


def step_names(facts: SmtpProbeFacts) -> list[str]:
    return [step.name.value for step in facts.steps]


# -- the happy paths ---------------------------------------------------------------------------


def test_starttls_probe_records_every_step(servers: SmtpTestServers) -> None:
    # Given a STARTTLS submission server on a high port
    listener = servers.starttls()
    # When the probe runs the whole dialogue
    facts = probe(servers, listener)
    # Then it logged in, tried MAIL/RCPT, said RSET and QUIT, and recorded all of it
    assert facts.outcome is SmtpOutcome.OK
    assert facts.failed_step is None
    assert step_names(facts) == [
        "connect", "banner", "ehlo", "starttls", "ehlo_tls", "auth",
        "mail_from", "rcpt_to", "rset", "quit",
    ]  # fmt: skip
    assert [s.code for s in facts.steps[1:]] == [220, 250, 220, 250, 235, 250, 250, 250, 221]
    assert facts.tls is not None and facts.tls.verified
    assert facts.tls.version is not None and facts.tls.version.startswith("TLS")
    assert TLS_NAME in facts.tls.san_dns
    assert set(facts.auth_mechanisms) == {"PLAIN", "LOGIN"}
    assert facts.auth_mechanism_used == "PLAIN"
    assert facts.credential_shape is CredentialShape.PLAUSIBLE_SMTP_PASSWORD
    assert facts.username_domain == "mg.example.com"
    assert "C: AUTH PLAIN ***" in facts.transcript
    assert not facts.insecure
    assert listener.stats.auth_attempts == [("PLAIN", True)]
    # And the facts serialise (they go to JSON reports as they are)
    assert b'"outcome":"ok"' in TypeAdapter(SmtpProbeFacts).dump_json(facts)


def test_implicit_tls_probe(servers: SmtpTestServers) -> None:
    listener = servers.implicit()
    facts = probe(servers, listener, tls_mode=TlsMode.IMPLICIT)
    assert facts.outcome is SmtpOutcome.OK
    assert facts.tls_mode is TlsMode.IMPLICIT
    assert "starttls" not in step_names(facts)
    assert facts.tls is not None and facts.tls.verified


@pytest.mark.parametrize(
    ("port", "mode"),
    [(465, TlsMode.IMPLICIT), (2465, TlsMode.IMPLICIT), (587, TlsMode.STARTTLS),
     (2525, TlsMode.STARTTLS), (25, TlsMode.STARTTLS)],
)  # fmt: skip
def test_tls_mode_is_derived_from_the_port(port: int, mode: TlsMode) -> None:
    assert ProbeSettings(host="smtp.mailgun.org", port=port).effective_tls_mode is mode


def test_login_is_used_when_plain_is_not_offered(servers: SmtpTestServers) -> None:
    listener = servers.starttls(SmtpPolicy(mechanisms=("LOGIN",)))
    facts = probe(servers, listener)
    assert facts.outcome is SmtpOutcome.OK
    assert facts.auth_mechanism_used == "LOGIN"
    # The 334 challenges are kept; both client continuation lines are masked.
    auth_at = facts.transcript.index("C: AUTH LOGIN")
    lines = facts.transcript[auth_at : auth_at + 6]
    assert [line[:6] for line in lines] == [
        "C: AUT",
        "S: 334",
        "C: ***",
        "S: 334",
        "C: ***",
        "S: 235",
    ]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_non_ascii_password_logs_in(servers: SmtpTestServers, mechanism: str) -> None:
    password = "Pässwörd-ünïcødé-密码"
    listener = servers.starttls(SmtpPolicy(password=password, mechanisms=(mechanism,)))
    facts = probe(servers, listener, password=password)
    assert facts.outcome is SmtpOutcome.OK
    assert listener.stats.auth_attempts == [(mechanism, True)]


def test_without_from_address_the_probe_stops_after_auth(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.starttls(), from_address=None, recipient=None)
    assert facts.outcome is SmtpOutcome.OK
    assert step_names(facts)[-3:] == ["auth", "rset", "quit"]


# -- AUTH ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [MAILGUN_535, POSTFIX_535])
def test_wrong_password_is_auth_failed(servers: SmtpTestServers, reply: str) -> None:
    listener = servers.starttls(SmtpPolicy(auth_failure_reply=reply))
    facts = probe(servers, listener, password="a wrong password")
    assert facts.outcome is SmtpOutcome.AUTH_FAILED
    assert facts.failed_step is S.AUTH
    assert facts.failed_reply is not None and facts.failed_reply.code == 535
    assert facts.failed_reply.text == reply[4:]
    assert step_names(facts)[-1] == "quit"  # a polite goodbye after the refusal


@pytest.mark.parametrize(
    ("password", "shape"),
    [
        ("7343170353dd0598b39ae8ddb70ac122-0470a1f7-ab89a2c9", CredentialShape.MAILGUN_API_KEY),
        ("key-" + "0123456789abcdef" * 2, CredentialShape.MAILGUN_API_KEY_LEGACY),
        ("pubkey-5ogiflzbnjrljiky49qxsiozqef5jxp7", CredentialShape.MAILGUN_PUBLIC_KEY),
    ],
)  # fmt: skip
def test_api_key_as_password_is_recognised_by_shape(
    servers: SmtpTestServers, password: str, shape: CredentialShape
) -> None:
    # Given the private API key pasted where the SMTP password belongs
    facts = probe(servers, servers.starttls(), password=password)
    # Then the login fails and the facts say what the password looked like, not what it was
    assert facts.outcome is SmtpOutcome.AUTH_FAILED
    assert facts.credential_shape is shape
    assert password not in repr(facts)


def test_credential_shape_of_ordinary_passwords() -> None:
    assert credential_shape(Secret("hunter2-but-longer")) is CredentialShape.PLAUSIBLE_SMTP_PASSWORD
    # upper-case hex is not what Mailgun issues
    assert (
        credential_shape(Secret("7343170353DD0598B39AE8DDB70AC122-0470A1F7-AB89A2C9"))
        is CredentialShape.PLAUSIBLE_SMTP_PASSWORD
    )


def test_auth_not_offered_is_auth_unavailable(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.starttls(SmtpPolicy(offer_auth=False)))
    assert facts.outcome is SmtpOutcome.AUTH_UNAVAILABLE
    assert facts.failed_step is S.AUTH
    assert facts.detail == "AUTH not offered"
    assert facts.auth_mechanisms == ()


@pytest.mark.parametrize(
    ("step", "code", "outcome"),
    [
        (S.AUTH, 535, SmtpOutcome.AUTH_FAILED),
        (S.AUTH, 530, SmtpOutcome.AUTH_UNAVAILABLE),
        (S.AUTH, 503, SmtpOutcome.AUTH_UNAVAILABLE),
        (S.AUTH, 538, SmtpOutcome.AUTH_UNAVAILABLE),
        (S.MAIL_FROM, 550, SmtpOutcome.SENDER_REJECTED),
        (S.MAIL_FROM, 553, SmtpOutcome.SENDER_REJECTED),
        (S.RCPT_TO, 550, SmtpOutcome.RECIPIENT_REJECTED),
        (S.RCPT_TO, 554, SmtpOutcome.RECIPIENT_REJECTED),
        (S.DATA, 554, SmtpOutcome.DATA_REJECTED),
        (S.BANNER, 421, SmtpOutcome.TEMPORARY),
        (S.AUTH, 454, SmtpOutcome.TEMPORARY),
        (S.MAIL_FROM, 451, SmtpOutcome.TEMPORARY),
        (S.RCPT_TO, 452, SmtpOutcome.TEMPORARY),
        (S.RCPT_TO, 450, SmtpOutcome.TEMPORARY),
        (S.STARTTLS, 502, SmtpOutcome.TLS_FAILED),
        (S.EHLO, 500, SmtpOutcome.PROTOCOL_ERROR),
    ],
)
def test_reply_classification(step: SmtpStepName, code: int, outcome: SmtpOutcome) -> None:
    assert classify_reply(step, code) is outcome


# -- MAIL, RCPT, DATA --------------------------------------------------------------------------


def test_sender_on_another_domain_is_rejected(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.starttls(), from_address="me@not-verified.example")
    assert facts.outcome is SmtpOutcome.SENDER_REJECTED
    assert facts.failed_step is S.MAIL_FROM
    assert facts.failed_reply is not None and facts.failed_reply.code == 553
    assert "Sender address rejected" in facts.detail


def test_unauthorised_sandbox_recipient_is_rejected(servers: SmtpTestServers) -> None:
    listener = servers.starttls(SmtpPolicy(allowed_recipients=("me@example.org",)))
    facts = probe(servers, listener, recipient="stranger@example.org")
    assert facts.outcome is SmtpOutcome.RECIPIENT_REJECTED
    assert facts.failed_step is S.RCPT_TO
    assert facts.failed_reply is not None and facts.failed_reply.code == 550
    assert "Sandbox subdomains" in facts.detail


def test_deep_data_stops_at_354_and_sends_nothing(servers: SmtpTestServers) -> None:
    listener = servers.starttls()
    facts = probe(servers, listener, deep_data=True)
    assert facts.outcome is SmtpOutcome.OK
    assert facts.steps[-1].name is S.DATA and facts.steps[-1].code == 354
    assert "rset" not in step_names(facts)  # the connection was dropped, nothing after 354
    assert listener.wait_idle()
    assert listener.stats.messages == []
    assert listener.stats.connections == 1


def test_free_account_421_at_data_is_temporary(servers: SmtpTestServers) -> None:
    listener = servers.starttls(SmtpPolicy(data_reply=FREE_ACCOUNT_421))
    facts = probe(servers, listener, deep_data=True)
    assert facts.outcome is SmtpOutcome.TEMPORARY
    assert facts.failed_step is S.DATA
    assert facts.failed_reply is not None and facts.failed_reply.code == 421
    assert "Free accounts are for test purposes only" in facts.detail
    assert listener.wait_idle()
    assert listener.stats.messages == []


def test_sandbox_554_at_data_is_data_rejected(servers: SmtpTestServers) -> None:
    reply = "554 Sandbox subdomains are for test purposes only."
    facts = probe(servers, servers.starttls(SmtpPolicy(data_reply=reply)), deep_data=True)
    assert facts.outcome is SmtpOutcome.DATA_REJECTED
    assert facts.failed_step is S.DATA


# -- connection, TLS and fault servers ---------------------------------------------------------


def test_connection_refused(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.refused_port())
    assert facts.outcome is SmtpOutcome.CONNECT_REFUSED
    assert facts.failed_step is S.CONNECT


def test_connect_timeout(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.blackhole(), connect_timeout=FAST)
    assert facts.outcome is SmtpOutcome.CONNECT_TIMEOUT
    assert facts.failed_step is S.CONNECT


def test_server_that_never_speaks_times_out_at_banner(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.silent(), command_timeout=FAST)
    assert facts.outcome is SmtpOutcome.TIMEOUT
    assert facts.failed_step is S.BANNER


def test_silent_implicit_tls_port_times_out_while_connecting(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.silent(), tls_mode=TlsMode.IMPLICIT, command_timeout=FAST)
    assert facts.outcome is SmtpOutcome.TIMEOUT
    assert facts.failed_step is S.CONNECT
    assert "TLS handshake" in facts.detail


def test_banner_then_silence_times_out_at_ehlo(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.banner_then_silence(), command_timeout=FAST)
    assert facts.outcome is SmtpOutcome.TIMEOUT
    assert facts.failed_step is S.EHLO


def test_silence_during_auth_times_out_at_auth(servers: SmtpTestServers) -> None:
    listener = servers.starttls(SmtpPolicy(auth_delay=3 * FAST))
    facts = probe(servers, listener, command_timeout=FAST)
    assert facts.outcome is SmtpOutcome.TIMEOUT
    assert facts.failed_step is S.AUTH


def test_421_at_banner_is_temporary(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.banner_421())
    assert facts.outcome is SmtpOutcome.TEMPORARY
    assert facts.failed_step is S.BANNER
    assert facts.detail.startswith("421 ")


def test_dropped_connection_is_a_protocol_error(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.drop_after_ehlo())
    assert facts.outcome is SmtpOutcome.PROTOCOL_ERROR
    assert facts.failed_step is S.STARTTLS


def test_starttls_not_offered(servers: SmtpTestServers) -> None:
    facts = probe(servers, servers.starttls(SmtpPolicy(offer_starttls=False)))
    assert facts.outcome is SmtpOutcome.TLS_FAILED
    assert facts.failed_step is S.STARTTLS
    assert facts.detail == "STARTTLS not offered"
    assert facts.auth_mechanism_used is None


@pytest.mark.parametrize("mode", [TlsMode.STARTTLS, TlsMode.IMPLICIT])
@pytest.mark.parametrize(
    ("certificate", "failure"),
    [
        ("wrong_name", TlsVerifyFailure.HOSTNAME_MISMATCH),
        ("expired", TlsVerifyFailure.EXPIRED),
        ("untrusted", TlsVerifyFailure.UNTRUSTED),
        ("self_signed", TlsVerifyFailure.SELF_SIGNED),
    ],
)
def test_certificate_failures_name_the_reason(
    servers: SmtpTestServers, mode: TlsMode, certificate: str, failure: TlsVerifyFailure
) -> None:
    import trustme

    contexts = {
        "wrong_name": lambda: servers.server_context(("wrong.example",)),
        "expired": lambda: servers.server_context(expired=True),
        "untrusted": lambda: servers.server_context(ca=trustme.CA()),
        "self_signed": lambda: servers.server_context(self_signed=True),
    }
    start = servers.starttls if mode is TlsMode.STARTTLS else servers.implicit
    listener = start(context=contexts[certificate]())
    facts = probe(servers, listener, tls_mode=mode)
    assert facts.outcome is SmtpOutcome.TLS_FAILED
    assert facts.failed_step is (S.STARTTLS if mode is TlsMode.STARTTLS else S.CONNECT)
    assert facts.tls is not None and not facts.tls.verified
    assert facts.tls.verify_failure is failure
    assert facts.tls.verify_error
    assert listener.stats.auth_attempts == []  # no credential ever went over a bad channel


def test_vanity_host_name_fails_the_certificate_check(servers: SmtpTestServers) -> None:
    # A CNAME like smtp.mail.customer.example → smtp.mailgun.org: the certificate is the
    # provider's, so verifying against the vanity name fails (provider-facts §1.1).
    facts = probe(servers, servers.starttls(), server_hostname="smtp.vanity.example")
    assert facts.outcome is SmtpOutcome.TLS_FAILED
    assert facts.tls is not None
    assert facts.tls.verify_failure is TlsVerifyFailure.HOSTNAME_MISMATCH


def test_insecure_skips_verification_and_says_so(servers: SmtpTestServers) -> None:
    listener = servers.implicit(context=servers.server_context(("wrong.example",)))
    facts = probe(servers, listener, tls_mode=TlsMode.IMPLICIT, insecure=True, ca_file=None)
    assert facts.outcome is SmtpOutcome.OK
    assert facts.insecure
    assert facts.tls is not None and not facts.tls.verified
    assert facts.tls.san_dns == ("wrong.example",)


def test_unreadable_ca_file_is_a_tls_failure(servers: SmtpTestServers, tmp_path: Path) -> None:
    listener = servers.starttls()
    facts = probe(servers, listener, ca_file=str(tmp_path / "missing.pem"))
    assert facts.outcome is SmtpOutcome.TLS_FAILED
    assert listener.stats.connections == 0


# -- scheduler ---------------------------------------------------------------------------------


def test_identical_probes_run_once(servers: SmtpTestServers) -> None:
    listener = servers.starttls()
    scheduler = ProbeScheduler(environ={"SMTP_PW": PASSWORD})
    ref = SecretRef("env", "SMTP_PW")

    async def main() -> list[SmtpProbeFacts]:
        first = await asyncio.gather(
            scheduler.probe(settings(servers, listener), USER, ref, FROM, RCPT),
            scheduler.probe(settings(servers, listener), USER, ref, FROM, RCPT),
        )
        later = await scheduler.probe(settings(servers, listener), USER, ref, FROM, RCPT)
        return [*first, later]

    results = asyncio.run(main())
    assert listener.stats.connections == 1
    assert scheduler.probes_started == 1
    assert results[0] is results[1] is results[2]
    assert results[0].outcome is SmtpOutcome.OK


def test_different_credentials_are_probed_separately(servers: SmtpTestServers) -> None:
    listener = servers.starttls()
    scheduler = ProbeScheduler(environ={"A": PASSWORD, "B": "other"})

    async def main() -> list[SmtpProbeFacts]:
        return await asyncio.gather(
            scheduler.probe(settings(servers, listener), USER, SecretRef("env", "A"), FROM),
            scheduler.probe(settings(servers, listener), USER, SecretRef("env", "B"), FROM),
        )

    good, bad = asyncio.run(main())
    assert listener.stats.connections == 2
    assert (good.outcome, bad.outcome) == (SmtpOutcome.OK, SmtpOutcome.AUTH_FAILED)


def counting_probe() -> tuple[Callable[..., Awaitable[SmtpProbeFacts]], dict[str, int]]:
    """The real probe, wrapped to count how many run at the same time (client side)."""
    counts = {"now": 0, "max": 0}

    async def wrapped(*args: Any, **kwargs: Any) -> SmtpProbeFacts:
        counts["now"] += 1
        counts["max"] = max(counts["max"], counts["now"])
        try:
            return await probe_submission(*args, **kwargs)
        finally:
            counts["now"] -= 1

    return wrapped, counts


@pytest.mark.parametrize(("per_host", "overall", "expected"), [(2, 10, 2), (5, 1, 1)])
def test_concurrency_caps(servers: SmtpTestServers, per_host: int, overall: int, expected: int) -> None:
    # Given a slow server and six different logins for the same host
    listener = servers.starttls(SmtpPolicy(ehlo_delay=0.1))
    wrapped, counts = counting_probe()
    scheduler = ProbeScheduler(environ={"PW": PASSWORD}, per_host=per_host, overall=overall, probe=wrapped)
    ref = SecretRef("env", "PW")

    async def main() -> list[SmtpProbeFacts]:
        return await asyncio.gather(
            *(scheduler.probe(settings(servers, listener), f"user{i}@mg.example.com", ref) for i in range(6))
        )

    results = asyncio.run(main())
    # Then all six ran, never more than the cap at once
    assert listener.stats.connections == 6
    assert counts["max"] == expected
    assert all(r.outcome is SmtpOutcome.AUTH_FAILED for r in results)


def test_per_host_cap_does_not_hold_back_other_hosts(servers: SmtpTestServers) -> None:
    listener = servers.starttls(SmtpPolicy(ehlo_delay=0.1))
    wrapped, counts = counting_probe()
    scheduler = ProbeScheduler(environ={"PW": PASSWORD}, per_host=1, probe=wrapped)
    ref = SecretRef("env", "PW")

    async def main() -> list[SmtpProbeFacts]:
        return await asyncio.gather(
            scheduler.probe(settings(servers, listener, host="127.0.0.1"), USER, ref),
            scheduler.probe(settings(servers, listener, host="localhost"), USER, ref),
        )

    results = asyncio.run(main())
    assert counts["max"] == 2
    assert [r.outcome for r in results] == [SmtpOutcome.OK, SmtpOutcome.OK]


def test_unresolvable_secret_gives_facts_and_no_connection(servers: SmtpTestServers) -> None:
    listener = servers.starttls()
    scheduler = ProbeScheduler(environ={})
    facts = asyncio.run(scheduler.probe(settings(servers, listener), USER, SecretRef("env", "NOT_SET"), FROM))
    assert facts.outcome is SmtpOutcome.CREDENTIAL_UNAVAILABLE
    assert facts.credential_shape is CredentialShape.UNAVAILABLE
    assert "env:NOT_SET" in facts.detail
    assert listener.stats.connections == 0


# -- secrets and redaction ---------------------------------------------------------------------


def test_secret_hides_its_value() -> None:
    secret = Secret("s3cret-value")
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret:>20}" == "Secret('***')"
    assert secret.reveal() == "s3cret-value"
    assert secret != "s3cret-value"
    assert secret != Secret("s3cret-value")
    assert copy.deepcopy(secret) is secret
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_resolve_secret_from_env_and_file(tmp_path: Path) -> None:
    assert resolve_secret(SecretRef("env", "PW"), {"PW": "from-env"}).reveal() == "from-env"
    path = tmp_path / "pw"
    path.write_text("from-file\n\n", encoding="utf-8")
    assert resolve_secret(SecretRef("file", str(path)), {}).reveal() == "from-file\n"


@pytest.mark.parametrize(
    ("ref", "environ"),
    [
        (SecretRef("env", "MISSING"), {"OTHER": "leaky-value"}),
        (SecretRef("env", "EMPTY"), {"EMPTY": ""}),
        (SecretRef("file", "/nonexistent/sendready/pw"), {}),
        (SecretRef("vault", "x"), {}),
    ],
)
def test_unavailable_secret_names_the_reference(ref: SecretRef, environ: dict[str, str]) -> None:
    with pytest.raises(SecretUnavailable) as caught:
        resolve_secret(ref, environ)
    assert str(ref) in str(caught.value)
    assert "leaky-value" not in str(caught.value)


def test_transcript_redacts_auth_even_for_a_careless_caller() -> None:
    payload = base64.b64encode(b"\0user\0hunter2-hunter2").decode()
    transcript = Transcript(Scrubber(Secret("hunter2-hunter2"), "user"))
    transcript.client(f"AUTH PLAIN {payload}")
    transcript.server(535, "5.7.8 no")
    transcript.client("AUTH LOGIN")
    transcript.server(334, "VXNlcm5hbWU6")
    transcript.client(base64.b64encode(b"user").decode())
    transcript.server(334, "UGFzc3dvcmQ6")
    transcript.client(base64.b64encode(b"hunter2-hunter2").decode())
    transcript.server(535, f"5.7.8 bad credentials {payload} hunter2-hunter2")
    assert transcript.lines == (
        "C: AUTH PLAIN ***",
        "S: 535 5.7.8 no",
        "C: AUTH LOGIN",
        "S: 334 VXNlcm5hbWU6",
        f"C: {REDACTED}",
        "S: 334 UGFzc3dvcmQ6",
        f"C: {REDACTED}",
        "S: 535 5.7.8 bad credentials *** ***",
    )


# -- the canary: no output carries the password in any form ------------------------------------

CANARY = "Canary-Pässwörd-7f3a9c"


def canary_forms(username: str) -> list[str]:
    raw = CANARY.encode("utf-8")
    return [
        CANARY,
        base64.b64encode(raw).decode(),  # LOGIN
        base64.b64encode(b"\0" + username.encode() + b"\0" + raw).decode(),  # PLAIN
        repr(raw)[2:-1],  # as bytes in a log message: b'Canary-P\xc3\xa4ssw...'
        "Canary-P",  # any fragment of the plain value
    ]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_canary_password_never_leaks(
    servers: SmtpTestServers, all_logs: LogCollector, mechanism: str
) -> None:
    # Given servers that accept the canary, refuse it, and go silent in the middle of AUTH
    accept = servers.starttls(SmtpPolicy(password=CANARY, mechanisms=(mechanism,)))
    refuse = servers.starttls(SmtpPolicy(password="something else", mechanisms=(mechanism,)))
    stall = servers.starttls(SmtpPolicy(password=CANARY, mechanisms=(mechanism,), auth_delay=2))
    exceptions: list[BaseException] = []

    async def main() -> list[SmtpProbeFacts]:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.set_exception_handler(
            lambda _loop, context: exceptions.append(context.get("exception") or Exception())
        )
        scheduler = ProbeScheduler(environ={"CANARY_PW": CANARY})
        ref = SecretRef("env", "CANARY_PW")
        results = []
        for listener, timeout in ((accept, 5.0), (refuse, 5.0), (stall, FAST)):
            results.append(
                await scheduler.probe(
                    settings(servers, listener, command_timeout=timeout),
                    USER,
                    ref,
                    FROM,
                    RCPT,
                    deep_data=True,
                )
            )
        return results

    # When the probes run with every logger at DEBUG and asyncio in debug mode
    results = asyncio.run(main())
    for listener in (accept, refuse, stall):
        listener.wait_idle()
    time.sleep(0.05)  # let the server thread log the end of the last session

    # Then each path was really exercised...
    assert [r.outcome for r in results] == [
        SmtpOutcome.OK,
        SmtpOutcome.AUTH_FAILED,
        SmtpOutcome.TIMEOUT,
    ]
    assert accept.stats.auth_attempts == [(mechanism, True)]
    assert all_logs.texts, "the log capture saw nothing; it is not wired up"
    # ...and no output holds the canary in any form
    outputs: list[str] = []
    for facts in results:
        outputs.append(repr(facts))
        outputs.extend(facts.transcript)
        outputs.append(facts.detail)
        outputs.append(TypeAdapter(SmtpProbeFacts).dump_json(facts).decode())
    outputs.extend(all_logs.texts)
    outputs.extend(f"{e!s} {e!r}" for e in exceptions)
    try:
        resolve_secret(SecretRef("env", "UNSET"), {"CANARY_PW": CANARY})
    except SecretUnavailable as exc:
        outputs.append(str(exc))
    for form in canary_forms(USER):
        leaks = [o for o in outputs if form in o]
        assert not leaks, f"canary form {form!r} leaked into: {leaks[0][:200]!r}"

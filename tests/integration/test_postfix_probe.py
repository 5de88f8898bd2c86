"""Integration tier: the SMTP probe against a real Postfix with Cyrus SASL (Debian's packages).

`ci/postfix/setup.sh` builds a private Postfix instance in a temporary directory: submission
(STARTTLS), submissions (implicit TLS) and a LOGIN-only submission port, all on 127.0.0.1 high
ports, users in a Cyrus sasldb, `reject_sender_login_mismatch`, one authorised recipient, and
every message discarded. So the outcomes below come from a widely deployed server, not only from
our aiosmtpd test server. After every test the Postfix queue must be empty: the probe never gets
a message accepted for delivery.

CI installs postfix, sasl2-bin and libsasl2-modules (`.ci/run`) and runs as root; there a missing
`postfix` or a non-root run is a failure, elsewhere a skip. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import TypeAdapter

from auditor.collect.smtp.probe import ProbeSettings, probe_submission
from auditor.collect.smtp.secrets import Secret
from auditor.model.smtp import SmtpOutcome, SmtpProbeFacts, SmtpStepName, TlsMode

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "ci" / "postfix" / "setup.sh"
STOP = REPO / "ci" / "postfix" / "stop.sh"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
POSTFIX = shutil.which("postfix", path=SBIN_PATH)
IN_CI = bool(os.environ.get("CI"))

if POSTFIX is None or shutil.which("saslpasswd2", path=SBIN_PATH) is None:
    if IN_CI:
        pytest.fail(
            "postfix/sasl2-bin not installed; .ci/run should install postfix sasl2-bin libsasl2-modules",
            pytrace=False,
        )
    pytest.skip(
        "postfix not installed (apt-get install postfix sasl2-bin libsasl2-modules)",
        allow_module_level=True,
    )
if os.geteuid() != 0:
    if IN_CI:
        pytest.fail("the Postfix tier needs root (it starts a Postfix master)", pytrace=False)
    pytest.skip("the Postfix tier needs root (it starts a Postfix master)", allow_module_level=True)

TLS_NAME = "smtp.test.example"
ACME = "postmaster@mg.acme-shop.example"
OTHER = "other@mg.other.example"
FROM = "alerts@mg.acme-shop.example"
OTHER_FROM = "alerts@mg.other.example"
RCPT = "ops@acme-shop.example"  # the one recipient the instance accepts
S = SmtpStepName


@dataclass(frozen=True)
class Postfix:
    dir: Path
    ca_file: str
    submission: int
    submissions: int
    login_only: int
    acme_password: str
    other_password: str

    @property
    def log_text(self) -> str:
        return (self.dir / "log" / "postfix.log").read_text(errors="replace")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _setup_args(workdir: Path, ports: list[int]) -> list[str]:
    return [
        "bash", str(SETUP), str(workdir),
        "--cert", str(workdir / "certs" / "cert.pem"),
        "--key", str(workdir / "certs" / "key.pem"),
        "--submission-port", str(ports[0]),
        "--submissions-port", str(ports[1]),
        "--login-only-port", str(ports[2]),
    ]  # fmt: skip


def _run_setup(workdir: Path, ports: list[int], env: dict[str, str]) -> dict[str, int]:
    done = subprocess.run(
        _setup_args(workdir, ports), env=env, capture_output=True, text=True, timeout=120, check=False
    )
    log = workdir / "log" / "postfix.log"
    assert done.returncode == 0, (
        done.stdout + done.stderr + (log.read_text(errors="replace") if log.exists() else "")
    )
    services = dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)
    return {name: int(address.rpartition(":")[2]) for name, address in services.items()}


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    # Not pytest's tmp_path: its parents are 0700 and the postfix user must reach the sasldb.
    workdir = Path(tempfile.mkdtemp(prefix="sendready-postfix-"))
    workdir.chmod(0o755)
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", TLS_NAME)
    certs = workdir / "certs"
    certs.mkdir(mode=0o700)
    leaf.private_key_pem.write_to_path(str(certs / "key.pem"))
    (certs / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    acme_password = f"canary-{secrets.token_hex(12)}"
    other_password = f"Pässwörd-ünïcødé-{secrets.token_hex(4)}"  # non-ASCII through Cyrus
    env = {
        **os.environ,
        "PATH": SBIN_PATH,
        "SENDREADY_PF_ACME_PASSWORD": acme_password,
        "SENDREADY_PF_OTHER_PASSWORD": other_password,
        "LC_ALL": "C.UTF-8",
    }
    ports = _free_ports(3)
    try:
        services = _run_setup(workdir, ports, env)
        assert services == {"submission": ports[0], "submissions": ports[1], "submission-login": ports[2]}
        yield Postfix(
            dir=workdir,
            ca_file=str(certs / "ca.pem"),
            submission=ports[0],
            submissions=ports[1],
            login_only=ports[2],
            acme_password=acme_password,
            other_password=other_password,
        )
        # Idempotence, last: a second run over a live instance reloads it and changes nothing.
        assert _run_setup(workdir, ports, env) == services
    finally:
        subprocess.run(
            ["bash", str(STOP), str(workdir)], env={**os.environ, "PATH": SBIN_PATH}, timeout=60, check=False
        )
        shutil.rmtree(workdir, ignore_errors=True)


def _queue_entries(postfix: Postfix) -> list[str]:
    queue = postfix.dir / "queue"
    return sorted(
        str(path.relative_to(queue))
        for name in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt", "bounce", "defer")
        for path in (queue / name).rglob("*")
        if path.is_file()
    )


@pytest.fixture(autouse=True)
def queue_stays_empty(postfix: Postfix) -> Iterator[None]:
    """After every test: no message was ever accepted for delivery (or is waiting anywhere)."""
    yield
    # An aborted transaction leaves its unfinished file in incoming/ until Postfix's cleanup
    # daemon unlinks it, a moment after the client hangs up (later on a loaded machine). Wait
    # for that to settle; anything outside incoming/ is a real failure at once.
    deadline = time.monotonic() + 10
    while any(e.startswith("incoming/") for e in _queue_entries(postfix)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _queue_entries(postfix) == []
    shown = subprocess.run(
        ["postqueue", "-c", str(postfix.dir / "etc"), "-p"],
        env={**os.environ, "PATH": SBIN_PATH},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Mail queue is empty" in shown.stdout, shown.stdout


def run_probe(
    postfix: Postfix,
    port: int,
    *,
    username: str = ACME,
    password: str | None = None,
    from_address: str | None = FROM,
    recipient: str | None = None,
    deep_data: bool = False,
    **overrides: Any,
) -> SmtpProbeFacts:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls_mode": TlsMode.IMPLICIT if port == postfix.submissions else TlsMode.STARTTLS,
        "server_hostname": TLS_NAME,
        "ca_file": postfix.ca_file,
        "connect_timeout": 10.0,
        "command_timeout": 10.0,
    }
    values.update(overrides)
    secret = Secret(postfix.acme_password if password is None else password)
    return asyncio.run(
        probe_submission(
            ProbeSettings(**values), username, secret, from_address, recipient, deep_data=deep_data
        )
    )


def codes(facts: SmtpProbeFacts) -> dict[str, int | None]:
    return {step.name.value: step.code for step in facts.steps}


# -- logins that work -------------------------------------------------------------------------


def test_starttls_plain_login_and_authorised_recipient(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.submission, recipient=RCPT)
    assert facts.outcome is SmtpOutcome.OK, facts.detail
    assert [step.name for step in facts.steps] == [
        S.CONNECT, S.BANNER, S.EHLO, S.STARTTLS, S.EHLO_TLS, S.AUTH, S.MAIL_FROM, S.RCPT_TO, S.RSET, S.QUIT,
    ]  # fmt: skip
    assert [step.code for step in facts.steps[1:]] == [220, 250, 220, 250, 235, 250, 250, 250, 221]
    assert "ESMTP" in facts.steps[1].text  # Postfix's own banner
    assert facts.auth_mechanisms == ("PLAIN", "LOGIN")  # mech_list in the Cyrus smtpd.conf
    assert facts.auth_mechanism_used == "PLAIN"
    assert facts.tls is not None and facts.tls.verified
    assert facts.tls.version in {"TLSv1.2", "TLSv1.3"}
    assert TLS_NAME in facts.tls.san_dns
    assert "C: AUTH PLAIN ***" in facts.transcript


def test_auth_is_only_offered_after_starttls(postfix: Postfix) -> None:
    # smtpd_tls_auth_only: the pre-TLS EHLO has no AUTH line; the post-TLS one does.
    facts = run_probe(postfix, postfix.submission, from_address=None)
    assert facts.outcome is SmtpOutcome.OK
    ehlo, ehlo_tls = facts.step(S.EHLO), facts.step(S.EHLO_TLS)
    assert ehlo is not None and ehlo_tls is not None
    assert not any(line.upper().startswith("AUTH") for line in ehlo.text.split(" / "))
    assert any(line.upper().startswith("AUTH ") for line in ehlo_tls.text.split(" / "))


def test_implicit_tls_login(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.submissions, recipient=RCPT)
    assert facts.outcome is SmtpOutcome.OK, facts.detail
    assert facts.tls_mode is TlsMode.IMPLICIT
    assert S.STARTTLS not in codes(facts)
    assert codes(facts)["auth"] == 235
    assert facts.tls is not None and facts.tls.verified


def test_login_mechanism_when_it_is_the_only_one(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.login_only, recipient=RCPT)
    assert facts.outcome is SmtpOutcome.OK, facts.detail
    assert facts.auth_mechanisms == ("LOGIN",)
    assert facts.auth_mechanism_used == "LOGIN"
    auth_at = facts.transcript.index("C: AUTH LOGIN")
    assert [line[:6] for line in facts.transcript[auth_at : auth_at + 6]] == [
        "C: AUT", "S: 334", "C: ***", "S: 334", "C: ***", "S: 235",
    ]  # fmt: skip


@pytest.mark.parametrize("port_name", ["submission", "login_only"])
def test_non_ascii_password_logs_in(postfix: Postfix, port_name: str) -> None:
    facts = run_probe(
        postfix,
        getattr(postfix, port_name),
        username=OTHER,
        password=postfix.other_password,
        from_address=OTHER_FROM,
    )
    assert facts.outcome is SmtpOutcome.OK, facts.detail


# -- the causes item 2 tells apart ------------------------------------------------------------


@pytest.mark.parametrize("port_name", ["submission", "submissions", "login_only"])
def test_wrong_password_is_auth_failed_535(postfix: Postfix, port_name: str) -> None:
    facts = run_probe(postfix, getattr(postfix, port_name), password="not-the-password")
    assert facts.outcome is SmtpOutcome.AUTH_FAILED
    assert facts.failed_step is S.AUTH
    assert codes(facts)["auth"] == 535
    assert facts.detail.startswith("535 5.7.8")
    assert S.MAIL_FROM not in codes(facts)


def test_unknown_user_is_auth_failed_535(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.submission, username="postmaster@mg.nobody.example")
    assert facts.outcome is SmtpOutcome.AUTH_FAILED
    assert codes(facts)["auth"] == 535


def test_from_address_of_a_domain_the_user_does_not_own(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.submission, from_address="alerts@unverified.example", recipient=RCPT)
    assert facts.outcome is SmtpOutcome.SENDER_REJECTED
    assert facts.failed_step is S.MAIL_FROM
    assert codes(facts)["mail_from"] == 553
    assert "Sender address rejected: not owned by user" in facts.detail
    assert S.RCPT_TO not in codes(facts)


def test_other_domains_credentials_with_our_from_address(postfix: Postfix) -> None:
    # The login works (it is a real user) but it does not own the audited domain's sender.
    facts = run_probe(postfix, postfix.submission, username=OTHER, password=postfix.other_password)
    assert codes(facts)["auth"] == 235
    assert facts.outcome is SmtpOutcome.SENDER_REJECTED
    assert facts.failed_step is S.MAIL_FROM
    assert facts.username_domain == "mg.other.example"
    assert f"not owned by user {OTHER}" in facts.detail


def test_unauthorised_recipient_is_rejected(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.submission, recipient="someone@customer.example")
    assert facts.outcome is SmtpOutcome.RECIPIENT_REJECTED
    assert facts.failed_step is S.RCPT_TO
    step = facts.step(S.RCPT_TO)
    assert step is not None and step.code is not None and 500 <= step.code < 600
    assert "Recipient address rejected" in facts.detail


def test_deep_data_stops_at_354_and_nothing_is_queued(postfix: Postfix) -> None:
    facts = run_probe(postfix, postfix.submission, recipient=RCPT, deep_data=True)
    assert facts.outcome is SmtpOutcome.OK, facts.detail
    assert codes(facts)["data"] == 354
    assert S.RSET not in codes(facts) and S.QUIT not in codes(facts)
    # (queue_stays_empty then checks that Postfix threw the half-received message away)


def test_a_completed_message_is_discarded_not_delivered(postfix: Postfix) -> None:
    """Belt and braces for the instance itself: even a full message (not the probe) goes nowhere."""
    context = ssl.create_default_context(cafile=postfix.ca_file)
    with smtplib.SMTP("127.0.0.1", postfix.submission, local_hostname="localhost", timeout=10) as client:
        client._host = TLS_NAME  # the name STARTTLS verifies the certificate against
        client.starttls(context=context)
        client.login(ACME, postfix.acme_password)
        refused = client.sendmail(FROM, [RCPT], b"Subject: discard me\r\n\r\nnever delivered\r\n")
    assert refused == {}
    assert "Client host triggers DISCARD action" in postfix.log_text


# -- secrets ----------------------------------------------------------------------------------


def _forms(username: str, password: str) -> list[str]:
    raw = password.encode()
    return [
        password,
        base64.b64encode(raw).decode(),  # LOGIN
        base64.b64encode(b"\0" + username.encode() + b"\0" + raw).decode(),  # PLAIN
        base64.b64encode(username.encode() + b"\0" + username.encode() + b"\0" + raw).decode(),
    ]


def test_canary_password_is_in_no_facts_and_not_in_postfix_log(postfix: Postfix) -> None:
    canary = postfix.acme_password
    wrong = f"canary-wrong-{secrets.token_hex(8)}"
    runs = [
        run_probe(postfix, postfix.submission, recipient=RCPT),
        run_probe(postfix, postfix.submissions, recipient=RCPT),
        run_probe(postfix, postfix.login_only, recipient=RCPT),
        run_probe(postfix, postfix.submission, password=wrong),
        run_probe(postfix, postfix.login_only, password=wrong),
    ]
    assert [facts.outcome for facts in runs] == [SmtpOutcome.OK] * 3 + [SmtpOutcome.AUTH_FAILED] * 2
    adapter = TypeAdapter(SmtpProbeFacts)
    outputs = {
        "repr": "\n".join(repr(facts) for facts in runs),
        "transcript": "\n".join(line for facts in runs for line in facts.transcript),
        "json": "\n".join(adapter.dump_json(facts).decode() for facts in runs),
        "postfix.log": postfix.log_text,
    }
    assert "sasl_username=" + ACME in outputs["postfix.log"]  # the log is the real one
    for name, text in outputs.items():
        for secret in (canary, wrong):
            for form in _forms(ACME, secret):
                assert form not in text, f"a form of the password leaked into {name}"

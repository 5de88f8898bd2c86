"""End to end: `sendready audit` with SMTP credentials, against real submission servers on loopback.

One inventory carries one domain per cause the SMTP rules explain; each domain's `smtp:` block
points at its own aiosmtpd (or fault) listener on 127.0.0.1 with the test CA, and DNS comes from
the example zones plus a clone of the correct US domain per extra domain. The audit runs once
through the CLI; every cause then has its own test that the expected rule fails in the JSON report
(and that no other SMTP rule does). SMTP010 needs the provider's real host names, so it is tested
on the pure plan. The canary test runs PLAIN and LOGIN logins, accepted and refused, and looks for
the password in every form in every report, on stdout/stderr and in every log record.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.collect.smtp.plan import plan_probe
from auditor.engine.evaluate import Evaluator
from auditor.model.inventory import DomainTarget, Region, SecretRef, SmtpSettings
from auditor.model.report import RegionView
from auditor.model.smtp import SmtpPlan
from tests import conftest
from tests.conftest import EXAMPLES, LogCollector
from tests.rules.factories import build_facts
from tests.rules.test_rule_cases import catalogue, ruleset
from tests.servers.smtp_server import (
    FREE_ACCOUNT_421,
    MAILGUN_535,
    TLS_NAME,
    Listener,
    SmtpPolicy,
    SmtpTestServers,
)

pytestmark = pytest.mark.filterwarnings(
    # aiosmtpd's own deprecation notice, raised inside the test server on every login.
    "ignore:Session.login_data is deprecated:DeprecationWarning",
)

runner = CliRunner()

TEMPLATE_DOMAIN = "mg.acme-shop.example"  # the example's correct US domain
PASSWORD = "correct horse battery staple"
RECIPIENT = "ops@example.org"
SMTP_TIMEOUT = "0.5"  # per SMTP step; loopback answers in milliseconds, the silent server waits this long
API_KEY = "0123456789abcdef0123456789abcdef-0a1b2c3d-4e5f6a7b"  # current Mailgun private key shape
SANDBOX_554 = "554 5.7.1 Sandbox subdomains are for test purposes only"


@dataclass(frozen=True)
class Cause:
    """One domain of the shared inventory: its server, its smtp block, the rule it must fail."""

    domain: str
    expected: frozenset[str]
    server: str = "starttls"
    """`starttls` (aiosmtpd with `policy`), `banner_421`, `silent` or `refused`."""
    policy: dict[str, Any] = field(default_factory=dict)
    """SmtpPolicy overrides; username, password and sender domain default to the domain's own."""
    smtp: dict[str, Any] = field(default_factory=dict)
    """Inventory `smtp:` overrides (username, from, recipient, tls_name)."""
    password: str | None = PASSWORD
    """The value behind the `env:` reference; None leaves the variable unset."""


CAUSES = [
    Cause("mg.healthy-smtp.example", frozenset()),
    Cause("mg.api-key.example", frozenset({"SMTP001"}), password=API_KEY),
    Cause(
        "mg.foreign-login.example",
        frozenset({"SMTP002"}),
        policy={
            "username": "postmaster@mg.other-shop.example",
            "allowed_sender_domains": ("mg.other-shop.example",),
        },
        smtp={"username": "postmaster@mg.other-shop.example"},
    ),
    Cause("mg.reset-password.example", frozenset({"SMTP003"}), password="an old password, reset since"),
    Cause("mg.no-auth.example", frozenset({"SMTP004"}), policy={"offer_auth": False}),
    Cause("mg.wrong-sender.example", frozenset({"SMTP005"}), smtp={"from": "alerts@shop.example.org"}),
    Cause(
        "mg.sandbox-rcpt.example",
        frozenset({"SMTP006"}),
        policy={"allowed_recipients": ("owner@example.org",)},
    ),
    Cause("mg.free-account.example", frozenset({"SMTP012"}), policy={"data_reply": FREE_ACCOUNT_421}),
    Cause("mg.busy-server.example", frozenset({"SMTP007"}), server="banner_421"),
    Cause("mg.refused-port.example", frozenset({"SMTP008"}), server="refused"),
    Cause(
        "mg.vanity-name.example",
        frozenset({"SMTP009"}),
        smtp={"tls_name": "smtp.mg.vanity-name.example"},
    ),
    Cause("mg.silent-server.example", frozenset({"SMTP011"}), server="silent"),
    Cause("mg.sandbox-data.example", frozenset({"SMTP012"}), policy={"data_reply": SANDBOX_554}),
    Cause("mg.unset-secret.example", frozenset({"SMTP013"}), password=None),
]


def env_name(domain: str) -> str:
    return "SENDREADY_E2E_" + domain.split(".")[1].replace("-", "_").upper()


def write_zones(directory: Path, domains: list[str]) -> Path:
    """The example zones plus a copy of the correct US domain's zone for each domain."""
    zones = directory / "zones"
    shutil.copytree(EXAMPLES / "zones", zones)
    template = (EXAMPLES / "zones" / f"{TEMPLATE_DOMAIN}.zone").read_text(encoding="utf-8")
    for domain in domains:
        if domain != TEMPLATE_DOMAIN:
            (zones / f"{domain}.zone").write_text(template.replace(TEMPLATE_DOMAIN, domain), encoding="utf-8")
    return zones


def start_listener(servers: SmtpTestServers, cause: Cause) -> tuple[Listener | None, int]:
    if cause.server == "refused":
        return None, servers.refused_port()
    if cause.server == "banner_421":
        listener = servers.banner_421()
    elif cause.server == "silent":
        listener = servers.silent()
    else:
        values: dict[str, Any] = {
            "username": f"postmaster@{cause.domain}",
            "password": PASSWORD,
            "auth_failure_reply": MAILGUN_535,
            "allowed_sender_domains": (cause.domain,),
        }
        values.update(cause.policy)
        listener = servers.starttls(SmtpPolicy(**values))
    return listener, listener.port


def smtp_block(cause: Cause, port: int) -> dict[str, Any]:
    block = {
        "username": f"postmaster@{cause.domain}",
        "password": f"env:{env_name(cause.domain)}",
        "from": f"alerts@{cause.domain}",
        "recipient": RECIPIENT,
        "host": "127.0.0.1",
        "port": port,
        "tls_name": TLS_NAME,
    }
    block.update(cause.smtp)
    return block


def write_inventory(path: Path, entries: list[tuple[str, dict[str, Any]]]) -> Path:
    domains = [
        {"name": name, "region": "us", "dkim_selectors": ["k1"], "smtp": smtp} for name, smtp in entries
    ]
    path.write_text(yaml.safe_dump({"domains": domains}, sort_keys=False), encoding="utf-8")
    return path


def findings_by_domain(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {d["domain"]: {f["rule_id"]: f["status"] for f in d["findings"]} for d in document["domains"]}


def smtp_failures(statuses: dict[str, str]) -> set[str]:
    return {rule for rule, status in statuses.items() if rule.startswith("SMTP") and status == "fail"}


@pytest.fixture(scope="module")
def servers() -> Iterator[SmtpTestServers]:
    with SmtpTestServers() as running:
        yield running


@dataclass
class AuditRun:
    document: dict[str, Any]
    listeners: dict[str, Listener | None]
    exit_code: int
    output: str


@pytest.fixture(scope="module")
def audit_run(servers: SmtpTestServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditRun]:
    """One CLI audit of every cause. Module-scoped, so the loopback guard is applied here too."""
    tmp = tmp_path_factory.mktemp("smtp-e2e")
    zones = write_zones(tmp, [c.domain for c in CAUSES])
    listeners: dict[str, Listener | None] = {}
    entries = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", conftest._guarded_connect)
        mp.setattr(socket.socket, "connect_ex", conftest._guarded_connect_ex)
        mp.setattr(socket.socket, "sendto", conftest._guarded_sendto)
        for cause in CAUSES:
            listener, port = start_listener(servers, cause)
            listeners[cause.domain] = listener
            entries.append((cause.domain, smtp_block(cause, port)))
            if cause.password is None:
                mp.delenv(env_name(cause.domain), raising=False)
            else:
                mp.setenv(env_name(cause.domain), cause.password)
        inventory = write_inventory(tmp / "inventory.yaml", entries)
        out = tmp / "report.json"
        result = runner.invoke(
            app,
            [
                "audit", str(inventory), "--zone-dir", str(zones),
                "--smtp-ca-file", servers.ca_file, "--smtp-timeout", SMTP_TIMEOUT,
                "--smtp-data", "--smtp-per-host", "16",
                "--format", "json", "--output", str(out), "-q",
            ],
        )  # fmt: skip
    assert "Traceback" not in result.output, result.output
    assert out.exists(), result.output
    for listener in listeners.values():
        if listener is not None:
            listener.wait_idle()
    yield AuditRun(json.loads(out.read_text(encoding="utf-8")), listeners, result.exit_code, result.output)


# -- every cause against a real server ---------------------------------------------------------


@pytest.mark.parametrize("cause", CAUSES, ids=[c.domain.split(".")[1] for c in CAUSES])
def test_each_cause_fails_its_rule(audit_run: AuditRun, cause: Cause) -> None:
    statuses = findings_by_domain(audit_run.document)[cause.domain]
    smtp = next(d for d in audit_run.document["domains"] if d["domain"] == cause.domain)["smtp"]
    detail = f"{cause.domain}: outcome={smtp and smtp['outcome']} detail={smtp and smtp['detail']!r}"
    for rule in cause.expected:
        assert statuses.get(rule) == "fail", detail
    # ...and it is told apart from the other causes: no other SMTP rule fails for it.
    assert smtp_failures(statuses) == set(cause.expected), detail


def test_healthy_domain_passes_every_smtp_rule_and_delivers_nothing(audit_run: AuditRun) -> None:
    statuses = findings_by_domain(audit_run.document)["mg.healthy-smtp.example"]
    smtp_rules = {rule: status for rule, status in statuses.items() if rule.startswith("SMTP")}
    assert smtp_rules and set(smtp_rules.values()) == {"pass"}, smtp_rules
    domain = next(d for d in audit_run.document["domains"] if d["domain"] == "mg.healthy-smtp.example")
    assert domain["readiness"] == "ready"
    assert domain["smtp"]["outcome"] == "ok"
    assert [s["name"] for s in domain["smtp"]["steps"]][-1] == "data"  # --smtp-data: hung up at 354
    listener = audit_run.listeners["mg.healthy-smtp.example"]
    assert listener is not None and listener.stats.messages == []


def test_every_smtp_rule_is_exercised_by_a_real_server(audit_run: AuditRun) -> None:
    # SMTP010 needs the provider's real host names (tested on the plan below); SMTP014 needs
    # --insecure (its own run below).
    failed = set().union(*(c.expected for c in CAUSES))
    smtp_rules = {r.id for r in ruleset().rules if r.id.startswith("SMTP")}
    assert smtp_rules - failed == {"SMTP010", "SMTP014"}
    assert audit_run.exit_code == 1


def test_causes_show_the_servers_reply(audit_run: AuditRun) -> None:
    smtp = {d["domain"]: d["smtp"] for d in audit_run.document["domains"]}
    assert smtp["mg.api-key.example"]["credential_shape"] == "mailgun_api_key"
    assert MAILGUN_535.removeprefix("535 ") in smtp["mg.api-key.example"]["detail"]
    assert smtp["mg.reset-password.example"]["credential_shape"] == "plausible_smtp_password"
    assert smtp["mg.free-account.example"]["failed_step"] == "data"
    assert smtp["mg.busy-server.example"]["failed_step"] == "banner"
    assert smtp["mg.vanity-name.example"]["tls"]["verify_failure"] == "hostname_mismatch"
    assert smtp["mg.silent-server.example"]["outcome"] == "timeout"
    # An unreadable secret: nothing sent, not even a connection.
    assert smtp["mg.unset-secret.example"]["steps"] == []
    listener = audit_run.listeners["mg.unset-secret.example"]
    assert listener is not None and listener.stats.connections == 0
    # A free account's 421 at DATA reached DATA and sent nothing.
    free = audit_run.listeners["mg.free-account.example"]
    assert free is not None and free.stats.messages == []


def test_insecure_probe_is_reported(
    servers: SmtpTestServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = "mg.healthy-smtp.example"
    zones = write_zones(tmp_path, [domain])
    cause = Cause(domain, frozenset({"SMTP014"}))
    _, port = start_listener(servers, cause)
    monkeypatch.setenv(env_name(domain), PASSWORD)
    inventory = write_inventory(tmp_path / "inventory.yaml", [(domain, smtp_block(cause, port))])
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        ["audit", str(inventory), "--zone-dir", str(zones), "--insecure",
         "--format", "json", "--output", str(out), "-q"],
    )  # fmt: skip
    assert out.exists(), result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    statuses = findings_by_domain(document)[domain]
    assert smtp_failures(statuses) == {"SMTP014"}
    assert document["domains"][0]["smtp"]["insecure"] is True


def test_no_smtp_does_not_claim_the_credentials_are_missing(
    servers: SmtpTestServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = "mg.healthy-smtp.example"
    zones = write_zones(tmp_path, [domain])
    cause = Cause(domain, frozenset())
    listener, port = start_listener(servers, cause)
    monkeypatch.setenv(env_name(domain), PASSWORD)
    inventory = write_inventory(tmp_path / "inventory.yaml", [(domain, smtp_block(cause, port))])
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        ["audit", str(inventory), "--zone-dir", str(zones), "--no-smtp",
         "--format", "json", "--output", str(out), "-q"],
    )  # fmt: skip
    assert out.exists(), result.output
    assert listener is not None and listener.stats.connections == 0  # --no-smtp: no probe
    findings = json.loads(out.read_text(encoding="utf-8"))["domains"][0]["findings"]
    reasons = {f["rule_id"]: f["reason"] or "" for f in findings if f["rule_id"].startswith("SMTP")}
    wrong = {rule: reason for rule, reason in reasons.items() if "no SMTP credentials" in reason}
    assert not wrong, wrong
    statuses = {f["rule_id"]: f["status"] for f in findings if f["rule_id"].startswith("SMTP")}
    assert set(statuses.values()) == {"skipped"}, statuses  # turned off on purpose: not unknown


# -- SMTP010: the plan corrects the other region's host (pure, no network) ---------------------


def _target(host: str, region: Region = Region.US) -> DomainTarget:
    return DomainTarget(
        name=TEMPLATE_DOMAIN,
        region=region,
        smtp=SmtpSettings(f"postmaster@{TEMPLATE_DOMAIN}", SecretRef("env", "MG_PASS"), host=host),
    )


@pytest.mark.parametrize(
    ("configured", "region", "expected"),
    [
        ("smtp.eu.mailgun.org", "us", "smtp.mailgun.org"),
        ("SMTP.EU.MAILGUN.ORG.", "us", "smtp.mailgun.org"),
        ("smtp.mailgun.org", "eu", "smtp.eu.mailgun.org"),
    ],
)
def test_other_regions_host_is_corrected_by_the_plan(
    monkeypatch: pytest.MonkeyPatch, configured: str, region: str, expected: str
) -> None:
    attempts: list[object] = []

    def no_network(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("plan_probe must not touch the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    target = _target(configured, Region(region))
    plan = plan_probe(target, RegionView(region, region, region), catalogue())
    assert plan == SmtpPlan(configured, expected, 587, expected, region, corrected=True)
    assert attempts == []
    # ...and the rule explains it.
    facts = build_facts(
        {"smtp": {"host": expected}, "smtp_plan": {"configured_host": configured, "host": expected,
                                                    "region": region, "corrected": True}},
        target,
    )  # fmt: skip
    report = Evaluator(ruleset(), catalogue()).evaluate(target, facts)
    finding = next(f for f in report.findings if f.rule_id == "SMTP010")
    assert finding.status == "fail"
    assert expected in finding.message and region.upper() in finding.message


def test_regions_own_host_and_private_relays_are_not_corrected() -> None:
    region = RegionView("us", "us", "us")
    own = plan_probe(_target("smtp.mailgun.org"), region, catalogue())
    relay = plan_probe(_target("relay.example.net"), region, catalogue())
    assert isinstance(own, SmtpPlan) and not own.corrected and own.host == "smtp.mailgun.org"
    assert isinstance(relay, SmtpPlan) and not relay.corrected and relay.host == "relay.example.net"


# -- the canary: the password never leaves the probe, in any form -------------------------------

CANARY = "Canary-Pässwörd-7f3a9c"


def canary_forms(usernames: list[str]) -> list[str]:
    raw = CANARY.encode("utf-8")
    forms = [
        CANARY,
        base64.b64encode(raw).decode(),  # UTF-8 base64: the LOGIN password line
        repr(raw)[2:-1],  # as bytes in a log message
        "Canary-P",  # any fragment of the plain value
    ]
    for user in usernames:
        u = user.encode()
        forms.append(base64.b64encode(b"\0" + u + b"\0" + raw).decode())  # PLAIN
        forms.append(base64.b64encode(u + b"\0" + u + b"\0" + raw).decode())  # PLAIN with authzid
    return forms


def test_canary_password_never_leaks(
    servers: SmtpTestServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, all_logs: LogCollector
) -> None:
    # Given PLAIN-only and LOGIN-only servers, one accepting the canary and one refusing it each
    cases = {
        "mg.plain-ok.example": ("PLAIN", CANARY),
        "mg.plain-refused.example": ("PLAIN", "another password"),
        "mg.login-ok.example": ("LOGIN", CANARY),
        "mg.login-refused.example": ("LOGIN", "another password"),
    }
    zones = write_zones(tmp_path, list(cases))
    entries = []
    for domain, (mechanism, server_password) in cases.items():
        policy = {"mechanisms": (mechanism,), "password": server_password}
        cause = Cause(domain, frozenset(), policy=policy)
        values: dict[str, Any] = {"username": f"postmaster@{domain}", "allowed_sender_domains": (domain,)}
        listener = servers.starttls(SmtpPolicy(**values, **policy))
        block = smtp_block(cause, listener.port)
        block["password"] = "env:SENDREADY_CANARY"
        entries.append((domain, block))
    monkeypatch.setenv("SENDREADY_CANARY", CANARY)
    inventory = write_inventory(tmp_path / "inventory.yaml", entries)
    reports = tmp_path / "out"
    reports.mkdir()

    # When the audit writes every format, with every logger at DEBUG
    result = runner.invoke(
        app,
        ["audit", str(inventory), "--zone-dir", str(zones), "--smtp-ca-file", servers.ca_file,
         "--smtp-data", "--format", "html", "--format", "md", "--format", "json",
         "--output", str(reports / "report")],
    )  # fmt: skip

    # Then each path was really exercised...
    files = sorted(reports.iterdir())
    assert [f.name for f in files] == ["report.html", "report.json", "report.md"], result.output
    document = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    smtp = {d["domain"]: d["smtp"] for d in document["domains"]}
    assert {d: (s["auth_mechanism_used"], s["outcome"]) for d, s in smtp.items()} == {
        "mg.plain-ok.example": ("PLAIN", "ok"),
        "mg.plain-refused.example": ("PLAIN", "auth_failed"),
        "mg.login-ok.example": ("LOGIN", "ok"),
        "mg.login-refused.example": ("LOGIN", "auth_failed"),
    }
    assert all_logs.texts, "the log capture saw nothing; it is not wired up"
    assert "Wrote json report" in result.stdout

    # ...the HTML report shows the transcripts with the AUTH payloads masked...
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert html.count("C: AUTH PLAIN ***\n") == 2
    # LOGIN: both 334 challenges are kept, both answers (login and password) are masked.
    login = re.compile(r"C: AUTH LOGIN\nS: 334 \S+\nC: \*\*\*\nS: 334 \S+\nC: \*\*\*\nS: (235|535) ")
    assert [m.group(1) for m in login.finditer(html)] == ["235", "535"]

    # ...and no output holds the canary in any form.
    outputs = {f.name: f.read_text(encoding="utf-8") for f in files}
    outputs["stdout"] = result.stdout
    outputs["stderr"] = result.stderr
    outputs.update({f"log[{i}]": text for i, text in enumerate(all_logs.texts)})
    for form in canary_forms([f"postmaster@{d}" for d in cases]):
        leaks = [name for name, text in outputs.items() if form in text]
        assert not leaks, f"canary form {form!r} leaked into {leaks}"

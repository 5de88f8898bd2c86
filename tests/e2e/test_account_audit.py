"""End to end: `sendready audit --mailgun-api-key`, against Mailgun-shaped domains APIs on loopback.

Two HTTPS servers with a trustme CA stand in for the US and EU domains APIs; DNS comes from the
example zones plus one clone of the correct US domain per case, edited where the case needs it.
The inventory names no DKIM selector, so the selectors the account lists are the ones checked.
The audit runs once through the CLI with a canary API key and writes every format; each case then
has its own test on the JSON report, and the canary test searches every output for the key.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES, LogCollector
from tests.servers.mailgun_api_server import FakeDomainsApi, Reply, as_json, domain_body, start, stop

runner = CliRunner()

TEMPLATE = "mg.acme-shop.example"  # the example's correct US domain
CANARY_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0-canary01-7a7b7c7d"
ROTATED_KEY = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDrotatedkeyrotatedkeyrotatedkeyAQAB"


def _template_key() -> str:
    """The DKIM TXT value of the template domain's k1 selector, as one string."""
    for line in (EXAMPLES / "zones" / f"{TEMPLATE}.zone").read_text(encoding="utf-8").splitlines():
        if line.startswith("k1._domainkey"):
            return "".join(part for part in line.split('"')[1::2])
    raise AssertionError("template zone has no k1 key")


DKIM_VALUE = _template_key()


def sending(
    domain: str, *, selector: str = "k1", key: str = DKIM_VALUE, region: str = "us", valid: str = "valid"
) -> list[dict[str, Any]]:
    target = "eu.mailgun.org" if region == "eu" else "mailgun.org"
    return [
        {"record_type": "TXT", "valid": valid, "name": domain, "value": "v=spf1 include:mailgun.org ~all"},
        {"record_type": "TXT", "valid": valid, "name": f"{selector}._domainkey.{domain}", "value": key},
        {"record_type": "CNAME", "valid": valid, "name": f"email.{domain}", "value": target},
    ]


def receiving(region: str = "us") -> list[dict[str, Any]]:
    suffix = "eu.mailgun.org" if region == "eu" else "mailgun.org"
    return [
        {"record_type": "MX", "valid": "valid", "priority": "10", "value": f"mxa.{suffix}"},
        {"record_type": "MX", "valid": "valid", "priority": "10", "value": f"mxb.{suffix}"},
    ]


@dataclass(frozen=True)
class Case:
    domain: str
    us: Reply | None = None
    """The US API's answer (None: its 404)."""
    eu: Reply | None = None
    selector: str = "k1"
    """The DKIM selector in the domain's zone."""


def _answer(domain: str, region: str = "us", **kwargs: Any) -> Reply:
    selector = kwargs.pop("selector", "k1")
    key = kwargs.pop("key", DKIM_VALUE)
    valid = kwargs.pop("valid", "valid")
    body = domain_body(
        domain,
        sending=sending(domain, selector=selector, key=key, region=region, valid=valid),
        receiving=receiving(region),
        **kwargs,
    )
    return as_json(body)


CASES = {
    "ok": Case("mg.account-ok.example", us=_answer("mg.account-ok.example")),
    "rotated": Case("mg.rotated-key.example",
                    us=_answer("mg.rotated-key.example", key=f"k=rsa; p={ROTATED_KEY}")),
    "selector": Case("mg.odd-selector.example", us=_answer("mg.odd-selector.example", selector="s2024"),
                     selector="s2024"),
    "unknown": Case("mg.not-in-account.example"),
    "eu": Case("mg.lives-in-eu.example", eu=_answer("mg.lives-in-eu.example", region="eu")),
    "unverified": Case("mg.unverified.example",
                       us=_answer("mg.unverified.example", state="unverified", valid="unknown")),
    "disabled": Case("mg.disabled.example", us=_answer("mg.disabled.example", is_disabled=True)),
    "sandbox": Case("mg.sandbox-acct.example", us=_answer("mg.sandbox-acct.example", kind="sandbox")),
}  # fmt: skip


def write_zones(directory: Path) -> Path:
    zones = directory / "zones"
    shutil.copytree(EXAMPLES / "zones", zones)
    template = (zones / f"{TEMPLATE}.zone").read_text(encoding="utf-8")
    for case in CASES.values():
        text = template.replace(TEMPLATE, case.domain).replace("k1._domainkey", f"{case.selector}._domainkey")
        (zones / f"{case.domain}.zone").write_text(text, encoding="utf-8")
    return zones


@dataclass
class AuditRun:
    document: dict[str, Any]
    outputs: dict[str, str]
    exit_code: int

    def domain(self, key: str) -> dict[str, Any]:
        name = CASES[key].domain
        return next(d for d in self.document["domains"] if d["domain"] == name)

    def status(self, key: str, rule: str) -> list[str]:
        return [f["status"] for f in self.domain(key)["findings"] if f["rule_id"] == rule]

    def finding(self, key: str, rule: str) -> dict[str, Any]:
        found = [f for f in self.domain(key)["findings"] if f["rule_id"] == rule]
        assert len(found) == 1, found
        return found[0]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


@pytest.fixture(scope="module")
def apis(ca: tuple[trustme.CA, Path]) -> Iterator[tuple[FakeDomainsApi, FakeDomainsApi]]:
    authority, _ = ca
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    us, eu = FakeDomainsApi("us"), FakeDomainsApi("eu")
    for case in CASES.values():
        if case.us is not None:
            us.replies[case.domain] = case.us
        if case.eu is not None:
            eu.replies[case.domain] = case.eu
    start(us, context)
    start(eu, context)
    yield us, eu
    stop(us)
    stop(eu)


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, key: str) -> Any:
    monkeypatch.setenv("SENDREADY_E2E_MG_KEY", key)
    return runner.invoke(app, ["audit", *args, "--mailgun-api-key", "env:SENDREADY_E2E_MG_KEY"])


@pytest.fixture(scope="module")
def audit_run(
    apis: tuple[FakeDomainsApi, FakeDomainsApi],
    ca: tuple[trustme.CA, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AuditRun]:
    us, eu = apis
    work = tmp_path_factory.mktemp("account")
    zones = write_zones(work)
    domains = [{"name": c.domain, "region": "us"} for c in CASES.values()]
    inventory = work / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"domains": domains}, sort_keys=False), encoding="utf-8")
    out = work / "out"
    out.mkdir()
    monkeypatch = pytest.MonkeyPatch()
    collector = LogCollector()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        result = run_cli(
            [str(inventory), "--zone-dir", str(zones),
             "--mailgun-api-url", f"us={us.base_url}", "--mailgun-api-url", f"eu={eu.base_url}",
             "--api-ca-file", str(ca[1]),
             "--format", "json", "--format", "html", "--format", "md", "--output", str(out / "report")],
            monkeypatch,
            CANARY_KEY,
        )  # fmt: skip
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)
        monkeypatch.undo()
    assert (out / "report.json").exists(), result.output
    outputs = {f.name: f.read_text(encoding="utf-8") for f in out.iterdir()}
    outputs["stdout"] = result.stdout
    outputs["stderr"] = result.stderr
    outputs.update({f"log[{i}]": text for i, text in enumerate(collector.texts)})
    yield AuditRun(json.loads(outputs["report.json"]), outputs, result.exit_code)


def test_healthy_account_domain_passes_every_account_rule(audit_run: AuditRun) -> None:
    statuses = {f["rule_id"]: f["status"] for f in audit_run.domain("ok")["findings"]}
    assert {r: s for r, s in statuses.items() if r.startswith("ACCT")} == {
        "ACCT001": "pass", "ACCT002": "pass", "ACCT003": "pass", "ACCT004": "pass", "ACCT005": "pass",
    }  # fmt: skip
    assert audit_run.domain("ok")["readiness"] == "ready"


def test_rotated_key_is_caught_and_the_providers_key_is_the_fix(audit_run: AuditRun) -> None:
    finding = audit_run.finding("rotated", "ACCT004")
    assert finding["status"] == "fail"
    record = finding["remediation"]["records"][0]
    assert (record["type"], record["name"]) == ("TXT", "k1._domainkey.mg.rotated-key.example")
    assert ROTATED_KEY in record["value"]
    # DNS alone sees a healthy 2048-bit key at k1: only the account tells the difference.
    assert audit_run.status("rotated", "DKIM003") in (["pass"], [])
    assert audit_run.domain("rotated")["readiness"] == "not_ready"


def test_selector_comes_from_the_account(audit_run: AuditRun) -> None:
    dkim = [f for f in audit_run.domain("selector")["findings"] if f["rule_id"] == "DKIM002"]
    name = "s2024._domainkey.mg.odd-selector.example"
    assert [(f["subject"], f["status"]) for f in dkim] == [(name, "pass")]
    assert audit_run.status("selector", "DKIM001") == ["skipped"]  # nothing had to be guessed
    assert audit_run.domain("selector")["readiness"] == "ready"


def test_domain_unknown_to_the_account(audit_run: AuditRun) -> None:
    finding = audit_run.finding("unknown", "ACCT001")
    assert finding["status"] == "fail"
    assert "us: HTTP 404" in finding["message"] and "eu: HTTP 404" in finding["message"]


def test_account_region_decides_where_the_domain_lives(audit_run: AuditRun) -> None:
    # Declared US, DNS copied from the US instructions, but the EU API knows the domain.
    domain = audit_run.domain("eu")
    assert domain["region"]["effective"] == "eu"
    assert any("eu API knows the domain" in tell for tell in domain["region"]["tells"])
    assert audit_run.status("eu", "REG002") == ["fail"]
    mismatch = audit_run.finding("eu", "ACCT004")
    published = {(r["type"], r["value"]) for r in mismatch["remediation"]["records"]}
    assert {
        ("CNAME", "eu.mailgun.org"),
        ("MX", "mxa.eu.mailgun.org"),
        ("MX", "mxb.eu.mailgun.org"),
    } <= published


def test_unverified_domain_with_correct_dns_says_press_verify(audit_run: AuditRun) -> None:
    finding = audit_run.finding("unverified", "ACCT005")
    assert finding["status"] == "fail"
    assert "DNS now serves what it expects" in finding["message"]
    assert audit_run.status("unverified", "ACCT004") == ["pass"]


def test_disabled_and_sandbox_domains(audit_run: AuditRun) -> None:
    assert audit_run.status("disabled", "ACCT002") == ["fail"]
    assert audit_run.status("sandbox", "ACCT003") == ["fail"]
    assert audit_run.status("sandbox", "ACCT005") == ["pass"]


def test_exit_code_reflects_account_failures(audit_run: AuditRun) -> None:
    assert audit_run.exit_code == 1


def test_canary_api_key_never_leaks(audit_run: AuditRun, apis: tuple[FakeDomainsApi, FakeDomainsApi]) -> None:
    us, _ = apis
    # The key really was used: as basic auth for user `api` on every request.
    sent = base64.b64encode(f"api:{CANARY_KEY}".encode()).decode()
    assert us.seen and all(s.authorization == f"Basic {sent}" for s in us.seen)
    assert set(audit_run.outputs) >= {"report.json", "report.html", "report.md", "stdout", "stderr"}
    assert any(name.startswith("log[") for name in audit_run.outputs), "the log capture saw nothing"
    forms = [CANARY_KEY, sent, base64.b64encode(CANARY_KEY.encode()).decode(), CANARY_KEY[:20]]
    for form in forms:
        leaks = [name for name, text in audit_run.outputs.items() if form in text]
        assert not leaks, f"API key form {form!r} leaked into {leaks}"


def test_refused_key_makes_account_rules_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given APIs that refuse the key everywhere (401), as Mailgun does for a wrong key
    refusing = [FakeDomainsApi(region, default=Reply(401, b"Forbidden", content_type="text/plain"))
                for region in ("us", "eu")]  # fmt: skip
    for api in refusing:
        start(api)
    try:
        result = run_cli(
            [CASES["ok"].domain, "--zone-dir", str(write_zones(tmp_path)), "--region", "us",
             "--mailgun-api-url", f"us={refusing[0].base_url}",
             "--mailgun-api-url", f"eu={refusing[1].base_url}",
             "--format", "json", "--output", "-", "-q"],
            monkeypatch,
            "key-not-the-right-one-0123456789abcdef",
        )  # fmt: skip
    finally:
        for api in refusing:
            stop(api)
    # Then every account rule is unknown, never pass, and the domain cannot be called ready
    document = json.loads(result.stdout)
    domain = document["domains"][0]
    statuses = {f["rule_id"]: f["status"] for f in domain["findings"] if f["rule_id"].startswith("ACCT")}
    assert set(statuses.values()) <= {"unknown", "skipped"} and statuses["ACCT001"] == "unknown", statuses
    reasons = {f["reason"] for f in domain["findings"] if f["rule_id"] == "ACCT001"}
    assert any("rejected by every regional API" in (r or "") for r in reasons), reasons
    assert domain["readiness"] == "could_not_verify"
    assert result.exit_code == 0, result.output  # unknown fails only with --strict

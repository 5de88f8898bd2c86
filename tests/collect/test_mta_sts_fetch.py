"""MTA-STS end to end against real servers on loopback: zone files for DNS, an HTTPS server with a
trustme CA for the policies, and the CLI on top. Every outcome below is produced by the server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.collect.mta_sts_fetch import MtaStsPolicyClient, parse_connect_to
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import Failure, FailureKind, MxFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.model.mail_domain import MtaStsFacts, MtaStsPolicyFacts
from auditor.resources import rules_dir
from tests.servers.policy_server import PolicyServer, Reply

ORIGIN = "mail.example"
POLICY_DOMAINS = ("good", "testing", "wrongmx", "missing", "redirect", "html", "big", "badsyntax", "slow")


def _policy(mode: str, *mx: str) -> bytes:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), "max_age: 604800"]
    return ("\r\n".join(lines) + "\r\n").encode()


REPLIES = {
    "good": Reply(_policy("enforce", f"*.good.{ORIGIN}")),
    "testing": Reply(_policy("testing", f"*.testing.{ORIGIN}")),
    "wrongmx": Reply(_policy("enforce", "mx.elsewhere.example")),
    "missing": Reply(b"no such file", 404),
    "redirect": Reply(b"", 301, {"Location": "https://www.example.com/mta-sts.txt"}),
    "html": Reply(_policy("enforce", "*.html.mail.example"), 200, {"Content-Type": "text/html"}),
    "big": Reply(b"version: STSv1\n" + b"#" * (100 * 1024)),
    "badsyntax": Reply(b"version: STSv1\nmode: enforce\n"),
    "slow": Reply(_policy("enforce", f"*.slow.{ORIGIN}"), delay=1.5),
    "badcert": Reply(_policy("enforce", f"*.badcert.{ORIGIN}")),
}

ZONE_HEAD = f"""$ORIGIN {ORIGIN}.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
"""


def _zone() -> str:
    lines = [ZONE_HEAD]
    for label in (*REPLIES, "dnsaddr", "nohost", "notxt"):
        lines.append(f"{label} IN MX 10 mx1.{label}")
        lines.append(f"mx1.{label} IN A 192.0.2.10")
        if label != "notxt":
            lines.append(f'_mta-sts.{label} IN TXT "v=STSv1; id=2025{len(label)}"')
        lines.append(f'_smtp._tls.{label} IN TXT "v=TLSRPTv1; rua=mailto:tls@{label}.{ORIGIN}"')
    lines.append("mta-sts.dnsaddr IN A 127.0.0.1")  # nothing listens on 443 there
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def zone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zones")
    (path / f"{ORIGIN}.zone").write_text(_zone())
    return path


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyServer]:
    replies = {f"mta-sts.{label}.{ORIGIN}": reply for label, reply in REPLIES.items()}
    cert_hosts = [f"mta-sts.{label}.{ORIGIN}" for label in REPLIES if label != "badcert"]
    with PolicyServer(replies, cert_hosts, tmp_path_factory.mktemp("ca")) as server:
        yield server


def _collect(zone_dir: Path, server: PolicyServer, labels: list[str], timeout: float = 5.0) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        resolver = CachingResolver(ZoneBackend.from_directory(zone_dir))
        client = MtaStsPolicyClient(
            resolver,
            timeout=timeout,
            verify=str(server.ca_file),
            connect_to={"*": ("127.0.0.1", server.port)},
        )
        collector = DnsCollector(
            resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"), client
        )
        try:
            targets = [DomainTarget(name=f"{label}.{ORIGIN}", region=Region.US) for label in labels]
            facts = await asyncio.gather(*(collector.collect(t) for t in targets))
            return {label: f for label, f in zip(labels, facts, strict=True)}
        finally:
            collector.close()
            await client.aclose()

    return asyncio.run(run())


def _policy_of(facts: Any) -> MtaStsPolicyFacts | Failure | None:
    assert isinstance(facts.mta_sts, MtaStsFacts), facts.mta_sts
    return facts.mta_sts.policy


def test_good_and_testing_policies_are_parsed(zone_dir: Path, policy_server: PolicyServer) -> None:
    facts = _collect(zone_dir, policy_server, ["good", "testing"])
    good = _policy_of(facts["good"])
    assert isinstance(good, MtaStsPolicyFacts)
    assert (good.problem, good.mode, good.max_age, good.mx) == (
        None,
        "enforce",
        604800,
        (f"*.good.{ORIGIN}",),
    )
    assert good.url == f"https://mta-sts.good.{ORIGIN}/.well-known/mta-sts.txt"
    testing = _policy_of(facts["testing"])
    assert isinstance(testing, MtaStsPolicyFacts) and testing.mode == "testing"


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("missing", "HTTP 404"),
        ("redirect", "HTTP 301 redirect to https://www.example.com/mta-sts.txt"),
        ("html", "media type text/html"),
        ("big", "over the 65536-byte cap"),
        ("badsyntax", "invalid policy"),
        ("badcert", "certificate does not verify"),
    ],
)
def test_broken_policies_are_facts_with_a_problem(
    zone_dir: Path, policy_server: PolicyServer, label: str, problem: str
) -> None:
    policy = _policy_of(_collect(zone_dir, policy_server, [label])[label])
    assert isinstance(policy, MtaStsPolicyFacts), policy
    assert policy.problem is not None and problem in policy.problem


def test_no_answer_in_time_is_a_timeout_failure(zone_dir: Path, policy_server: PolicyServer) -> None:
    policy = _policy_of(_collect(zone_dir, policy_server, ["slow"], timeout=0.3)["slow"])
    assert isinstance(policy, Failure) and policy.reason is FailureKind.TIMEOUT


def test_address_comes_from_the_run_resolver(zone_dir: Path, tmp_path: Path) -> None:
    """Without --mta-sts-connect the host is looked up in the run's DNS: 127.0.0.1:443 refuses."""

    async def run() -> dict[str, Any]:
        resolver = CachingResolver(ZoneBackend.from_directory(zone_dir))
        client = MtaStsPolicyClient(resolver, timeout=2.0)
        collector = DnsCollector(
            resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"), client
        )
        try:
            out = {}
            for label in ("dnsaddr", "nohost"):
                out[label] = await collector.collect(DomainTarget(name=f"{label}.{ORIGIN}", region=Region.US))
            return out
        finally:
            collector.close()
            await client.aclose()

    facts = asyncio.run(run())
    refused = _policy_of(facts["dnsaddr"])
    assert isinstance(refused, Failure) and refused.reason is FailureKind.NETWORK
    missing = _policy_of(facts["nohost"])
    assert isinstance(missing, MtaStsPolicyFacts) and "does not exist" in (missing.problem or "")


def test_one_fetch_per_policy_host_and_none_without_txt(zone_dir: Path, policy_server: PolicyServer) -> None:
    before = list(policy_server.requests)

    async def run() -> None:
        resolver = CachingResolver(ZoneBackend.from_directory(zone_dir))
        client = MtaStsPolicyClient(
            resolver, verify=str(policy_server.ca_file), connect_to={"*": ("127.0.0.1", policy_server.port)}
        )
        collector = DnsCollector(
            resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"), client
        )
        try:
            target = DomainTarget(name=f"good.{ORIGIN}", region=Region.US)
            notxt = DomainTarget(name=f"notxt.{ORIGIN}", region=Region.US)
            results = await asyncio.gather(
                collector.collect(target), collector.collect(target), collector.collect(notxt)
            )
            assert results[0].mta_sts == results[1].mta_sts
            assert results[2].mta_sts == MtaStsFacts(f"_mta-sts.notxt.{ORIGIN}", (), None, None, ())
        finally:
            collector.close()
            await client.aclose()

    asyncio.run(run())
    new = policy_server.requests[len(before) :]
    assert new == [f"mta-sts.good.{ORIGIN}"]


def test_mx_facts_keep_mx_hosts(zone_dir: Path, policy_server: PolicyServer) -> None:
    facts = _collect(zone_dir, policy_server, ["wrongmx"])["wrongmx"]
    assert isinstance(facts.mx, MxFacts) and facts.mx.names == (f"mx1.wrongmx.{ORIGIN}",)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("*=127.0.0.1:8443", ("*", ("127.0.0.1", 8443))),
        ("MTA-STS.A.Example.=[::1]:443", ("mta-sts.a.example", ("::1", 443))),
    ],
)
def test_connect_to_option(text: str, parsed: tuple[str, tuple[str, int]]) -> None:
    assert parse_connect_to(text) == parsed


@pytest.mark.parametrize("text", ["127.0.0.1:443", "*=localhost:443", "*=127.0.0.1", "*=127.0.0.1:99999"])
def test_connect_to_option_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_connect_to(text)


# --- through the CLI ----------------------------------------------------------------------------

runner = CliRunner()
E2E_LABELS = ("good", "testing", "wrongmx", "missing", "redirect", "html", "big", "badsyntax", "notxt")


def _audit(tmp_path: Path, zone_dir: Path, *extra: str) -> dict[str, dict[str, str]]:
    out = tmp_path / "report.json"
    names = [f"{label}.{ORIGIN}" for label in E2E_LABELS]
    result = runner.invoke(
        app,
        [
            "audit",
            *names,
            "--zone-dir",
            str(zone_dir),
            *extra,
            "--format",
            "json",
            "--output",
            str(out),
            "-q",
        ],
    )
    assert "Traceback" not in result.output
    assert out.exists(), result.output
    document = json.loads(out.read_text())
    return {
        d["domain"].split(".")[0]: {
            f["rule_id"]: f["status"] for f in d["findings"] if f["rule_id"].startswith("MTASTS")
        }
        for d in document["domains"]
    }


def test_audit_reports_each_policy_outcome(
    tmp_path: Path, zone_dir: Path, policy_server: PolicyServer
) -> None:
    statuses = _audit(
        tmp_path,
        zone_dir,
        "--mta-sts-ca-file",
        str(policy_server.ca_file),
        "--mta-sts-connect",
        f"*=127.0.0.1:{policy_server.port}",
    )
    failed = {
        label: {rule for rule, status in found.items() if status == "fail"}
        for label, found in statuses.items()
    }
    assert failed == {
        "good": set(),
        "testing": {"MTASTS007"},
        "wrongmx": {"MTASTS005"},
        "missing": {"MTASTS003"},
        "redirect": {"MTASTS003"},
        "html": {"MTASTS003"},
        "big": {"MTASTS003"},
        "badsyntax": {"MTASTS004"},
        "notxt": {"MTASTS001"},
    }
    assert not any(status == "unknown" for found in statuses.values() for status in found.values())


def test_no_fetch_option_skips_the_policy_rules(
    tmp_path: Path, zone_dir: Path, policy_server: PolicyServer
) -> None:
    """Turned off by the user, the policy checks are not applicable: no domain becomes "could not
    verify" (MTASTS005 is an error-level rule) because of a check the user chose not to run."""
    before = len(policy_server.requests)
    statuses = _audit(tmp_path, zone_dir, "--no-mta-sts-fetch")
    assert len(policy_server.requests) == before
    for rule in ("MTASTS003", "MTASTS004", "MTASTS005", "MTASTS006", "MTASTS007"):
        assert statuses["good"][rule] == "skipped", rule
        assert statuses["wrongmx"][rule] == "skipped", rule
    assert statuses["good"]["MTASTS001"] == "pass"
    assert statuses["good"]["MTASTS002"] == "pass"


def test_bad_connect_to_is_a_usage_error(tmp_path: Path, zone_dir: Path) -> None:
    result = runner.invoke(
        app, ["audit", f"good.{ORIGIN}", "--zone-dir", str(zone_dir), "--mta-sts-connect", "nonsense"]
    )
    assert result.exit_code == 2
    assert "--mta-sts-connect" in result.output and "Traceback" not in result.output


def test_each_policy_host_on_a_shared_address_gets_its_own_certificate_check(
    zone_dir: Path, policy_server: PolicyServer
) -> None:
    """A connection made for one host (valid certificate) is never reused for another."""

    async def run() -> tuple[Any, Any]:
        resolver = CachingResolver(ZoneBackend.from_directory(zone_dir))
        client = MtaStsPolicyClient(
            resolver, verify=str(policy_server.ca_file), connect_to={"*": ("127.0.0.1", policy_server.port)}
        )
        try:
            good = await client.fetch(f"good.{ORIGIN}")
            bad = await client.fetch(f"badcert.{ORIGIN}")
        finally:
            await client.aclose()
        return good, bad

    good, bad = asyncio.run(run())
    assert isinstance(good, MtaStsPolicyFacts) and good.problem is None
    assert isinstance(bad, MtaStsPolicyFacts) and "certificate does not verify" in (bad.problem or "")

"""End to end: the CLI against a real DNS server on loopback, UDP and TCP, with faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES
from tests.servers.dns_server import LoopbackDnsServer

runner = CliRunner()

# What the bundled example plants, domain by domain (examples/README.md).
EXPECTED_PROBLEMS = {
    "mg.acme-shop.example": set(),
    "mg.example-eu.example": set(),
    "mg.bluebird-books.example": {"SPF003", "SPF008"},
    "mg.cedar-cafe.example": {"SPF002"},
    "mg.delta-retail.example": {"SPF004"},
    "mg.elm-clinic.example": {"DKIM002"},
    "mg.fjord-travel.example": {"DKIM003"},
    "mg.granite-bank.example": {"DKIM005"},
    "mg.harbor-eu.example": {"REG001"},
    "mg.iris-studio.example": {"REG002", "TRK001"},
    "mg.juniper-labs.example": {"MX001"},
    "mg.kestrel-news.example": {"DMARC001"},
}


def audit_json(tmp_path: Path, *args: str, name: str = "report.json") -> tuple[int, dict[str, Any]]:
    out = tmp_path / name
    result = runner.invoke(app, ["audit", *args, "--format", "json", "--output", str(out), "-q"])
    assert "Traceback" not in result.output
    assert out.exists(), result.output
    return result.exit_code, json.loads(out.read_text())


def findings_of(document: dict[str, Any]) -> dict[str, set[tuple[str, str, str]]]:
    return {
        d["domain"]: {(f["rule_id"], f["subject"], f["status"]) for f in d["findings"]}
        for d in document["domains"]
    }


def problems_of(document: dict[str, Any]) -> dict[str, set[str]]:
    """Failed or unverified findings per domain; info-level advisories (no MTA-STS, TLS-RPT or BIMI
    published, which the examples do not plant) are left out."""
    return {
        d["domain"]: {
            f["rule_id"]
            for f in d["findings"]
            if f["status"] in ("fail", "unknown") and f["severity"] != "info"
        }
        for d in document["domains"]
    }


@pytest.fixture(scope="module")
def example_server() -> Any:
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        yield server


def test_example_through_loopback_server_flags_every_planted_mistake(
    tmp_path: Path, example_server: LoopbackDnsServer
) -> None:
    code, document = audit_json(
        tmp_path, str(EXAMPLES / "inventory.yaml"), "--nameserver", example_server.address
    )
    assert code == 1
    assert problems_of(document) == EXPECTED_PROBLEMS
    ready = {d["domain"] for d in document["domains"] if d["ready"]}
    assert ready == {"mg.acme-shop.example", "mg.example-eu.example"}


def test_zone_dir_and_dns_server_give_identical_findings(
    tmp_path: Path, example_server: LoopbackDnsServer
) -> None:
    _, over_dns = audit_json(
        tmp_path,
        str(EXAMPLES / "inventory.yaml"),
        "--nameserver",
        example_server.address,
        name="dns.json",
    )
    _, from_zones = audit_json(
        tmp_path,
        str(EXAMPLES / "inventory.yaml"),
        "--zone-dir",
        str(EXAMPLES / "zones"),
        name="zones.json",
    )
    assert findings_of(over_dns) == findings_of(from_zones)
    for a, b in zip(over_dns["domains"], from_zones["domains"], strict=True):
        assert (a["readiness"], a["region"], a["verified"]) == (
            b["readiness"],
            b["region"],
            b["verified"],
        )


def test_shared_provider_names_are_queried_once_per_run(
    tmp_path: Path, example_server: LoopbackDnsServer
) -> None:
    example_server.reset_counters()
    audit_json(tmp_path, str(EXAMPLES / "inventory.yaml"), "--nameserver", example_server.address)
    assert example_server.query_count("mailgun.org", "TXT") == 1
    assert example_server.query_count("_spf.mailgun.org", "TXT") == 1
    assert example_server.query_count("mxa.mailgun.org", "A") == 1


BIG_ZONE = """$ORIGIN big.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
@ IN TXT "v=spf1 include:mailgun.org ~all"
{filler}
k1._domainkey IN TXT "k=rsa; p="
_dmarc IN TXT "v=DMARC1; p=reject"
"""


def big_zone() -> str:
    # Five verification tokens of 400 bytes each: about 2 KB, more than the 1232-byte UDP payload.
    filler = "\n".join("@ IN TXT " + " ".join(f'"{chr(97 + i) * 200}"' for _ in range(2)) for i in range(5))
    return BIG_ZONE.format(filler=filler)


def test_answer_too_large_for_udp_is_fetched_over_tcp(tmp_path: Path) -> None:
    zones = {"big.example": big_zone(), **_mailgun_zone()}
    with LoopbackDnsServer(zones=zones) as server:
        code, document = audit_json(tmp_path, "big.example", "--nameserver", server.address, "--region", "us")
        assert server.query_count("big.example", "TXT", transport="tcp") == 1
    domain = document["domains"][0]
    statuses = {f["rule_id"]: f["status"] for f in domain["findings"]}
    assert statuses["SPF001"] == "pass"  # the SPF record sits among the large answer
    assert statuses["DKIM004"] == "fail"  # revoked key (empty p=)
    assert len(domain["txt_records"]) == 6
    assert code == 1


def _mailgun_zone() -> dict[str, str]:
    text = (EXAMPLES / "zones" / "mailgun.org.zone").read_text()
    return {"mailgun.org": text}


def test_servfail_gives_could_not_verify_not_missing(tmp_path: Path) -> None:
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        server.set_fault("mg.acme-shop.example", "servfail", "TXT")
        code, document = audit_json(
            tmp_path,
            "mg.acme-shop.example",
            "--nameserver",
            server.address,
            "--region",
            "us",
            "--attempts",
            "1",
        )
    domain = document["domains"][0]
    spf = [f for f in domain["findings"] if f["category"] == "spf"]
    assert spf and all(f["status"] == "unknown" for f in spf)
    assert all("servfail" in (f["reason"] or "") for f in spf)
    assert domain["readiness"] == "could_not_verify"
    assert domain["verified"] is None
    assert code == 0  # unknown is not a failure unless --strict


def test_strict_turns_could_not_verify_into_exit_1(tmp_path: Path) -> None:
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        server.set_fault("mg.acme-shop.example", "servfail", "TXT")
        code, _ = audit_json(
            tmp_path,
            "mg.acme-shop.example",
            "--nameserver",
            server.address,
            "--region",
            "us",
            "--attempts",
            "1",
            "--strict",
        )
    assert code == 1


def test_timeout_gives_could_not_verify_and_batch_goes_on(tmp_path: Path) -> None:
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        server.set_fault("_dmarc.mg.acme-shop.example", "timeout")
        code, document = audit_json(
            tmp_path,
            str(EXAMPLES / "inventory.yaml"),
            "--nameserver",
            server.address,
            "--timeout",
            "0.2",
            "--attempts",
            "2",
        )
    by_domain = {d["domain"]: d for d in document["domains"]}
    acme = by_domain["mg.acme-shop.example"]
    dmarc = {f["rule_id"]: f for f in acme["findings"] if f["category"] == "dmarc"}
    assert dmarc["DMARC001"]["status"] == "unknown"
    assert "timeout" in dmarc["DMARC001"]["reason"]
    assert acme["readiness"] == "could_not_verify"
    # Every other domain was still audited, with its usual verdict.
    assert by_domain["mg.example-eu.example"]["ready"] is True
    assert problems_of(document)["mg.kestrel-news.example"] == {"DMARC001"}
    assert code == 1


def test_refused_nameserver_port_is_could_not_verify(tmp_path: Path) -> None:
    # Nothing listens on this port: ICMP port unreachable, reported as a network failure.
    with LoopbackDnsServer(zones={"x.example": BIG_ZONE.format(filler="")}) as server:
        port = server.port
    _code, document = audit_json(
        tmp_path,
        "mg.acme-shop.example",
        "--nameserver",
        f"127.0.0.1:{port}",
        "--timeout",
        "0.2",
        "--attempts",
        "1",
        "--region",
        "us",
    )
    domain = document["domains"][0]
    assert domain["readiness"] == "could_not_verify"
    assert not [f for f in domain["findings"] if f["status"] == "fail"]

"""DNSSEC chain validation against a signed hierarchy served by the loopback DNS server.

The hierarchy (tests/servers/signed_zones.py) has its own root key, given as the trust anchor;
each child of `test.` plants one outcome. Queries go over the wire with DO and CD set, through the
run's resolver, exactly as in an audit.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.collect.dns.dnssec import DnssecChecker
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.errors import InputError
from auditor.model.dnssec import DnssecFacts, DnssecStatus
from auditor.model.facts import Failure, FailureKind
from auditor.protocol.dnssec import deny_ds, parse_trust_anchors, root_trust_anchors
from tests.servers.dns_server import LoopbackDnsServer
from tests.servers.signed_zones import Hierarchy, build_hierarchy


@pytest.fixture(scope="module")
def hierarchy() -> Hierarchy:
    return build_hierarchy()


@pytest.fixture
def server(hierarchy: Hierarchy) -> Iterator[LoopbackDnsServer]:
    with LoopbackDnsServer(zone_objects=hierarchy.zones) as running:
        yield running


def _check(server: LoopbackDnsServer, hierarchy: Hierarchy, *domains: str) -> list[DnssecFacts | Failure]:
    async def run() -> list[DnssecFacts | Failure]:
        backend = NetworkBackend([Nameserver(server.host, server.port)], timeout=0.5, attempts=1)
        resolver = CachingResolver(backend)
        checker = DnssecChecker(resolver, parse_trust_anchors(hierarchy.trust_anchor_text(), "test root"))
        try:
            return list(await asyncio.gather(*(checker.check(d) for d in domains)))
        finally:
            await resolver.close()

    return asyncio.run(run())


def _facts(result: DnssecFacts | Failure) -> DnssecFacts:
    assert isinstance(result, DnssecFacts), result
    return result


def test_signed_zone_is_secure_with_the_whole_chain(server: LoopbackDnsServer, hierarchy: Hierarchy) -> None:
    facts = _facts(_check(server, hierarchy, "good.test")[0])
    assert facts.status is DnssecStatus.SECURE
    assert facts.zone == "good.test"
    assert [(link.zone, link.status) for link in facts.chain] == [
        (".", DnssecStatus.SECURE),
        ("test", DnssecStatus.SECURE),
        ("good.test", DnssecStatus.SECURE),
    ]
    assert facts.reason is None


def test_names_below_an_apex_validate_by_the_zones_signed_denial(
    server: LoopbackDnsServer, hierarchy: Hierarchy
) -> None:
    """`mail.good.test` has no SOA (NODATA), `nx.good.test` does not exist: both denials are signed."""
    for result in _check(server, hierarchy, "mail.good.test", "nx.good.test"):
        facts = _facts(result)
        assert (facts.status, facts.zone) == (DnssecStatus.SECURE, "good.test")


def test_unsigned_delegation_is_insecure_where_the_nsec_proof_ends_the_chain(
    server: LoopbackDnsServer, hierarchy: Hierarchy
) -> None:
    for result in _check(server, hierarchy, "unsigned.test", "www.unsigned.test"):
        facts = _facts(result)
        assert facts.status is DnssecStatus.INSECURE
        assert facts.zone == "unsigned.test"
        assert facts.ends_at == "test"
        assert "NSEC" in (facts.reason or "")
        assert facts.chain[-1].status is DnssecStatus.INSECURE


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("expired.test", "expired"),
        ("mismatch.test", "matches its DS"),
        ("nosig.test", "missing RRSIG over DNSKEY"),
    ],
)
def test_broken_signing_is_bogus_with_the_reason(
    server: LoopbackDnsServer, hierarchy: Hierarchy, domain: str, reason: str
) -> None:
    facts = _facts(_check(server, hierarchy, domain)[0])
    assert facts.status is DnssecStatus.BOGUS
    assert reason in (facts.reason or "")
    assert facts.chain[-1].zone == domain
    assert facts.chain[-2].status is DnssecStatus.SECURE  # the parent is fine; the break is the child's


def test_a_wrong_trust_anchor_makes_everything_bogus(server: LoopbackDnsServer) -> None:
    """The shipped IANA anchors do not vouch for the test root: nothing validates."""
    wrong = Hierarchy((), build_hierarchy().root_key)
    facts = _facts(_check(server, wrong, "good.test")[0])
    assert facts.status is DnssecStatus.BOGUS
    assert "trust anchor" in (facts.reason or "")


def test_lookup_failure_is_a_failure_not_a_status(server: LoopbackDnsServer, hierarchy: Hierarchy) -> None:
    server.set_fault("failing.test", "servfail", "DNSKEY")
    result, other = _check(server, hierarchy, "failing.test", "good.test")
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.SERVFAIL
    assert "DNSKEY failing.test" in result.detail
    assert _facts(other).status is DnssecStatus.SECURE  # one broken zone does not spill over


def test_parent_chain_is_asked_once_for_many_domains(server: LoopbackDnsServer, hierarchy: Hierarchy) -> None:
    """Work per zone: the root's and test.'s keys and DS are fetched once for every child."""
    results = _check(server, hierarchy, "good.test", "mail.good.test", "unsigned.test", "expired.test")
    assert all(isinstance(r, DnssecFacts) for r in results)
    assert server.query_count(".", "DNSKEY") == 1
    assert server.query_count("test", "DNSKEY") == 1
    assert server.query_count("test", "DS") == 1
    assert server.query_count("good.test", "DNSKEY") == 1
    assert server.query_count("unsigned.test", "DNSKEY") == 0  # no DS: its keys are not needed
    assert server.query_count("unsigned.test", "DS") == 1


def test_zone_files_cannot_be_validated(tmp_path: Path) -> None:
    (tmp_path / "example.zone").write_text("$ORIGIN example.\n$TTL 300\n@ IN SOA ns hm 1 2 3 4 5\n")

    async def run() -> DnssecFacts | Failure:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        return await DnssecChecker(resolver, root_trust_anchors()).check("example")

    result = asyncio.run(run())
    assert isinstance(result, Failure)
    assert result.reason is FailureKind.NOT_ATTEMPTED
    assert "zone files" in result.detail


# ---------------------------------------------------------------- the CLI


def test_audit_with_dnssec_reports_bogus_and_insecure(
    server: LoopbackDnsServer, hierarchy: Hierarchy, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.txt"
    anchor.write_text(hierarchy.trust_anchor_text())
    result = CliRunner().invoke(
        app,
        [
            "audit",
            *("good.test", "unsigned.test", "expired.test"),
            *("--nameserver", server.address, "--timeout", "0.5", "--attempts", "1"),
            *("--trust-anchor", str(anchor), "--no-smtp", "--format", "json", "--output", "-", "-q"),
        ],
    )
    report = json.loads(result.stdout)
    status = {
        (d["domain"], f["rule_id"]): f["status"]
        for d in report["domains"]
        for f in d["findings"]
        if f["rule_id"].startswith("DNSSEC")
    }
    assert status == {
        ("good.test", "DNSSEC001"): "pass",
        ("good.test", "DNSSEC002"): "pass",
        ("unsigned.test", "DNSSEC001"): "pass",
        ("unsigned.test", "DNSSEC002"): "fail",
        ("expired.test", "DNSSEC001"): "fail",
        ("expired.test", "DNSSEC002"): "pass",
    }


def test_audit_without_dnssec_skips_the_rules_and_asks_nothing_signed(
    server: LoopbackDnsServer, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "good.test",
            "--nameserver",
            server.address,
            "--no-smtp",
            "--format",
            "json",
            "--output",
            "-",
            "-q",
        ],
    )
    report = json.loads(result.stdout)
    statuses = {f["status"] for f in report["domains"][0]["findings"] if f["rule_id"].startswith("DNSSEC")}
    assert statuses == {"skipped"}
    assert server.query_count("good.test", "DNSKEY") == 0


GOOD_DS = ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (". IN DS 1 2 3 ABCD\n", 1),  # dnspython itself says line 2 here
        ("; the root\n\n" + GOOD_DS + ". IN DS 1 2 3 ZZ\n" + GOOD_DS, 4),
        (". IN DS ( 20326 8 2\n  ZZ )\n" + GOOD_DS, 2),  # a record over two lines: its last line
        ("garbage here", 1),
    ],
)
def test_bad_trust_anchor_file_is_a_one_line_error_naming_its_line(
    tmp_path: Path, text: str, line: int
) -> None:
    anchor = tmp_path / "anchor.txt"
    anchor.write_text(text)
    result = CliRunner().invoke(
        app, ["audit", "good.test", "--trust-anchor", str(anchor), "--nameserver", "127.0.0.1"]
    )
    assert result.exit_code == 2
    errors = [row for row in result.stderr.splitlines() if row.strip()]
    assert len(errors) == 1 and f"{anchor}:{line}: --trust-anchor" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_dnssec_with_zone_files_is_refused_before_any_query(tmp_path: Path) -> None:
    """Zone files hold no RRSIGs: instead of a report where every domain "could not verify",
    one line says why and the run stops (exit 2)."""
    (tmp_path / "example.zone").write_text("$ORIGIN example.\n$TTL 300\n@ IN SOA ns hm 1 2 3 4 5\n")
    result = CliRunner().invoke(app, ["audit", "mail.example", "--dnssec", "--zone-dir", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--dnssec" in lines[0] and "zone files" in lines[0], result.stderr


# ---------------------------------------------------------------- pure parts


def test_the_shipped_anchors_are_the_two_iana_root_ksks() -> None:
    anchors = root_trust_anchors()
    assert sorted(ds.key_tag for ds in anchors.ds[dns.name.root]) == [20326, 38696]


def test_trust_anchor_without_ds_or_dnskey_is_refused() -> None:
    with pytest.raises(InputError, match="no DS or DNSKEY"):
        parse_trust_anchors(". IN A 127.0.0.1\n", "x")


def _nsec3(zone: str, owner: str, following: str, types: str, flags: int = 0) -> dns.rrset.RRset:
    """An NSEC3 record for `owner` (its hash) pointing at the hash of `following`."""
    owner_hash = dns.dnssec.nsec3_hash(owner, b"", 0, 1)
    next_hash = dns.dnssec.nsec3_hash(following, b"", 0, 1)
    rdata = dns.rdata.from_text("IN", "NSEC3", f"1 {flags} 0 - {next_hash} {types}")
    rrset = dns.rrset.RRset(
        dns.name.from_text(f"{owner_hash}.{zone}"), dns.rdataclass.IN, dns.rdatatype.NSEC3
    )
    rrset.add(rdata)
    return rrset


def test_nsec3_matching_record_without_ds_proves_an_insecure_delegation() -> None:
    denial = deny_ds(
        dns.name.from_text("child.example."), [_nsec3("example.", "child.example.", "a.example.", "NS")]
    )
    assert (denial.problem, denial.how) == (None, "NSEC3")


def test_nsec3_record_listing_ds_proves_nothing() -> None:
    denial = deny_ds(
        dns.name.from_text("child.example."), [_nsec3("example.", "child.example.", "a.example.", "NS DS")]
    )
    assert denial.problem is not None and "DS" in denial.problem


def _shifted(digest: bytes, delta: int) -> str:
    return base64.b32hexencode((int.from_bytes(digest, "big") + delta).to_bytes(20, "big")).decode()


def _nsec3_span(zone: str, owner_hash: str, width: int, types: str, flags: int) -> dns.rrset.RRset:
    following = _shifted(base64.b32hexdecode(owner_hash), width)
    rrset = dns.rrset.RRset(
        dns.name.from_text(f"{owner_hash}.{zone}"), dns.rdataclass.IN, dns.rdatatype.NSEC3
    )
    rrset.add(dns.rdata.from_text("IN", "NSEC3", f"1 {flags} 0 - {following} {types}"))
    return rrset


def test_nsec3_opt_out_span_covering_the_child_proves_no_ds() -> None:
    """Closest encloser `example.` matched, next closer `child.example.` covered by an opt-out NSEC3."""
    child = dns.name.from_text("child.example.")
    target = base64.b32hexdecode(dns.dnssec.nsec3_hash(child, b"", 0, 1))
    # Spans (owner hash, next hash) built around hashes: the apex's is tiny, the cover's strictly
    # contains the child's hash (hash(child) - 1 .. hash(child) + 1).
    apex = _nsec3_span("example.", dns.dnssec.nsec3_hash("example.", b"", 0, 1), 1, "NS SOA", 0)
    before = _shifted(target, -1)
    after = _shifted(target, 1)
    cover = dns.rrset.RRset(dns.name.from_text(f"{before}.example."), dns.rdataclass.IN, dns.rdatatype.NSEC3)
    cover.add(dns.rdata.from_text("IN", "NSEC3", f"1 1 0 - {after} NS"))
    assert deny_ds(child, [apex, cover]).how == "NSEC3 opt-out"
    plain = dns.rrset.RRset(cover.name, dns.rdataclass.IN, dns.rdatatype.NSEC3)
    plain.add(dns.rdata.from_text("IN", "NSEC3", f"1 0 0 - {after} NS"))
    assert "not opt-out" in (deny_ds(child, [apex, plain]).problem or "")


def test_no_denial_records_is_a_problem() -> None:
    assert deny_ds(dns.name.from_text("child.example."), []).problem is not None

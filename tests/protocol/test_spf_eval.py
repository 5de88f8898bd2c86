"""check_host() decisions and its RFC 7208 §4.6.4 counts, driven through an in-memory `SpfDns`.

The evaluator is sans-I/O by design: these tests hand it answers from a dictionary, which also
lets them state situations a real server cannot produce (two identical TXT records). The same
code runs over UDP against the loopback server in tests/collect/test_spf_check.py and in the
conformance suites.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from auditor.protocol.spf_eval import DnsReply, DnsStatus, RRType, SpfCheck, SpfResult, check_host

Zone = Mapping[str, Mapping[RRType, list[str] | list[bytes]]]


class DictDns:
    """Answers from a dictionary: unknown names NXDOMAIN, unknown types NODATA; logs every question."""

    def __init__(self, zone: Zone, errors: set[str] | None = None) -> None:
        self.zone = {name.lower(): data for name, data in zone.items()}
        self.errors = errors or set()
        self.asked: list[tuple[str, RRType]] = []

    async def query(self, name: str, rrtype: RRType) -> DnsReply:
        self.asked.append((name, rrtype))
        if name.lower() in self.errors:
            return DnsReply(DnsStatus.ERROR, detail="SERVFAIL")
        data = self.zone.get(name.lower())
        if data is None:
            return DnsReply(DnsStatus.NXDOMAIN)
        values = data.get(rrtype)
        if not values:
            return DnsReply(DnsStatus.NODATA)
        if rrtype is RRType.TXT:
            return DnsReply(
                DnsStatus.OK, texts=tuple(v if isinstance(v, bytes) else v.encode() for v in values)
            )
        if rrtype in (RRType.MX, RRType.PTR):
            return DnsReply(DnsStatus.OK, names=tuple(str(v) for v in values))
        return DnsReply(DnsStatus.OK, addresses=tuple(str(v) for v in values))


def run(zone: Zone, ip: str = "192.0.2.10", domain: str = "example.com", **kw: object) -> SpfCheck:
    dns = kw.pop("dns", None) or DictDns(zone)
    sender = str(kw.pop("sender", f"user@{domain}"))
    return asyncio.run(check_host(dns, ip, domain, sender, **kw))  # type: ignore[arg-type]


def spf(text: str) -> dict[RRType, list[str]]:
    return {RRType.TXT: [text]}


def test_include_pass_reports_the_matching_term_and_counts() -> None:
    zone = {
        "example.com": spf("v=spf1 ip4:198.51.100.0/24 include:_spf.provider.test -all"),
        "_spf.provider.test": spf("v=spf1 ip4:192.0.2.0/24 ~all"),
    }
    check = run(zone)
    assert check.result is SpfResult.PASS
    assert (check.lookups, check.void_lookups) == (1, 0)
    assert (check.matched_term, check.matched_domain) == ("include:_spf.provider.test", "example.com")
    assert check.record == "v=spf1 ip4:198.51.100.0/24 include:_spf.provider.test -all"
    assert [(s.domain, s.term, s.outcome) for s in check.trace if s.outcome != "record"] == [
        ("example.com", "ip4:198.51.100.0/24", "no match"),
        ("_spf.provider.test", "ip4:192.0.2.0/24", "match"),
        ("example.com", "include:_spf.provider.test", "match"),
    ]


def test_fail_with_explanation_from_the_record_that_decided() -> None:
    zone = {
        "example.com": spf("v=spf1 exp=ignored.example.com redirect=_spf.example.com"),
        "_spf.example.com": spf("v=spf1 a -all exp=why.%{d}"),
        "why._spf.example.com": {RRType.TXT: ["%{i} is not one of %{d}'s servers; ask %{l}"]},
    }
    check = run(zone, sender="Jo@example.com")
    assert check.result is SpfResult.FAIL
    assert check.explanation == "192.0.2.10 is not one of _spf.example.com's servers; ask Jo"
    assert (check.matched_term, check.matched_domain) == ("-all", "_spf.example.com")
    assert (check.lookups, check.void_lookups) == (2, 1)  # redirect, a (void: no A record)


def test_two_identical_records_are_a_permerror() -> None:
    """A server folds identical RRs into one, so only an in-memory answer can show this case."""
    check = run({"example.com": {RRType.TXT: ["v=spf1 -all", "v=spf1 -all"]}})
    assert check.result is SpfResult.PERMERROR
    assert check.problem is not None and "2 SPF records" in check.problem


def test_no_record_none_and_dns_error_temperror() -> None:
    assert run({"example.com": {RRType.A: ["192.0.2.1"]}}).result is SpfResult.NONE
    assert run({}).result is SpfResult.NONE
    dns = DictDns({}, errors={"example.com"})
    check = run({}, dns=dns)
    assert check.result is SpfResult.TEMPERROR and check.problem is not None


def test_terms_after_the_match_are_not_counted() -> None:
    zone = {"example.com": spf("v=spf1 ip4:192.0.2.10 " + "a:x.example.com " * 20 + "-all")}
    check = run(zone)
    assert (check.result, check.lookups) == (SpfResult.PASS, 0)


def test_eleventh_dns_term_is_a_permerror_and_reported_as_11() -> None:
    names = {f"h{i}.example.com": {RRType.A: ["198.51.100.1"]} for i in range(11)}
    at_limit = {"example.com": spf("v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(10)) + " -all")}
    over = {"example.com": spf("v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(11)) + " -all")}
    check = run({**names, **at_limit})
    assert (check.result, check.lookups) == (SpfResult.FAIL, 10)
    check = run({**names, **over})
    assert (check.result, check.lookups) == (SpfResult.PERMERROR, 11)
    assert check.trace[-1].outcome == "permerror" and check.trace[-1].term == "a:h10.example.com"


def test_void_lookups_count_terms_not_secondary_address_lookups() -> None:
    zone = {
        "example.com": {
            RRType.TXT: ["v=spf1 mx mx:other.example.com a:gone.example.com ?all"],
            # Two MX names without addresses: the mx term itself got an answer, so it is not void.
            RRType.MX: ["mx1.example.com", "mx2.example.com"],
        },
        "other.example.com": {RRType.A: ["198.51.100.7"]},  # exists, but has no MX: void
    }
    check = run(zone)
    assert check.result is SpfResult.NEUTRAL
    assert (check.lookups, check.void_lookups) == (3, 2)


def test_third_void_lookup_is_a_permerror() -> None:
    zone = {"example.com": spf("v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com ?all")}
    check = run(zone)
    assert (check.result, check.lookups, check.void_lookups) == (SpfResult.PERMERROR, 3, 3)


def test_exp_lookup_is_neither_a_term_nor_void() -> None:
    zone = {"example.com": spf("v=spf1 a:n1.example.com a:n2.example.com exp=missing.example.com -all")}
    check = run(zone)
    assert (check.result, check.lookups, check.void_lookups, check.explanation) == (
        SpfResult.FAIL,
        2,
        2,
        None,
    )


def test_mx_checks_at_most_ten_exchanges() -> None:
    exchanges = [f"mx{i}.example.com" for i in range(11)]
    zone: dict[str, dict[RRType, list[str]]] = {
        "example.com": {RRType.TXT: ["v=spf1 mx -all"], RRType.MX: exchanges},
        **{name: {RRType.A: [f"198.51.100.{i}"]} for i, name in enumerate(exchanges)},
    }
    assert run(zone, ip="198.51.100.9").result is SpfResult.PASS  # the 10th exchange matches
    check = run(zone, ip="198.51.100.10")  # only the 11th would match: checking it is over the limit
    assert check.result is SpfResult.PERMERROR and check.lookups == 1


def test_ptr_uses_validated_names_under_the_target_and_only_the_first_ten() -> None:
    reverse = "10.2.0.192.in-addr.arpa"
    names = [f"h{i}.other.test" for i in range(10)] + ["mail.example.com"]
    zone = {
        "example.com": spf("v=spf1 ptr -all"),
        reverse: {RRType.PTR: names},
        "mail.example.com": {RRType.A: ["192.0.2.10"]},
    }
    dns = DictDns(zone)
    assert run(zone, dns=dns).result is SpfResult.FAIL  # mail.example.com is the 11th name
    assert ("mail.example.com", RRType.A) not in dns.asked
    zone[reverse] = {RRType.PTR: ["mail.example.com", "forged.example.com"]}
    assert run(zone).result is SpfResult.PASS


def test_ptr_lookup_error_is_no_match_not_temperror() -> None:
    zone = {"example.com": spf("v=spf1 ptr ~all")}
    dns = DictDns(zone, errors={"10.2.0.192.in-addr.arpa"})
    assert run(zone, dns=dns).result is SpfResult.SOFTFAIL


def test_p_macro_prefers_a_validated_name_under_the_domain() -> None:
    zone = {
        "example.com": spf("v=spf1 -all exp=why.example.com"),
        "why.example.com": {RRType.TXT: ["from %{p}"]},
        "10.2.0.192.in-addr.arpa": {RRType.PTR: ["a.other.test", "mx.example.com", "fake.example.com"]},
        "a.other.test": {RRType.A: ["192.0.2.10"]},
        "mx.example.com": {RRType.A: ["192.0.2.10"]},
    }
    check = run(zone)
    assert (check.explanation, check.lookups, check.void_lookups) == ("from mx.example.com", 0, 0)


def test_ipv4_mapped_client_is_ipv4() -> None:
    zone = {"example.com": spf("v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.10 -all")}
    check = run(zone, ip="::ffff:192.0.2.10")
    assert (check.result, check.ip, check.matched_term) == (SpfResult.PASS, "192.0.2.10", "ip4:192.0.2.10")


def test_empty_sender_is_postmaster_at_helo() -> None:
    zone = {"helo.example.com": spf("v=spf1 -all exp=e.example.com"), "e.example.com": spf("%{s} via %{h}")}
    check = asyncio.run(check_host(DictDns(zone), "192.0.2.1", "helo.example.com", "", "helo.example.com"))
    assert check.sender == "postmaster@helo.example.com"
    assert check.explanation == "postmaster@helo.example.com via helo.example.com"


@pytest.mark.parametrize("domain", ["localhost", "[192.0.2.1]", "a..example.com", "x" * 64 + ".example.com"])
def test_unqueryable_domains_are_none_without_a_query(domain: str) -> None:
    dns = DictDns({})
    check = run({}, domain=domain, dns=dns)
    assert check.result is SpfResult.NONE and dns.asked == []

"""MTA-STS, TLS-RPT and BIMI parsers: the grammar cases a sender or receiver decides on."""

from __future__ import annotations

import pytest

from auditor.protocol.bimi import parse_bimi_record
from auditor.protocol.mta_sts import mx_matches, parse_policy, parse_sts_record, unmatched_hosts
from auditor.protocol.tlsrpt import parse_tlsrpt_record


@pytest.mark.parametrize(
    ("record", "policy_id", "ok"),
    [
        ("v=STSv1; id=20160831085700Z;", "20160831085700Z", True),
        ("v=STSv1;id=abc", "abc", True),
        ("v=STSv1; id=abc; ext-1=value", "abc", True),
        ("v=STSv1; id=", None, False),
        ("v=STSv1; id=has-dash", None, False),
        ("v=STSv1", None, False),
        ("v=STSv1; id=a; id=b", "a", False),
        ("v=STSv2; id=a", "a", False),
    ],
)
def test_sts_txt_record(record: str, policy_id: str | None, ok: bool) -> None:
    parsed = parse_sts_record(record)
    assert parsed.policy_id == policy_id
    assert (not parsed.errors) is ok, parsed.errors


def test_policy_with_crlf_and_several_mx_lines() -> None:
    policy = parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n"
    )
    assert (policy.version, policy.mode, policy.max_age) == ("STSv1", "enforce", 86400)
    assert policy.mx == ("mail.example.com", "*.example.net")
    assert policy.errors == ()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("mode: enforce\nmx: a.example\nmax_age: 1", "'version: STSv1' is missing"),
        ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1", "mode 'strict'"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601", "max_age '31557601'"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1", "max_age '-1'"),
        ("version: STSv1\nmode: enforce\nmax_age: 60", "needs at least one 'mx'"),
        ("version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 60", "mx pattern '*.*.example'"),
        ("<html>oops</html>", "is not 'key: value'"),
    ],
)
def test_policy_errors(body: str, error: str) -> None:
    assert any(error in e for e in parse_policy(body).errors), parse_policy(body).errors


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 0\n").errors == ()


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "MX1.Example.COM.", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "mail2.example.com", False),
    ],
)
def test_mx_pattern_wildcard_is_one_label(pattern: str, host: str, matches: bool) -> None:
    assert mx_matches(pattern, host) is matches


def test_unmatched_hosts_lists_only_uncovered() -> None:
    assert unmatched_hosts(["*.mailgun.org"], ["mxa.mailgun.org", "mx.other.example"]) == ["mx.other.example"]


@pytest.mark.parametrize(
    ("record", "rua", "ok"),
    [
        ("v=TLSRPTv1; rua=mailto:tls@example.com", ("mailto:tls@example.com",), True),
        (
            "v=TLSRPTv1;rua=https://r.example.com/v1,mailto:a@example.com",
            ("https://r.example.com/v1", "mailto:a@example.com"),
            True,
        ),
        ("v=TLSRPTv1; rua=mailto:not-an-address", (), False),
        ("v=TLSRPTv1; rua=ftp://r.example.com/", (), False),
        ("v=TLSRPTv1;", (), False),
        ("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", ("mailto:a@example.com",), False),
    ],
)
def test_tlsrpt_record(record: str, rua: tuple[str, ...], ok: bool) -> None:
    parsed = parse_tlsrpt_record(record)
    assert parsed.rua == rua
    assert (not parsed.errors) is ok, parsed.errors


@pytest.mark.parametrize(
    ("record", "declined", "ok"),
    [
        ("v=BIMI1; l=https://e.example/logo.svg; a=https://e.example/vmc.pem", False, True),
        ("v=BIMI1; l=https://e.example/logo.svg", False, True),
        ("v=BIMI1; l=; a=;", True, True),
        ("v=BIMI1; l=https://e.example/logo.svg; a=http://e.example/vmc.pem", False, False),
        ("v=BIMI1; l=https://a.example/1.svg,https://b.example/2.svg", False, False),
        ("v=BIMI2; l=https://e.example/logo.svg", False, False),
    ],
)
def test_bimi_record(record: str, declined: bool, ok: bool) -> None:
    parsed = parse_bimi_record(record)
    assert parsed.declined is declined
    assert (not parsed.errors) is ok, parsed.errors

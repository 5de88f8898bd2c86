"""The strict RFC 7208 record grammar that check_host() evaluates."""

from __future__ import annotations

import ipaddress

import pytest

from auditor.protocol.spf import parse_spf
from auditor.protocol.spf_syntax import Mechanism, Qualifier, SpfSyntaxError, parse_record


def test_terms_are_typed() -> None:
    record = parse_record("v=spf1 -a:mail.example.com/24//64 ip6:2001:DB8::/32 mx ~all exp=why.%{d} x-y=%{d}")
    a, ip6, mx, all_ = record.directives
    assert (a.qualifier, a.mechanism, a.cidr4, a.cidr6) == (Qualifier.FAIL, Mechanism.A, 24, 64)
    assert a.domain_spec is not None and a.domain_spec.text == "mail.example.com"
    assert ip6.network == ipaddress.ip_network("2001:db8::/32")
    assert (mx.domain_spec, mx.cidr4, mx.cidr6) == (None, 32, 128)
    assert all_.qualifier is Qualifier.SOFTFAIL
    assert record.explanation is not None and record.explanation.value == "why.%{d}"
    assert [m.name for m in record.other_modifiers] == ["x-y"]
    assert record.redirect is None and record.has_all


def test_spaces_separate_terms_and_may_trail() -> None:
    assert len(parse_record("v=spf1  a   -all  ").directives) == 2
    assert parse_record("v=spf1").directives == ()


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1 a:ctrl.example.com\rptr -all",  # control characters are not separators
        "v=spf1 ip4:192.0.2.5\n include:example.com",
        "v=spf1 a:\xef\xbb\xbfgarbage.example.net -all",  # 7-bit ASCII only
        "v=spf1 ip4:1.2.3.4 -all moo",  # an error after 'all' still counts
        "v=spf1 -all ip6",
        "v=spf1 -all.",
        "v=spf1 -all:foobar",
        "v=spf1 -all/8",
        "v=spf1 ptr/0 -all",
        "v=spf1 ptr:",
        "v=spf1 a/33",
        "v=spf1 a//129",
        "v=spf1 a/24/64",
        "v=spf1 a:example.com:8080",
        "v=spf1 a:museum",
        "v=spf1 include:ip5.example.com/24",
        "v=spf1 include",
        "v=spf1 exists",
        "v=spf1 exists:",
        "v=spf1 ip4:1.2.3.4/032",
        "v=spf1 ip4:1.2.3",
        "v=spf1 ip4:1.2.3.4//32",
        "v=spf1 ip4:1.2.3.4:8080",
        "v=spf1 ip6:::1.1.1.1//33",
        "v=spf1 ip6::CAFE::BABE",
        "v=spf1 ip6:fe80::1%eth0",  # a zone index is not an RFC 4291 text form
        "v=spf1 redirect:example.com",
        "v=spf1 1up=foo",
        "v=spf1 =all",
        "v=spf1 foo=%abc",
        "v=spf1 exp=",
        "v=spf1 exp=-all",
        "v=spf1 redirect=",
        "v=spf1 exp=%{r}.example.com",
        "v=spf1 exp=a.example.com -all exp=b.example.com",
        "v=spf1 redirect=a.example.com redirect=a.example.com",
        "v=spf1 moo.cow/far_out=man:dog/cat",
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_record(text)


def test_unknown_modifiers_are_ignored_when_well_formed() -> None:
    record = parse_record("v=spf1 moo.cow-far_out=man:dog/cat default=+ ip4:1.2.3.4 -all")
    assert [m.name for m in record.other_modifiers] == ["moo.cow-far_out", "default"]


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1 a:ctrl.example.com\rptr -all",
        "v=spf1 ip4:192.0.2.5\n include:example.com",
        "v=spf1 a:example.com:8080",
        "v=spf1 ip4:1.2.3.4/032 -all",
        "v=spf1 ptr:",
    ],
)
def test_the_record_facts_parser_is_lenient_where_check_host_is_not(text: str) -> None:
    """Why check_host() has its own grammar: the facts parser accepts what RFC 7208 calls a permerror."""
    assert parse_spf(text).errors == ()
    with pytest.raises(SpfSyntaxError):
        parse_record(text)

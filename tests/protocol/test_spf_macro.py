"""SPF macro parsing and expansion (RFC 7208 §7), checked against the RFC's own examples (§7.4)."""

from __future__ import annotations

import ipaddress

import pytest

from auditor.protocol.spf_macro import (
    MacroSyntaxError,
    MacroValues,
    expand,
    parse_domain_spec,
    parse_macro_string,
    reverse_name,
    target_name,
)


def values(ip: str = "192.0.2.3", **overrides: object) -> MacroValues:
    fields: dict[str, object] = {
        "sender": "strong-bad@email.example.com",
        "local_part": "strong-bad",
        "sender_domain": "email.example.com",
        "domain": "email.example.com",
        "ip": ipaddress.ip_address(ip),
        "helo": "mx.example.org",
        "receiver": "receiver.example.net",
        "timestamp": 1700000000,
        "validated_name": "mx.example.org",
    }
    fields.update(overrides)
    return MacroValues(**fields)  # type: ignore[arg-type]


# RFC 7208 §7.4, the examples table (sender strong-bad@email.example.com, client 192.0.2.3).
RFC_EXAMPLES = [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
]


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES)
def test_rfc_7208_examples(text: str, expected: str) -> None:
    assert expand(parse_macro_string(text), values()) == expected


def test_rfc_7208_ipv6_example_uses_lower_case_nibbles() -> None:
    spec = parse_macro_string("%{ir}.%{v}._spf.%{d2}")
    expected = "1.0.b.c." + "0." * 20 + "8.b.d.0.1.0.0.2.ip6._spf.example.com"
    assert expand(spec, values("2001:db8::cb01")) == expected


def test_escapes_and_url_encoding() -> None:
    spec = parse_macro_string("a%%b%_c%-d.%{L}", explanation=False)
    assert expand(spec, values(local_part="~jack&jill=up")) == "a%b c%20d.~jack%26jill%3Dup"


def test_explanation_only_letters() -> None:
    text = parse_macro_string("%{c} %{r} %{t} %{p}", explanation=True)
    assert expand(text, values("2001:db8::1")) == "2001:db8::1 receiver.example.net 1700000000 mx.example.org"
    with pytest.raises(MacroSyntaxError):
        parse_macro_string("%{c}.example.com")  # c, r and t only in explanation text (§7.2)
    with pytest.raises(MacroSyntaxError):
        parse_macro_string("two words")  # a space only in explanation text


@pytest.mark.parametrize(
    "text",
    [
        "%(ir).example.com",
        "foo%.example.com",
        "%",
        "%{a}.example.com",
        "%{d0}",
        "%{d",
        "a\rb.example.com",
        "\x80",
    ],
)
def test_macro_syntax_errors(text: str) -> None:
    with pytest.raises(MacroSyntaxError):
        parse_macro_string(text)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("example.com", True),
        ("example.com.", True),
        ("foo.example.xn--zckzah", True),
        ("foo:bar/baz.example.com", True),
        ("%{d}", True),
        ("foo.%%", True),  # an escape is a macro-expand, a valid domain-end
        ("%{H}.bar", True),
        ("museum", False),
        ("museum.", False),
        ("abc.123", False),
        ("example.-com", False),
        ("example.com:8080", False),
        ("example.com/24", False),
        ("", False),
    ],
)
def test_domain_spec_end(text: str, valid: bool) -> None:
    if valid:
        parse_domain_spec(text)
    else:
        with pytest.raises(MacroSyntaxError):
            parse_domain_spec(text)


def test_target_name_truncates_from_the_left_and_rejects_unqueryable_names() -> None:
    long_name = "foobar." + "somewhat.long.exp.example.com." * 8 + "example.com"
    truncated = target_name(long_name)
    assert truncated == "somewhat.long.exp.example.com." * 8 + "example.com"
    assert truncated is not None and len(truncated) <= 253
    assert target_name("mail.example.com.") == "mail.example.com"
    assert target_name("mail.example...com") is None
    assert target_name("a" * 64 + ".example.com") is None


def test_reverse_names() -> None:
    assert reverse_name(ipaddress.ip_address("192.0.2.3")) == "3.2.0.192.in-addr.arpa"
    assert reverse_name(ipaddress.ip_address("2001:db8::1")).endswith(".8.b.d.0.1.0.0.2.ip6.arpa")

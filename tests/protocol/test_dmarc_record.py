"""The DMARC tag parser (auditor.protocol.dmarc) against a table of valid and invalid records,
and against checkdmarc for every tag both read."""

from __future__ import annotations

from typing import Any

import checkdmarc.dmarc
import dns.resolver
import pytest

from auditor.protocol.dmarc import (
    DmarcRecord,
    ReportUri,
    aligned,
    applicable_policy,
    authorisation_name,
    is_external,
    parse_dmarc,
    weaker,
    with_checkdmarc,
)

VALID: list[tuple[str, dict[str, Any]]] = [
    ("v=DMARC1; p=none", {"p": "none", "sp": None, "pct": 100, "adkim": "r", "aspf": "r"}),
    ("v=DMARC1;p=REJECT;sp=none", {"p": "reject", "sp": "none", "subdomain_policy": "none"}),
    ("v=DMARC1; p=quarantine; pct=25", {"pct": 25, "nonexistent_policy": "quarantine"}),
    ("v=DMARC1; p=reject; adkim=s; aspf=S", {"adkim": "s", "aspf": "s"}),
    ("v=DMARC1; p=reject; np=quarantine", {"np": "quarantine", "nonexistent_policy": "quarantine"}),
    ("v=DMARC1; p=reject; sp=quarantine", {"nonexistent_policy": "quarantine"}),
    ("v=DMARC1; p=none; fo=1:d:s; ri=3600; rf=afrf", {"fo": ("1", "d", "s"), "ri": 3600, "rf": ("afrf",)}),
    ("v=DMARC1; p=none; t=y; psd=n", {"t": True, "psd": "n"}),
    ("v=DMARC1; p=none; psd=y", {"psd": "y"}),
    ("v=DMARC1; p=none; future=1", {"unknown_tags": ("future",), "problems": ()}),
    ("v=DMARC1; p=none;", {"explicit": ("v", "p")}),
    (
        "v=DMARC1; p=none; rua=mailto:a@Example.COM!10m, mailto:b@x.example.net",
        {
            "rua": (
                ReportUri("mailto:a@Example.COM", "mailto", "example.com", "10m", 10 * 1024 * 1024),
                ReportUri("mailto:b@x.example.net", "mailto", "x.example.net"),
            )
        },
    ),
    (
        "v=DMARC1; p=none; ruf=mailto:f@example.com!500k; rua=https://r.example/dmarc",
        {
            "ruf": (ReportUri("mailto:f@example.com", "mailto", "example.com", "500k", 500 * 1024),),
            "rua": (ReportUri("https://r.example/dmarc", "https", None),),
        },
    ),
]

INVALID: list[tuple[str, list[tuple[str, str]]]] = [
    ("v=DMARC1; p=rejet", [("p", "rejet")]),
    ("v=DMARC1; p=reject; sp=block; np=drop", [("sp", "block"), ("np", "drop")]),
    ("v=DMARC1; p=reject; pct=150", [("pct", "150")]),
    ("v=DMARC1; p=reject; pct=-1", [("pct", "-1")]),
    ("v=DMARC1; p=reject; pct=50%", [("pct", "50%")]),
    ("v=DMARC1; p=reject; adkim=strict", [("adkim", "strict")]),
    ("v=DMARC1; p=reject; aspf=x", [("aspf", "x")]),
    ("v=DMARC1; p=reject; fo=2", [("fo", "2")]),
    ("v=DMARC1; p=reject; ri=hourly", [("ri", "hourly")]),
    ("v=DMARC1; p=reject; rf=iodef", [("rf", "iodef")]),
    ("v=DMARC1; p=reject; t=yes", [("t", "yes")]),
    ("v=DMARC1; p=reject; psd=maybe", [("psd", "maybe")]),
    ("v=DMARC1; p=reject; rua=dmarc@example.com", [("rua", "dmarc@example.com")]),
    ("v=DMARC1; p=reject; rua=mailto:dmarc@example.com!10x", [("rua", "mailto:dmarc@example.com!10x")]),
    ("v=DMARC1; p=reject; ruf=mailto:nobody", [("ruf", "mailto:nobody")]),
    ("v=DMARC1; p=reject; p=none", [("p", "none")]),
    ("v=DMARC1; rua=mailto:a@example.com", [("p", "")]),
    ("p=reject; v=DMARC1", [("v", "")]),
    ("v=dmarc1; p=reject", [("v", "dmarc1")]),
    ("v=DMARC1; p=reject; adkim", [("adkim", "")]),
]


@pytest.mark.parametrize(("record", "expected"), VALID, ids=[r for r, _ in VALID])
def test_valid_records(record: str, expected: dict[str, Any]) -> None:
    parsed = parse_dmarc(record)
    assert parsed.problems == () or "problems" not in expected
    for name, value in expected.items():
        assert getattr(parsed, name) == value, name


@pytest.mark.parametrize(("record", "expected"), INVALID, ids=[r for r, _ in INVALID])
def test_invalid_values_are_named_precisely(record: str, expected: list[tuple[str, str]]) -> None:
    parsed = parse_dmarc(record)
    assert [(p.tag, p.value) for p in parsed.problems] == expected
    assert all(p.reason for p in parsed.problems)


def test_a_bad_value_leaves_the_other_tags_usable() -> None:
    parsed = parse_dmarc("v=DMARC1; p=rejet; sp=reject; pct=50; adkim=s; rua=mailto:d@example.com")
    assert parsed.p is None and parsed.policy == "none"  # an unusable p counts as none
    assert (parsed.sp, parsed.pct, parsed.adkim) == ("reject", 50, "s")
    assert parsed.rua[0].domain == "example.com"
    assert parsed.problems[0].text == "p=rejet: not one of none, quarantine, reject"


AGREE = [r for r, _ in VALID if "https:" not in r] + [
    "v=DMARC1; p=quarantine; sp=none; np=reject; adkim=s; aspf=r; fo=0:d; t=n; psd=u",
    "v=DMARC1; p=reject; rua=mailto:dmarc@example.com!20m,mailto:other@example.com",
]


@pytest.mark.parametrize("record", AGREE)
def test_checkdmarc_and_the_tag_parser_agree(record: str) -> None:
    """checkdmarc is the reference for the tags it returns; merging its values changes nothing."""
    tags = dict(checkdmarc.dmarc.parse_dmarc_record(record, "example.com", resolver=_NoDns())["tags"])
    ours = parse_dmarc(record)
    assert with_checkdmarc(ours, tags) == ours


def test_checkdmarc_values_win_where_they_differ() -> None:
    record = parse_dmarc("v=DMARC1; p=none")
    tags = {"p": {"value": "reject", "explicit": True}, "adkim": {"value": "s", "explicit": True}}
    assert (with_checkdmarc(record, tags).p, with_checkdmarc(record, tags).adkim) == ("reject", "s")
    implicit = {"sp": {"value": "none", "explicit": False}}
    assert with_checkdmarc(record, implicit).sp is None  # a default is not a written sp


class _NoDns(dns.resolver.Resolver):
    """Records in AGREE name report addresses at example.com only, whose MX lookup must not leave
    the process: every question is NXDOMAIN."""

    def __init__(self) -> None:
        super().__init__(configure=False)
        self.nameservers = ["127.0.0.1"]

    def resolve(self, qname: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise dns.resolver.NXDOMAIN(qnames=[qname])


@pytest.mark.parametrize(
    ("record", "inherited", "exists", "expected"),
    [
        ("v=DMARC1; p=reject; sp=none; np=quarantine", False, True, ("reject", "p")),
        ("v=DMARC1; p=reject; sp=none; np=quarantine", True, True, ("none", "sp")),
        ("v=DMARC1; p=reject; sp=none; np=quarantine", True, False, ("quarantine", "np")),
        ("v=DMARC1; p=reject; sp=none", True, False, ("none", "sp")),
        ("v=DMARC1; p=reject", True, False, ("reject", "p")),
        ("v=DMARC1; p=reject; np=none", True, None, ("reject", "p")),
    ],
)
def test_applicable_policy(
    record: str, inherited: bool, exists: bool | None, expected: tuple[str, str]
) -> None:
    assert applicable_policy(parse_dmarc(record), inherited, exists) == expected


def test_alignment_and_external_destinations() -> None:
    assert aligned("pm-bounces.shop.example.com", "shop.example.com", "r")
    assert not aligned("pm-bounces.shop.example.com", "shop.example.com", "s")
    assert aligned("Shop.Example.com.", "shop.example.com", "s")
    assert not aligned("amazonses.com", "shop.example.com", "r")
    assert aligned("a.example.co.uk", "b.example.co.uk", "r")
    assert not aligned("a.co.uk", "b.co.uk", "r")
    assert is_external("example.com", "reports.example.net")
    assert not is_external("mg.example.com", "example.com")
    assert (
        authorisation_name("Example.com.", "Reports.example.net")
        == "example.com._report._dmarc.reports.example.net"
    )
    assert weaker("none", "reject") and not weaker("reject", "quarantine") and not weaker("none", "none")


def test_defaults_of_an_empty_record() -> None:
    assert parse_dmarc("v=DMARC1; p=none") == DmarcRecord(p="none", explicit=("v", "p"))

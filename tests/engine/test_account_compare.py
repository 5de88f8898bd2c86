"""Comparing the records Mailgun expects with what DNS serves (pure; issue 3, item 3)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditor.engine.account_compare import compare_records
from auditor.model.account import LOOKUP_FAILED, NOT_COLLECTED, ExpectedRecord, RecordComparison
from auditor.model.facts import (
    DkimFacts,
    DkimKeyFacts,
    DmarcFacts,
    DomainFacts,
    Failure,
    FailureKind,
    MxFacts,
    MxHost,
    SpfFacts,
    TrackingFacts,
    TxtFacts,
)
from auditor.protocol.spf import parse_spf

DOMAIN = "mg.example.com"
SELECTOR_NAME = f"k1._domainkey.{DOMAIN}"
NOT_EVALUATED = Failure(FailureKind.NOT_ATTEMPTED, "not needed here")


def _public_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


MAILGUN_KEY = _public_key()
OTHER_KEY = _public_key()


def expected(
    kind: str, name: str, value: str, priority: int | None = None, **overrides: Any
) -> ExpectedRecord:
    purpose = "receiving" if kind == "MX" else "sending"
    record = ExpectedRecord(purpose, kind, name, value, priority, "valid", ())
    return dataclasses.replace(record, **overrides)


def facts(
    *,
    txt: tuple[str, ...] | Failure = ("v=spf1 include:mailgun.org ~all",),
    dkim: tuple[DkimKeyFacts, ...] | Failure = (),
    mx: tuple[tuple[int, str], ...] | Failure = ((10, "mxa.mailgun.org"), (10, "mxb.mailgun.org")),
    tracking: TrackingFacts | Failure | None = None,
) -> DomainFacts:
    """DNS facts for `mg.example.com`, built the way the collector builds them."""
    if isinstance(txt, Failure):
        txt_facts: TxtFacts | Failure = txt
        spf: SpfFacts | Failure = txt
    else:
        txt_facts = TxtFacts(txt)
        records = tuple(t for t in txt if t.startswith("v=spf1"))
        one = records[0] if len(records) == 1 else None
        parsed = parse_spf(one) if one else None
        spf = SpfFacts(
            records,
            one,
            parsed.includes if parsed else (),
            parsed.redirect if parsed else None,
            parsed.all_qualifier if parsed else None,
            (),
        )
    return DomainFacts(
        domain=DOMAIN,
        txt=txt_facts,
        spf=spf,
        spf_tree=NOT_EVALUATED,
        dkim=dkim if isinstance(dkim, Failure) else DkimFacts(dkim, "inventory"),
        mx=mx if isinstance(mx, Failure) else MxFacts(tuple(MxHost(p, h, True) for p, h in mx), False),
        dmarc=DmarcFacts(f"_dmarc.{DOMAIN}", (), None, False, None, None, (), ()),
        tracking=tracking or TrackingFacts(f"email.{DOMAIN}", "mailgun.org", True),
    )


def dkim_key(record: str, name: str = SELECTOR_NAME, cname: str | None = None) -> DkimKeyFacts:
    return DkimKeyFacts(name.split(".", 1)[0], name, "inventory", True, (record,), cname)


def one(
    record: ExpectedRecord, dns: DomainFacts, extra: dict[str, tuple[str, ...]] | None = None
) -> RecordComparison:
    (result,) = compare_records((record,), dns, extra or {})
    assert result.record is record
    return result


# --- DKIM: the key Mailgun signs with, not just a key ---------------------------------------------


def test_same_dkim_key_split_differently_matches() -> None:
    # Given Mailgun expects its key, and DNS serves the same key with v=DKIM1 first, split by the
    # DNS host into 255-byte strings (joined by the collector) and with spaces a UI added
    served = f"v=DKIM1; k=rsa; p={MAILGUN_KEY[:120]} {MAILGUN_KEY[120:250]}\n {MAILGUN_KEY[250:]}"
    record = expected("TXT", SELECTOR_NAME.upper() + ".", f"k=rsa; p={MAILGUN_KEY}")
    # When compared
    result = one(record, facts(dkim=(dkim_key(served),)))
    # Then it is the same key
    assert result.matches and result.compared
    assert result.dns_values == (served,)


def test_different_dkim_key_does_not_match() -> None:
    record = expected("TXT", SELECTOR_NAME, f"k=rsa; p={MAILGUN_KEY}")
    result = one(record, facts(dkim=(dkim_key(f"k=rsa; p={OTHER_KEY}"),)))
    assert not result.matches and result.compared
    assert "different DKIM key" in result.note


def test_truncated_dkim_key_does_not_match() -> None:
    record = expected("TXT", SELECTOR_NAME, f"k=rsa; p={MAILGUN_KEY}")
    result = one(record, facts(dkim=(dkim_key(f"k=rsa; p={MAILGUN_KEY[:255]}"),)))
    assert not result.matches


def test_selector_not_collected_is_said_and_extra_txt_fills_it() -> None:
    record = expected("TXT", f"pic._domainkey.{DOMAIN}", f"k=rsa; p={MAILGUN_KEY}")
    dns = facts(dkim=(dkim_key(f"k=rsa; p={MAILGUN_KEY}"),))
    # Given the collector never looked at `pic`
    missing = one(record, dns)
    assert not missing.matches and not missing.compared
    assert missing.note.startswith(NOT_COLLECTED)
    # When the caller fetched it and passes it back
    filled = one(record, dns, {f"PIC._domainkey.{DOMAIN}.": (f"k=rsa; p={MAILGUN_KEY}",)})
    assert filled.matches


def test_dkim_lookup_failure_is_not_a_mismatch_verdict() -> None:
    failed = DkimKeyFacts(
        "k1", SELECTOR_NAME, "inventory", False, failure=Failure(FailureKind.TIMEOUT, "t/o")
    )
    result = one(expected("TXT", SELECTOR_NAME, f"k=rsa; p={MAILGUN_KEY}"), facts(dkim=(failed,)))
    assert not result.matches and not result.compared
    assert result.note.startswith(LOOKUP_FAILED)


def test_dkim_selector_without_a_key() -> None:
    absent = DkimKeyFacts("k1", SELECTOR_NAME, "inventory", False)
    result = one(expected("TXT", SELECTOR_NAME, f"k=rsa; p={MAILGUN_KEY}"), facts(dkim=(absent,)))
    assert not result.matches and result.compared
    assert "no DKIM key record" in result.note


def test_automatic_sender_security_cname() -> None:
    target = "pdk1._domainkey.abc123.dkim1.mailgun.com"
    name = f"pdk1._domainkey.{DOMAIN}"
    key = dkim_key(f"k=rsa; p={MAILGUN_KEY}", name=name, cname=target.upper() + ".")
    assert one(expected("CNAME", name, target), facts(dkim=(key,))).matches
    wrong = dataclasses.replace(key, cname="pdk1._domainkey.other.dkim1.mailgun.com")
    assert not one(expected("CNAME", name, target), facts(dkim=(wrong,))).matches


# --- SPF: merged records ----------------------------------------------------------------------------


def test_spf_with_merged_includes_matches() -> None:
    merged = "v=spf1 ip4:192.0.2.0/24 include:_spf.google.com include:MailGun.org. -all"
    result = one(expected("TXT", DOMAIN, "v=spf1 include:mailgun.org ~all"), facts(txt=(merged, "other=1")))
    assert result.matches
    assert result.dns_values == (merged,)


def test_spf_without_the_include_does_not_match() -> None:
    ours = "v=spf1 include:_spf.google.com ~all"
    result = one(expected("TXT", DOMAIN, "v=spf1 include:mailgun.org ~all"), facts(txt=(ours,)))
    assert not result.matches
    assert "include:mailgun.org" in result.note


def test_spf_two_records_do_not_match() -> None:
    two = ("v=spf1 include:mailgun.org ~all", "v=spf1 include:_spf.google.com ~all")
    result = one(expected("TXT", DOMAIN, "v=spf1 include:mailgun.org ~all"), facts(txt=two))
    assert not result.matches and "permerror" in result.note


def test_spf_include_variant_is_accepted_when_given() -> None:
    ours = ("v=spf1 include:eu.mailgun.org ~all",)
    record = expected("TXT", DOMAIN, "v=spf1 include:mailgun.org ~all")
    assert not one(record, facts(txt=ours)).matches
    (result,) = compare_records(
        (record,), facts(txt=ours), {}, include_variants={"mailgun.org": ["eu.mailgun.org"]}
    )
    assert result.matches and "variant" in result.note


def test_spf_txt_lookup_failed() -> None:
    result = one(
        expected("TXT", DOMAIN, "v=spf1 include:mailgun.org ~all"),
        facts(txt=Failure(FailureKind.SERVFAIL, "TXT mg.example.com: servfail")),
    )
    assert not result.compared and result.note.startswith(LOOKUP_FAILED)


# --- MX -------------------------------------------------------------------------------------------


def test_mx_hosts_compare_case_and_trailing_dot_insensitively() -> None:
    dns = facts(mx=((10, "MXA.Mailgun.ORG"), (20, "mxb.mailgun.org")))
    a = one(expected("MX", DOMAIN, "mxa.mailgun.org.", priority=10), dns)
    b = one(expected("MX", f"{DOMAIN.upper()}.", "MXB.MAILGUN.ORG", priority=10), dns)
    assert a.matches and b.matches
    assert "preference 20" in b.note


def test_mx_host_missing() -> None:
    dns = facts(mx=((10, "mxa.mailgun.org"), (10, "mxb.mailgun.org")))
    result = one(expected("MX", DOMAIN, "mxa.eu.mailgun.org", priority=10), dns)
    assert not result.matches and result.compared
    assert result.dns_values == ("10 mxa.mailgun.org", "10 mxb.mailgun.org")


# --- tracking CNAME -------------------------------------------------------------------------------


def test_tracking_cname_matches_case_insensitively() -> None:
    dns = facts(tracking=TrackingFacts(f"email.{DOMAIN}", "MailGun.org.", True))
    assert one(expected("CNAME", f"EMAIL.{DOMAIN}", "mailgun.org"), dns).matches


def test_tracking_cname_mismatch() -> None:
    # Given an EU domain whose tracking CNAME still points at the US target
    dns = facts(tracking=TrackingFacts(f"email.{DOMAIN}", "mailgun.org", True))
    result = one(expected("CNAME", f"email.{DOMAIN}", "eu.mailgun.org"), dns)
    assert not result.matches and result.compared
    assert result.dns_values == ("mailgun.org",)
    assert "eu.mailgun.org" in result.note


@pytest.mark.parametrize(("exists", "words"), [(False, "no record"), (True, "not a CNAME")])
def test_tracking_host_without_cname(exists: bool, words: str) -> None:
    dns = facts(tracking=TrackingFacts(f"email.{DOMAIN}", None, exists))
    result = one(expected("CNAME", f"email.{DOMAIN}", "mailgun.org"), dns)
    assert not result.matches and words in result.note


def test_other_web_prefix_is_not_collected() -> None:
    result = one(expected("CNAME", f"track.{DOMAIN}", "mailgun.org"), facts())
    assert not result.compared and result.note.startswith(NOT_COLLECTED)


def test_order_is_kept_and_every_record_answered() -> None:
    records = (
        expected("TXT", DOMAIN, "v=spf1 include:mailgun.org ~all"),
        expected("MX", DOMAIN, "mxa.mailgun.org", priority=10),
        expected("CNAME", f"email.{DOMAIN}", "mailgun.org"),
        expected("SRV", DOMAIN, "0 0 443 x"),
    )
    results = compare_records(records, facts(), {})
    assert [r.record for r in results] == list(records)
    assert [r.matches for r in results] == [True, True, True, False]
    assert results[3].note.startswith(NOT_COLLECTED)

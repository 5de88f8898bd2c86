"""The lean DNS wire code agrees with dnspython's `Message` on every query and response it handles.

Queries must be byte-identical to `dns.message.make_query(...).to_wire()`. Responses are built with
dnspython, sent through its `to_wire()` (name compression included) and read twice: by
`read_response` + `interpret`, and by `dns.message.from_wire` + the `Message`-based interpretation
the client used before (kept below as the reference). Both must give the same `DnsAnswer`, accept
the same responses and refuse the same ones.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer, name_text
from auditor.collect.dns.network import interpret
from auditor.protocol.dnswire import Question, name_from_text, read_response

T = dns.rdatatype


def reference_interpret(
    name: str, rdtype: dns.rdatatype.RdataType, response: dns.message.Message
) -> DnsAnswer:
    """The client's interpretation before the lean reader, on a dnspython Message."""
    rcode = response.rcode()
    if rcode == dns.rcode.SERVFAIL:
        return DnsAnswer(name, rdtype, AnswerStatus.SERVFAIL, detail="from ns")
    if rcode == dns.rcode.REFUSED:
        return DnsAnswer(name, rdtype, AnswerStatus.REFUSED, detail="from ns")
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return DnsAnswer(name, rdtype, AnswerStatus.ERROR, detail=f"{dns.rcode.to_text(rcode)} from ns")
    current = dns.name.from_text(name)
    cnames: list[str] = []
    for _ in range(16):
        rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, rdtype)
        if rrset is not None:
            return DnsAnswer(name, rdtype, AnswerStatus.OK, tuple(rrset), tuple(cnames))
        if rdtype == dns.rdatatype.CNAME:
            break
        alias = response.get_rrset(response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if alias is None:
            break
        current = alias[0].target
        cnames.append(name_text(current))
    status = AnswerStatus.NXDOMAIN if rcode == dns.rcode.NXDOMAIN else AnswerStatus.NODATA
    return DnsAnswer(name, rdtype, status, (), tuple(cnames))


QUERY_NAMES = [
    "mg.example.com",
    "MG.Example.COM",
    "example.com.",
    "_dmarc.mg.c000001.bench.example",
    "s1._domainkey.mg.example.com",
    "xn--bcher-kva.example",
    r"odd\.label.example",
    r"sp\032ace.example",
    "a" * 63 + ".example",
]


@pytest.mark.parametrize("name", QUERY_NAMES)
@pytest.mark.parametrize("rdtype", [T.TXT, T.MX, T.CNAME, T.A, T.AAAA])
def test_query_bytes_equal_dnspython(name: str, rdtype: dns.rdatatype.RdataType) -> None:
    reference = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    assert Question.make(name, rdtype).query(reference.id) == reference.to_wire()


def _query(name: str = "mg.example.com", rdtype: dns.rdatatype.RdataType = T.TXT) -> dns.message.Message:
    return dns.message.make_query(name, rdtype, use_edns=0, payload=1232)


def _response(query: dns.message.Message, rcode: int = dns.rcode.NOERROR) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    return response


def _rr(owner: str, rdtype: str, *texts: str, rdclass: str = "IN") -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, 300, rdclass, rdtype, *texts)


def _nsd_extras(response: dns.message.Message) -> dns.message.Message:
    """Authority NS and glue, as NSD sends them with every positive answer."""
    response.authority.append(_rr("example.com.", "NS", "ns1.example.com."))
    response.additional.append(_rr("ns1.example.com.", "A", "192.0.2.53"))
    return response


def _scenarios() -> dict[str, tuple[dns.message.Message, dns.message.Message]]:
    out: dict[str, tuple[dns.message.Message, dns.message.Message]] = {}

    q = _query()
    r = _nsd_extras(_response(q))
    r.answer.append(_rr("mg.example.com.", "TXT", '"v=spf1 include:mailgun.org ~all"', '"hello" "world"'))
    out["txt with authority and glue"] = (q, r)

    q = _query()
    r = _response(q)
    r.answer.append(_rr("MG.EXAMPLE.COM.", "TXT", '"upper-case owner"'))
    out["owner differs in case"] = (q, r)

    q = _query("Mg.Example.Com")
    r = _response(_query("mg.example.com"))
    r.id = q.id
    r.answer.append(_rr("mg.example.com.", "TXT", '"question echoed in other case"'))
    out["question echoed in other case"] = (q, r)

    q = _query()
    r = _response(q)
    r.answer.append(_rr("mg.example.com.", "TXT", '"one"'))
    r.answer.append(_rr("mg.example.com.", "TXT", '"one"', '"two"'))
    r.answer.append(_rr("mg.example.com.", "TXT", '"chaos"', rdclass="CH"))
    out["duplicate records and another class"] = (q, r)

    q = _query("mg.example.com", T.MX)
    r = _nsd_extras(_response(q))
    r.answer.append(
        _rr("mg.example.com.", "MX", "10 mxa.mailgun.org.", "10 mxb.mailgun.org.", "20 MXA.mailgun.org.")
    )
    out["mx with compressed exchanges"] = (q, r)

    q = _query("email.mg.example.com", T.A)
    r = _response(q)
    r.answer.append(_rr("email.mg.example.com.", "CNAME", "Tracking.Example.NET."))
    r.answer.append(_rr("tracking.example.net.", "CNAME", "edge.example.org."))
    r.answer.append(_rr("edge.example.org.", "A", "192.0.2.7"))
    out["cname chain to an address"] = (q, r)

    q = _query("email.mg.example.com", T.A)
    r = _response(q)
    r.answer.append(_rr("email.mg.example.com.", "CNAME", "mailgun.org."))
    out["cname to a name the server is not authoritative for"] = (q, r)

    q = _query("email.mg.example.com", T.CNAME)
    r = _response(q)
    r.answer.append(_rr("email.mg.example.com.", "CNAME", "first.example."))
    r.answer.append(_rr("email.mg.example.com.", "CNAME", "second.example."))
    out["two cnames at one name: the last one counts"] = (q, r)

    q = _query("nope.example.com")
    r = _response(q, dns.rcode.NXDOMAIN)
    r.authority.append(_rr("example.com.", "SOA", "ns1.example.com. host.example.com. 1 3600 600 86400 30"))
    out["nxdomain with soa"] = (q, r)

    q = _query("alias.example.com", T.TXT)
    r = _response(q, dns.rcode.NXDOMAIN)
    r.answer.append(_rr("alias.example.com.", "CNAME", "gone.example.com."))
    out["nxdomain after a cname"] = (q, r)

    q = _query()
    r = _response(q)
    r.authority.append(_rr("example.com.", "SOA", "ns1.example.com. host.example.com. 1 3600 600 86400 30"))
    out["nodata"] = (q, r)

    for rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR):
        q = _query()
        out[f"rcode {dns.rcode.to_text(rcode)}"] = (q, _response(q, rcode))

    q = _query()
    r = _response(q, dns.rcode.BADVERS)
    out["extended rcode from the OPT record"] = (q, r)

    q = _query()
    r = _response(q)
    r.use_edns(False)
    r.answer.append(_rr("mg.example.com.", "TXT", '"no EDNS in the answer"'))
    out["response without OPT"] = (q, r)
    return out


SCENARIOS = _scenarios()


@pytest.mark.parametrize("label", sorted(SCENARIOS))
def test_response_reads_as_dnspython_reads_it(label: str) -> None:
    query, response = SCENARIOS[label]
    wire = response.to_wire()
    name = query.question[0].name.to_text(omit_final_dot=True)
    rdtype = query.question[0].rdtype
    question = Question.make(name, rdtype)
    lean = read_response(wire, question, query.id)
    parsed = dns.message.from_wire(wire, ignore_trailing=True)
    assert query.is_response(parsed)
    assert lean is not None
    assert interpret(name, rdtype, question, lean, source="ns") == reference_interpret(name, rdtype, parsed)


def test_the_reference_comparison_sees_differences() -> None:
    """Two different answers do not compare equal (the agreement test above can fail)."""
    query, response = SCENARIOS["cname chain to an address"]
    other_query, other = SCENARIOS["cname to a name the server is not authoritative for"]
    question = Question.make("email.mg.example.com", T.A)
    first = interpret(
        "email.mg.example.com",
        T.A,
        question,
        read_response(response.to_wire(), question, query.id),
        source="ns",
    )  # type: ignore[arg-type]
    second = interpret(
        "email.mg.example.com",
        T.A,
        question,
        read_response(other.to_wire(), question, other_query.id),
        source="ns",
    )  # type: ignore[arg-type]
    assert first.status is AnswerStatus.OK and first.cnames == ("tracking.example.net", "edge.example.org")
    assert second.status is AnswerStatus.NODATA and second.cnames == ("mailgun.org",)


def _mutations(query: dns.message.Message, response: dns.message.Message) -> dict[str, bytes]:
    wire = response.to_wire()
    qid, flags = struct.unpack_from("!HH", wire)
    header_rest = wire[4:]
    empty_question = _response(query, dns.rcode.SERVFAIL)
    empty_question.question = []
    empty_noerror = _response(query)
    empty_noerror.question = []
    other_type = _response(_query("mg.example.com", T.MX))
    other_type.id = query.id
    other_name = _response(_query("mg.example.org"))
    other_name.id = query.id
    return {
        "as sent": wire,
        "other id": struct.pack("!HH", qid ^ 1, flags) + header_rest,
        "not a response (QR clear)": struct.pack("!HH", qid, flags & ~dns.flags.QR) + header_rest,
        "other opcode": struct.pack("!HH", qid, flags | dns.opcode.to_flags(dns.opcode.NOTIFY)) + header_rest,
        "servfail without a question": empty_question.to_wire(),
        "noerror without a question": empty_noerror.to_wire(),
        "answer to another type": other_type.to_wire(),
        "answer to another name": other_name.to_wire(),
    }


@pytest.mark.parametrize(
    "mutation",
    [
        "as sent",
        "other id",
        "not a response (QR clear)",
        "other opcode",
        "servfail without a question",
        "noerror without a question",
        "answer to another type",
        "answer to another name",
    ],
)
def test_accepts_exactly_what_is_response_accepts(mutation: str) -> None:
    query, response = SCENARIOS["txt with authority and glue"]
    wire = _mutations(query, response)[mutation]
    expected = query.is_response(dns.message.from_wire(wire, ignore_trailing=True))
    accepted = read_response(wire, Question.make("mg.example.com", T.TXT), query.id) is not None
    assert accepted == expected
    assert expected == (mutation in ("as sent", "servfail without a question"))


@pytest.mark.parametrize(
    "label", ["txt with authority and glue", "mx with compressed exchanges", "cname chain to an address"]
)
def test_every_truncation_is_refused_as_dnspython_refuses_it(label: str) -> None:
    """Cut anywhere inside the answer, a response is a DNSException for both readers (never a crash)."""
    query, response = SCENARIOS[label]
    wire = response.to_wire()
    name = query.question[0].name.to_text(omit_final_dot=True)
    question = Question.make(name, query.question[0].rdtype)
    for cut in range(12, len(wire)):
        with pytest.raises(dns.exception.DNSException):
            dns.message.from_wire(wire[:cut])
        with pytest.raises(dns.exception.DNSException):
            read_response(wire[:cut], question, query.id)


def test_opt_in_the_answer_section_is_refused() -> None:
    query = _query()
    response = _response(query)
    response.use_edns(False)
    wire = bytearray(response.to_wire())
    struct.pack_into("!H", wire, 6, 1)  # ANCOUNT 1: an OPT record where answers go
    wire += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(bytes(wire))
    with pytest.raises(dns.exception.DNSException):
        read_response(bytes(wire), Question.make("mg.example.com", T.TXT), query.id)


def _name_outcome(build: Any, text: str) -> Any:
    try:
        name = build(text)
    except dns.exception.DNSException as exc:
        return type(exc)
    return (name.labels, name.is_absolute())


NAME_EDGES = [
    "",
    "@",
    ".",
    "..",
    "a",
    "a.",
    "a..",
    ".a",
    "a..b",
    "mg.example.com",
    "MG.Example.COM.",
    "xn--bcher-kva.example",
    r"odd\.label.example",
    r"sp\032ace.example",
    "tab\there.example",
    "a" * 63 + ".example",
    "a" * 64 + ".example",
    ".".join(["abcdefghi"] * 26),
    "bücher.example",
    "_dmarc.mg.example.com",
    "*.wild.example",
    "@.example",
    "a.@",
    "-.-",
    "a b.example",
]


def test_name_from_text_equals_dnspython_from_text() -> None:
    """Equal labels and absoluteness, or the same exception, on edge cases and 3,000 random names."""
    rng = random.Random(20240601)
    alphabet = "ab.-_@\\\\ 09Z*é"
    texts = NAME_EDGES + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)
    ]
    outcomes = set()
    for text in texts:
        expected = _name_outcome(dns.name.from_text, text)
        assert _name_outcome(name_from_text, text) == expected, text
        outcomes.add(expected if isinstance(expected, type) else "name")
    assert {"name", dns.name.EmptyLabel, dns.name.LabelTooLong, dns.name.NameTooLong} <= outcomes


@pytest.mark.parametrize("name", QUERY_NAMES[:3])
@pytest.mark.parametrize("rdtype", [T.SOA, T.DS, T.DNSKEY])
def test_dnssec_query_bytes_equal_dnspython_with_do_and_cd(
    name: str, rdtype: dns.rdatatype.RdataType
) -> None:
    reference = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=True)
    reference.flags |= dns.flags.CD
    assert Question.make(name, rdtype, dnssec=True).query(reference.id) == reference.to_wire()


def test_authority_section_is_kept_only_for_dnssec_questions() -> None:
    query = _query("nx.example.com", T.SOA)
    response = _response(query, dns.rcode.NXDOMAIN)
    response.authority.append(_rr("example.com.", "SOA", "ns1.example.com. hm.example.com. 1 2 3 4 5"))
    response.authority.append(_rr("example.com.", "NSEC", "a.example.com. NS SOA RRSIG NSEC DNSKEY"))
    wire = response.to_wire()
    plain = read_response(wire, Question.make("nx.example.com", T.SOA), query.id)
    signed = read_response(wire, Question.make("nx.example.com", T.SOA, dnssec=True), query.id)
    assert plain is not None and signed is not None
    assert plain.authority == ()
    assert [(r.owner.to_text(), r.rdtype) for r in signed.authority] == [
        ("example.com.", T.SOA),
        ("example.com.", T.NSEC),
    ]
    assert signed.rcode == plain.rcode == dns.rcode.NXDOMAIN

"""Answers to DNSSEC questions (DO set): the RRsets of the answer and authority sections, RRSIGs kept.

The run's ordinary lookups keep only the records a rule reads (`DnsAnswer`); validating a chain
needs more of the response: the signatures next to each RRset and, in a negative answer, the
SOA and NSEC/NSEC3 records that prove the denial. This is that view of one response, built from
the lean wire parser's records, and the seam a backend offers for it (`SignedBackend`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from auditor.collect.dns.answers import ANSWERING_RCODES, AnswerStatus, rcode_failure
from auditor.model.facts import Failure, FailureKind
from auditor.protocol.dnswire import Record, Response

_RRSIG = dns.rdatatype.RRSIG
_FAILURE_OF = {
    AnswerStatus.SERVFAIL: FailureKind.SERVFAIL,
    AnswerStatus.TIMEOUT: FailureKind.TIMEOUT,
    AnswerStatus.REFUSED: FailureKind.REFUSED,
}


@dataclass(frozen=True, slots=True)
class SignedAnswer:
    """One DO response: its status and the RRsets of its answer and authority sections.

    RRSIGs are RRsets of type RRSIG whose `covers` is the signed type, as dnspython keeps them.
    """

    name: str
    rdtype: dns.rdatatype.RdataType
    status: AnswerStatus
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    detail: str = ""

    @property
    def definitive(self) -> bool:
        return self.status.definitive

    def find(
        self,
        owner: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        covers: dns.rdatatype.RdataType = dns.rdatatype.NONE,
        *,
        authority: bool = False,
    ) -> dns.rrset.RRset | None:
        """The RRset of `owner`/`rdtype` (an RRSIG set with `covers`) in one section, or None."""
        for rrset in self.authority if authority else self.answer:
            if rrset.rdtype == rdtype and rrset.covers == covers and rrset.name == owner:
                return rrset
        return None

    def failure(self) -> Failure:
        """This answer as a collection failure (for non-definitive answers)."""
        type_text = dns.rdatatype.to_text(self.rdtype)
        detail = f"{type_text} {self.name} (DNSSEC): {self.status.value}"
        if self.detail:
            detail += f" ({self.detail})"
        return Failure(_FAILURE_OF.get(self.status, FailureKind.NETWORK), detail)


@runtime_checkable
class SignedBackend(Protocol):
    """A backend that can also ask DNSSEC questions (the network one; zone files cannot)."""

    async def query_signed(self, name: str, rdtype: dns.rdatatype.RdataType) -> SignedAnswer:
        """Ask `name`/`rdtype` with DO and CD set; never raises for DNS or network problems."""
        ...


def rrsets_of(records: Iterable[Record]) -> tuple[dns.rrset.RRset, ...]:
    """Group a section's records into RRsets (RRSIGs by the type they cover), in first-seen order."""
    grouped: dict[tuple[dns.name.Name, int, int], dns.rrset.RRset] = {}
    for record in records:
        covers = record.rdata.type_covered if record.rdtype == _RRSIG else dns.rdatatype.NONE  # type: ignore[attr-defined]
        key = (record.owner, record.rdtype, int(covers))
        rrset = grouped.get(key)
        if rrset is None:
            rrset = dns.rrset.RRset(record.owner, dns.rdataclass.IN, record.rdtype, covers)
            grouped[key] = rrset
        rrset.add(record.rdata)
    return tuple(grouped.values())


def signed_answer(
    name: str, rdtype: dns.rdatatype.RdataType, response: Response, *, source: str
) -> SignedAnswer:
    """The `SignedAnswer` of a response to a DO question."""
    rcode = response.rcode
    if rcode not in ANSWERING_RCODES:
        status, detail = rcode_failure(rcode, source)
        return SignedAnswer(name, rdtype, status, detail=detail)
    answer = rrsets_of(response.answer)
    authority = rrsets_of(response.authority)
    if rcode == dns.rcode.NXDOMAIN:
        status = AnswerStatus.NXDOMAIN
    elif any(r.rdtype == rdtype for r in answer):
        status = AnswerStatus.OK
    else:
        status = AnswerStatus.NODATA
    return SignedAnswer(name, rdtype, status, answer, authority)

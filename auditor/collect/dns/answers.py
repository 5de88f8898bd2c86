"""One typed answer per (name, type) lookup, keeping every failure mode distinct."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import dns.rcode
import dns.rdata
import dns.rdatatype

from auditor.model.facts import Failure, FailureKind


class AnswerStatus(StrEnum):
    """NXDOMAIN and NODATA are answers; the rest mean "could not find out"."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    ERROR = "error"

    @property
    def definitive(self) -> bool:
        return self in (AnswerStatus.OK, AnswerStatus.NXDOMAIN, AnswerStatus.NODATA)


_FAILURE_OF = {
    AnswerStatus.SERVFAIL: FailureKind.SERVFAIL,
    AnswerStatus.TIMEOUT: FailureKind.TIMEOUT,
    AnswerStatus.REFUSED: FailureKind.REFUSED,
    AnswerStatus.ERROR: FailureKind.NETWORK,
}


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """The outcome of resolving `name`/`rdtype`, CNAMEs followed.

    `cnames` lists the aliases traversed (targets, in order); `rdatas` are the records of the
    requested type at the end of the chain.
    """

    name: str
    rdtype: dns.rdatatype.RdataType
    status: AnswerStatus
    rdatas: tuple[dns.rdata.Rdata, ...] = ()
    cnames: tuple[str, ...] = ()
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is AnswerStatus.OK

    @property
    def definitive(self) -> bool:
        return self.status.definitive

    @property
    def empty(self) -> bool:
        """A void answer in RFC 7208 §4.6.4's sense: NXDOMAIN or no records."""
        return self.status in (AnswerStatus.NXDOMAIN, AnswerStatus.NODATA)

    def failure(self) -> Failure:
        """This answer as a collection failure (only for non-definitive answers)."""
        kind = _FAILURE_OF.get(self.status, FailureKind.NETWORK)
        type_text = dns.rdatatype.to_text(self.rdtype)
        detail = f"{type_text} {self.name}: {self.status.value}"
        if self.detail:
            detail += f" ({self.detail})"
        return Failure(kind, detail)

    def texts(self) -> tuple[str, ...]:
        """TXT records with their character-strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2).

        Bytes that are not UTF-8 are kept visibly as `\\xNN` escapes rather than replaced.
        """
        out = []
        for rdata in self.rdatas:
            strings = getattr(rdata, "strings", None)
            if strings is None:
                continue
            out.append(b"".join(strings).decode("utf-8", errors="backslashreplace"))
        return tuple(out)


def name_text(name: object) -> str:
    """A dnspython Name (or text) as lower-case text without the trailing dot."""
    return str(name).rstrip(".").lower()


ANSWERING_RCODES = frozenset((dns.rcode.NOERROR, dns.rcode.NXDOMAIN))


def rcode_failure(rcode: int, source: str) -> tuple[AnswerStatus, str]:
    """The status and detail of a response whose RCODE is neither NOERROR nor NXDOMAIN."""
    if rcode == dns.rcode.SERVFAIL:
        return AnswerStatus.SERVFAIL, f"from {source}"
    if rcode == dns.rcode.REFUSED:
        return AnswerStatus.REFUSED, f"from {source}"
    return AnswerStatus.ERROR, f"{dns.rcode.to_text(rcode)} from {source}"

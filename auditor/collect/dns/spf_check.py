"""check_host() over the run's resolver: the thin I/O loop around `auditor.protocol.spf_eval`.

The evaluator asks for (name, type); this module turns the question into a DNS query through the
`CachingResolver` (so answers are shared with the rest of the run and CNAMEs are followed), and the
answer into a `DnsReply`. Timeouts, SERVFAIL, REFUSED and every other failure become
`DnsStatus.ERROR`, which check_host() reports as temperror (RFC 7208 §2.6.7, §4.4, §5).

Names travel as text between the evaluator and here; a name may hold any byte a macro put in it
(spaces, `:`, `/`, even `\\`), so it is built from its labels rather than parsed as zone text.
"""

from __future__ import annotations

import asyncio
import ipaddress

import dns.exception
import dns.name
import dns.rdatatype

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer
from auditor.collect.dns.resolver import CachingResolver
from auditor.protocol.spf_eval import (
    DnsReply,
    DnsStatus,
    RRType,
    SpfCheck,
    SpfLimits,
    SpfResult,
    check_host,
)

# RFC 7208 §4.6.4: an overall limit SHOULD allow at least 20 seconds; past it the result is temperror.
DEFAULT_TIME_LIMIT = 20.0

_RDTYPE = {
    RRType.TXT: dns.rdatatype.TXT,
    RRType.A: dns.rdatatype.A,
    RRType.AAAA: dns.rdatatype.AAAA,
    RRType.MX: dns.rdatatype.MX,
    RRType.PTR: dns.rdatatype.PTR,
}
_STATUS = {
    AnswerStatus.OK: DnsStatus.OK,
    AnswerStatus.NXDOMAIN: DnsStatus.NXDOMAIN,
    AnswerStatus.NODATA: DnsStatus.NODATA,
}


class ResolverSpfDns:
    """`SpfDns` backed by a `CachingResolver`."""

    def __init__(self, resolver: CachingResolver) -> None:
        self._resolver = resolver

    async def query(self, name: str, rrtype: RRType) -> DnsReply:
        try:
            wire_name = query_name(name)
        except dns.exception.DNSException as exc:
            return DnsReply(DnsStatus.ERROR, detail=f"cannot query {name!r}: {exc}")
        answer = await self._resolver.resolve(wire_name, _RDTYPE[rrtype])
        return reply_from_answer(answer, rrtype)


def query_name(name: str) -> str:
    """`name` as escaped presentation text that dnspython parses back to exactly these labels."""
    labels = [label.encode("utf-8", errors="surrogateescape") for label in name.split(".")]
    return dns.name.Name([*labels, b""]).to_text()


def label_text(name: dns.name.Name) -> str:
    """A name from DNS as the evaluator's text: labels joined by dots, no trailing dot."""
    labels = name.labels[:-1] if name.is_absolute() else name.labels
    return ".".join(label.decode("utf-8", errors="surrogateescape") for label in labels)


def reply_from_answer(answer: DnsAnswer, rrtype: RRType) -> DnsReply:
    """Translate the resolver's answer into what the evaluator reads."""
    status = _STATUS.get(answer.status)
    if status is None:
        detail = answer.status.value + (f" ({answer.detail})" if answer.detail else "")
        return DnsReply(DnsStatus.ERROR, detail=detail)
    if status is not DnsStatus.OK:
        return DnsReply(status)
    if rrtype is RRType.TXT:
        texts = tuple(b"".join(getattr(r, "strings", ())) for r in answer.rdatas)
        return DnsReply(status, texts=texts)
    if rrtype is RRType.MX:
        ordered = sorted(answer.rdatas, key=lambda r: getattr(r, "preference", 0))  # stable: ties keep order
        return DnsReply(status, names=tuple(label_text(r.exchange) for r in ordered))  # type: ignore[attr-defined]
    if rrtype is RRType.PTR:
        return DnsReply(status, names=tuple(label_text(r.target) for r in answer.rdatas))  # type: ignore[attr-defined]
    return DnsReply(status, addresses=tuple(r.address for r in answer.rdatas))  # type: ignore[attr-defined]


async def check_spf(
    resolver: CachingResolver,
    domain: str,
    ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    sender: str | None = None,
    *,
    helo: str = "",
    receiver: str = "unknown",
    limits: SpfLimits | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> SpfCheck:
    """Would `ip` pass SPF for mail from `domain`? RFC 7208 check_host() over `resolver`.

    `sender` defaults to `postmaster@<domain>`. Past `time_limit` seconds the result is temperror,
    as §4.6.4 recommends (the counts are then not known and read 0). No DNS failure ever raises;
    an `ip` that is not an IP address raises ValueError.
    """
    if sender is None:
        sender = f"postmaster@{domain}"
    dns_source = ResolverSpfDns(resolver)
    try:
        async with asyncio.timeout(time_limit):
            return await check_host(dns_source, ip, domain, sender, helo, receiver=receiver, limits=limits)
    except TimeoutError:
        return SpfCheck(
            result=SpfResult.TEMPERROR,
            domain=domain.rstrip("."),
            ip=str(ip),
            sender=sender,
            lookups=0,
            void_lookups=0,
            problem=f"evaluation took longer than {time_limit:g} s (RFC 7208 §4.6.4)",
        )

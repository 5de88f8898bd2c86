"""An address the provider really sends from, read from the provider's own SPF records.

"Does mail relayed by this domain's provider pass SPF?" needs an IP to evaluate. Guessing one
would go stale; the provider's published SPF (its include chain, e.g. mailgun.org → _spf →
_spf1) lists its sending ranges, so the first `ip4:` (else `ip6:`) range in evaluation order
(depth first, as check_host() would reach it) is the sample. The first host address of the range
is used, not the network address.
"""

from __future__ import annotations

import ipaddress

import dns.rdatatype

from auditor.collect.dns.resolver import CachingResolver
from auditor.protocol.spf import is_spf, parse_spf

_MAX_RECORDS = 10  # RFC 7208's lookup limit bounds how far a real chain can go


async def provider_sample_ip(resolver: CachingResolver, include: str) -> str | None:
    """A sending address of the provider behind `include`, or None when its SPF lists none."""
    queue = [include.rstrip(".").lower()]
    seen: set[str] = set()
    fallback: str | None = None
    while queue and len(seen) < _MAX_RECORDS:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        answer = await resolver.resolve(name, dns.rdatatype.TXT)
        if not answer.ok:
            continue
        records = [t for t in answer.texts() if is_spf(t)]
        if len(records) != 1:
            continue
        record = parse_spf(records[0])
        for term in record.terms:
            if term.modifier or term.qualifier not in ("+", "") or term.value is None:
                continue
            if term.name == "ip4":
                return _first_host(term.value)
            if term.name == "ip6" and fallback is None:
                fallback = _first_host(term.value)
        # Depth first: an include is evaluated where it stands, before the terms after it.
        queue[0:0] = [*record.includes, *([record.redirect] if record.redirect else [])]
    return fallback


def _first_host(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if network.num_addresses > 2:
        return str(network.network_address + 1)
    return str(network.network_address)

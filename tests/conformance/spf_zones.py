"""OpenSPF `zonedata` → one root zone plus injected faults for the loopback DNS server.

The rules follow pyspf's own test driver (see `conformance/README.md` §2.4):

* `SPF` items are also served as TXT when the name has no `TXT` item at all (`TXT: NONE` counts
  as one: it means "this name has no TXT records"); type 99 records are served too.
* A bare `TIMEOUT` (or `TIMEOUT: true`) makes every type that has no item *before* it time out;
  `SERVFAIL: true` makes the name answer SERVFAIL. `TXT: NONE` is not an item for this ordering,
  and the SPF→TXT copies count as listed last.
* Names are built from labels, never parsed as zone text, so `foo:bar/baz.example.com` and
  `macro%percent  space%20url-space.example.com` are served exactly. Strings are latin-1 encoded,
  which puts the bytes the YAML escapes (`\\x80`, `\\x0d`...) on the wire unchanged.
* Every name lives in one zone for the root, so unknown names are NXDOMAIN (never REFUSED) and
  parents of listed names are empty non-terminals (NODATA), as on a real server.

Two adaptations, both documented in docs/spf-conformance.md: a TXT record with *no* strings
(`SPF: []`, illegal on the wire and refused by dnspython) is served as one empty string, and a
timeout is answered SERVFAIL (instant, and a temperror to check_host() just the same) unless the
name is listed as a silent timeout, which the server then really drops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SPF
import dns.rdtypes.ANY.TXT
import dns.zone

_TTL = 300
# Every type check_host() asks for, plus the ones a zone may hold; a TIMEOUT covers these.
_FAULT_TYPES = ("A", "AAAA", "MX", "PTR", "TXT", "SPF", "CNAME")


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault to inject: `kind` is "timeout" or "servfail"; `rdtype` None means every type."""

    name: dns.name.Name
    kind: str
    rdtype: str | None


def owner_name(text: str) -> dns.name.Name:
    """An absolute name from zonedata text, built from its labels (no zone-text parsing)."""
    stripped = text[:-1] if text.endswith(".") else text
    if not stripped:
        return dns.name.root
    return dns.name.Name([*(label.encode("latin-1") for label in stripped.split(".")), b""])


def _txt_strings(value: object) -> list[bytes]:
    strings = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    encoded = [str(s).encode("latin-1") for s in strings]
    chunks = [c[i : i + 255] for c in encoded for i in range(0, max(len(c), 1), 255)]
    return chunks or [b""]  # no strings at all: served as one empty string (see module docstring)


def _rdata(rdtype: str, value: object) -> dns.rdata.Rdata:
    rdclass = dns.rdataclass.IN
    if rdtype in ("A", "AAAA"):
        return dns.rdata.from_text(rdclass, dns.rdatatype.from_text(rdtype), str(value))
    if rdtype == "MX":
        preference, exchange = value  # type: ignore[misc]
        return dns.rdtypes.ANY.MX.MX(rdclass, dns.rdatatype.MX, int(preference), owner_name(str(exchange)))
    if rdtype == "PTR":
        return dns.rdtypes.ANY.PTR.PTR(rdclass, dns.rdatatype.PTR, owner_name(str(value)))
    if rdtype == "CNAME":
        return dns.rdtypes.ANY.CNAME.CNAME(rdclass, dns.rdatatype.CNAME, owner_name(str(value)))
    if rdtype == "TXT":
        return dns.rdtypes.ANY.TXT.TXT(rdclass, dns.rdatatype.TXT, _txt_strings(value))
    if rdtype == "SPF":
        return dns.rdtypes.ANY.SPF.SPF(rdclass, dns.rdatatype.SPF, _txt_strings(value))
    raise ValueError(f"unsupported zonedata record type {rdtype!r}")


def build_zone(
    zonedata: Mapping[str, Iterable[object]], *, silent_timeouts: Iterable[str] = ()
) -> tuple[dns.zone.Zone, list[Fault]]:
    """The root zone and the faults for one scenario's `zonedata`."""
    silent = {owner_name(n) for n in silent_timeouts}
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    faults: list[Fault] = []
    for owner, items in zonedata.items():
        name = owner_name(owner)
        records: list[tuple[str, object]] = []
        has_txt = False
        timeout_at: int | None = None
        servfail = False
        for item in items or ():
            if item == "TIMEOUT" or item == {"TIMEOUT": True}:
                timeout_at = len(records) if timeout_at is None else timeout_at
                continue
            if item == {"SERVFAIL": True}:
                servfail = True
                continue
            ((rdtype, value),) = item.items()  # type: ignore[attr-defined]
            if rdtype == "TXT":
                has_txt = True
                if value == "NONE":
                    continue
            records.append((rdtype, value))
        if not has_txt:
            records.extend(("TXT", value) for rdtype, value in list(records) if rdtype == "SPF")
        for rdtype, value in records:
            node = zone.find_node(name, create=True)
            rdataset = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), create=True)
            rdataset.add(_rdata(rdtype, value), _TTL)
        if servfail:
            faults.append(Fault(name, "servfail", None))
        elif timeout_at is not None:
            kind = "timeout" if name in silent else "servfail"
            answered = {rdtype for rdtype, _ in records[:timeout_at]}
            if not answered:
                faults.append(Fault(name, kind, None))
            else:
                faults.extend(Fault(name, kind, t) for t in _FAULT_TYPES if t not in answered)
    return zone, faults

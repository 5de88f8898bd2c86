"""DNS answered from BIND zone files (`--zone-dir`): pre-launch checks and the offline example.

It stands behind the same `DnsBackend` seam as the network, answering the way an authoritative
server for those zones would (CNAMEs followed between loaded zones, NXDOMAIN distinct from NODATA,
wildcards expanded as RFC 4592 §4.3 says: DMARC report authorisation relies on them).
A name in no loaded zone is REFUSED, which collectors report as "could not verify", not missing.
"""

from __future__ import annotations

from pathlib import Path

import dns.exception
import dns.name
import dns.node
import dns.rdataclass
import dns.rdatatype
import dns.zone

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer, name_text
from auditor.errors import InputError


class ZoneBackend:
    """Answers from the zones in one directory (every `*.zone` file, origin from `$ORIGIN`)."""

    def __init__(self, zones: list[dns.zone.Zone], source: str) -> None:
        self._zones = sorted(zones, key=lambda z: len(z.origin), reverse=True)
        self._source = source
        self._sent = 0
        self._existing: set[dns.name.Name] = set()
        for zone in zones:
            for name in zone.nodes:
                absolute = name.derelativize(zone.origin)
                while absolute != zone.origin and absolute not in self._existing:
                    self._existing.add(absolute)  # the name and its empty non-terminals
                    absolute = absolute.parent()
                self._existing.add(zone.origin)

    @classmethod
    def from_directory(cls, directory: Path) -> ZoneBackend:
        if not directory.is_dir():
            raise InputError("not a directory", path=directory, field="--zone-dir")
        files = sorted(p for p in directory.iterdir() if p.suffix == ".zone" and p.is_file())
        if not files:
            raise InputError("no *.zone files", path=directory, field="--zone-dir")
        zones = []
        origins: dict[dns.name.Name, Path] = {}
        for path in files:
            zone = _load_zone(path)
            if zone.origin in origins:
                raise InputError(
                    f"zone {zone.origin} already loaded from {origins[zone.origin].name}",
                    path=path,
                )
            origins[zone.origin] = path
            zones.append(zone)
        return cls(zones, source=f"zone files in {directory}")

    @property
    def queries_sent(self) -> int:
        return self._sent

    def describe(self) -> str:
        return self._source

    async def close(self) -> None:
        return None

    async def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        self._sent += 1
        current = dns.name.from_text(name)
        cnames: list[str] = []
        for _ in range(16):
            zone = self._zone_for(current)
            if zone is None:
                if cnames:  # an authoritative server stops at an out-of-zone alias target
                    return DnsAnswer(name, rdtype, AnswerStatus.NODATA, (), tuple(cnames))
                return DnsAnswer(name, rdtype, AnswerStatus.REFUSED, detail=f"no zone file covers {name}")
            node = zone.get_node(current)
            if node is None and current not in self._existing:
                node = self._wildcard(zone, current)
            if node is None:
                status = AnswerStatus.NODATA if current in self._existing else AnswerStatus.NXDOMAIN
                return DnsAnswer(name, rdtype, status, (), tuple(cnames))
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                return DnsAnswer(name, rdtype, AnswerStatus.OK, tuple(rdataset), tuple(cnames))
            alias = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if alias is None or rdtype == dns.rdatatype.CNAME:
                return DnsAnswer(name, rdtype, AnswerStatus.NODATA, (), tuple(cnames))
            current = alias[0].target
            cnames.append(name_text(current))
        return DnsAnswer(name, rdtype, AnswerStatus.ERROR, detail="CNAME chain too long")

    def _wildcard(self, zone: dns.zone.Zone, name: dns.name.Name) -> dns.node.Node | None:
        """`*.<closest encloser>` for a name that does not exist (RFC 4592 §4.3), if published."""
        encloser = name.parent()
        while encloser not in self._existing and encloser != zone.origin:
            encloser = encloser.parent()
        return zone.get_node(dns.name.Name((b"*", *encloser.labels)))

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        for zone in self._zones:
            if name.is_subdomain(zone.origin):
                return zone
        return None


def _load_zone(path: Path) -> dns.zone.Zone:
    origin = None if _has_origin(path) else path.name.removesuffix(".zone")
    try:
        return dns.zone.from_file(str(path), origin=origin, relativize=False, check_origin=False)
    except dns.exception.SyntaxError as exc:
        line, message = _split_location(str(exc))
        if line is not None:
            line = _bad_line(path, origin, line)
        raise InputError(f"invalid zone file: {message}", path=path, line=line) from None
    except (dns.exception.DNSException, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid zone file: {exc}", path=path) from None


def _split_location(message: str) -> tuple[int | None, str]:
    """dnspython says `<file>:<line>: <problem>`."""
    head, _, problem = message.partition(": ")
    number = head.rpartition(":")[2]
    return (int(number), problem or message) if number.isdigit() else (None, message)


def _bad_line(path: Path, origin: str | None, reported: int) -> int:
    """The line of the bad record: dnspython reports the next line when the record's last token
    was the bad one (it has read the newline by then). If the file cut before `reported` already
    fails, the record above is the culprit."""
    if reported <= 1:
        return reported
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    prefix = "".join(lines[: reported - 1])
    try:
        dns.zone.from_text(prefix, origin=origin, relativize=False, check_origin=False)
    except dns.exception.SyntaxError:
        return reported - 1
    except dns.exception.DNSException:
        return reported
    return reported


def _has_origin(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return any(line.lstrip().upper().startswith("$ORIGIN") for line in handle)
    except (OSError, UnicodeDecodeError):
        return False

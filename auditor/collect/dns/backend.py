"""The seam between collectors and where answers come from (network or zone files)."""

from __future__ import annotations

from typing import Protocol

import dns.rdatatype

from auditor.collect.dns.answers import DnsAnswer


class DnsBackend(Protocol):
    """Answers one question, without caching and without following CNAMEs across queries."""

    async def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        """Resolve `name`/`rdtype`; never raises for DNS or network problems."""
        ...

    def describe(self) -> str:
        """Where answers come from, for the report's run information."""
        ...

    @property
    def queries_sent(self) -> int:
        """How many questions were put on the wire (or asked of the zone data)."""
        ...

    async def close(self) -> None:
        """Release sockets."""
        ...

"""A recipe for the DNS backend that can cross a process boundary.

A live backend holds sockets (or parsed zones), so worker processes each build their own from this
recipe; the CLI builds one too, in the parent, to check the input before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor.collect.dns.backend import DnsBackend
from auditor.collect.dns.network import Nameserver, NetworkBackend
from auditor.collect.dns.zonefiles import ZoneBackend


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """Either zone files (`zone_dir`) or nameservers, with the per-query timeout and attempts."""

    zone_dir: Path | None = None
    nameservers: tuple[Nameserver, ...] = ()
    timeout: float = 2.0
    attempts: int = 3

    def build(self) -> DnsBackend:
        if self.zone_dir is not None:
            return ZoneBackend.from_directory(self.zone_dir)
        return NetworkBackend(list(self.nameservers), timeout=self.timeout, attempts=self.attempts)

#!/usr/bin/env python3
"""checkdmarc's own bulk check (``checkdmarc.check_domains``) against the benchmark server.

    python bench/runners/checkdmarc_runner.py INVENTORY --port PORT [--limit K]
        [--mode limited|full] [--output OUT.json]

checkdmarc's command line accepts only plain IP nameservers (port 53), but its Python API takes
``dns.nameserver.Nameserver`` objects, so we pass a ``Do53Nameserver('127.0.0.1', PORT)``
subclass that also counts every query put on the wire (measured, not estimated).

Modes:
- ``limited`` (default): ``check_domains`` with the checks sendready does not make stubbed out
  (DNSSEC, SOA, NS, MTA-STS, SMTP TLS reporting) and ``bimi_selector=None``, so it looks at the
  same record types as the others: SPF (with its include chain), DMARC and MX (plus the A/AAAA
  and PTR look-ups of MX hosts that ``check_mx`` always makes). No TLS/STARTTLS probing.
- ``full``: ``check_domains`` as its CLI runs it, minus TLS probing (which is off by default).

``--limit K`` checks only the first K domains of the inventory (a deterministic subset),
because checkdmarc is sequential and would take many minutes at N=10,000.

A guard refuses any socket connection or datagram to an address outside 127.0.0.0/8.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import time
from pathlib import Path

import dns.nameserver
import yaml


def _install_loopback_guard() -> None:
    real = socket.socket

    def _check(address) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")):
            raise PermissionError(f"benchmark guard: refusing traffic to {host!r}")

    class GuardedSocket(real):
        def connect(self, address):
            _check(address)
            return super().connect(address)

        def connect_ex(self, address):
            _check(address)
            return super().connect_ex(address)

        def sendto(self, data, *args):
            _check(args[-1])
            return super().sendto(data, *args)

    socket.socket = GuardedSocket


class CountingNameserver(dns.nameserver.Do53Nameserver):
    """A plain-DNS nameserver on any port that counts the queries it sends."""

    count = 0

    def query(
        self,
        request,
        timeout,
        source,
        source_port,
        max_size,
        one_rr_per_rrset=False,
        ignore_trailing=False,
    ):
        CountingNameserver.count += 1
        return super().query(
            request,
            timeout,
            source,
            source_port,
            max_size,
            one_rr_per_rrset=one_rr_per_rrset,
            ignore_trailing=ignore_trailing,
        )


def _limit_to_same_record_types(checkdmarc) -> list[str]:
    """Stub the checks that look at record types the other runners do not query."""
    stubs = {
        "check_dnssec": lambda *a, **k: False,
        "check_soa": lambda *a, **k: {},
        "check_ns": lambda *a, **k: {"hostnames": [], "warnings": []},
        "check_mta_sts": lambda *a, **k: {"valid": False, "error": "not checked (benchmark)"},
        "check_smtp_tls_reporting": lambda *a, **k: {
            "valid": False,
            "error": "not checked (benchmark)",
        },
    }
    for name, stub in stubs.items():
        if not hasattr(checkdmarc, name):
            raise SystemExit(f"checkdmarc.{name} not found: this checkdmarc version is not supported")
        setattr(checkdmarc, name, stub)
    return sorted(stubs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("inventory", type=Path)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--limit", type=int, default=0, help="only the first K domains (0 = all)")
    ap.add_argument("--mode", choices=("limited", "full"), default="limited")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()

    _install_loopback_guard()
    logging.disable(logging.WARNING)  # checkdmarc logs a warning per planted mistake
    import checkdmarc

    data = yaml.safe_load(args.inventory.read_text())
    all_domains = [d["name"] for d in data["domains"]]
    domains = all_domains[: args.limit] if args.limit else all_domains
    stubbed = _limit_to_same_record_types(checkdmarc) if args.mode == "limited" else []

    ns = CountingNameserver("127.0.0.1", args.port)
    t0 = time.perf_counter()
    results = checkdmarc.check_domains(
        domains,
        nameservers=[ns],
        check_mx_tls=False,
        bimi_selector=None if args.mode == "limited" else "default",
        timeout=args.timeout,
    )
    audit_seconds = time.perf_counter() - t0
    if isinstance(results, dict):
        results = [results]
    if args.output:
        args.output.write_text(json.dumps(results, default=str))
    write_seconds = time.perf_counter() - t0 - audit_seconds

    spf_valid = sum(1 for r in results if (r.get("spf") or {}).get("valid"))
    dmarc_valid = sum(1 for r in results if (r.get("dmarc") or {}).get("valid"))
    print(
        json.dumps(
            {
                "runner": "checkdmarc",
                "checkdmarc_version": getattr(checkdmarc, "__version__", "?"),
                "mode": args.mode,
                "stubbed_checks": stubbed,
                "domains": len(results),
                "domains_in_inventory": len(all_domains),
                "queries": CountingNameserver.count,
                "audit_seconds": round(audit_seconds, 4),
                "write_seconds": round(write_seconds, 4),
                "spf_valid": spf_valid,
                "dmarc_valid": dmarc_valid,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The obvious client: dnspython's asyncio resolver, one ``resolve()`` call per query.

    python bench/runners/naive_dnspython.py INVENTORY --port PORT [--concurrency 100]

Per domain d of the inventory it issues: TXT d, TXT _dmarc.d, MX d, CNAME email.d,
TXT <selector>._domainkey.d for every selector, and the mail-domain TXT records TXT _mta-sts.d,
TXT _smtp._tls.d and TXT default._bimi.d. Once per run (shared names, de-duplicated) it
follows the SPF chains that the apex TXT records reference (include:/redirect= -> TXT,
a: -> A, mx: -> MX) and resolves the A record of every MX host seen. That is the query set a
careful auditor issues. Queries in flight are bounded by an asyncio.Semaphore.

Prints one JSON object on stdout: counts of queries by outcome and the time spent.
All traffic goes to 127.0.0.1:PORT only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import yaml

_SPF_TERMS = re.compile(r"(?:^|\s)[+\-~?]?(include:|redirect=|a:|mx:)([^\s/]+)", re.I)


def load_domains(path: Path) -> list[tuple[str, list[str]]]:
    data = yaml.safe_load(path.read_text())
    default_sel = (data.get("defaults") or {}).get("dkim_selectors") or []
    return [(d["name"].lower().rstrip("."), d.get("dkim_selectors") or default_sel) for d in data["domains"]]


class Naive:
    def __init__(self, port: int, concurrency: int, timeout: float):
        self.resolver = dns.asyncresolver.Resolver(configure=False)
        self.resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
        self.resolver.timeout = timeout
        self.resolver.lifetime = timeout * 3
        self.resolver.cache = None
        self.sem = asyncio.Semaphore(concurrency)
        self.outcomes: dict[str, int] = {}
        self.queries = 0
        self.shared: dict[tuple[str, str], asyncio.Task] = {}

    async def q(self, name: str, rdtype: str):
        async with self.sem:
            self.queries += 1
            try:
                ans = await self.resolver.resolve(name, rdtype, raise_on_no_answer=False)
                outcome = "noerror" if ans.rrset is not None else "nodata"
            except dns.resolver.NXDOMAIN:
                ans, outcome = None, "nxdomain"
            except dns.resolver.LifetimeTimeout:
                ans, outcome = None, "timeout"
            except dns.resolver.NoNameservers:
                ans, outcome = None, "servfail_or_refused"
            except dns.exception.DNSException:
                ans, outcome = None, "other_error"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return ans

    def once(self, name: str, rdtype: str) -> asyncio.Task:
        """Shared names are queried once per run."""
        key = (name.lower().rstrip("."), rdtype)
        task = self.shared.get(key)
        if task is None:
            coro = self.spf_chain(key[0]) if rdtype == "SPF-TXT" else self.shared_lookup(*key)
            task = self.shared[key] = asyncio.ensure_future(coro)
        return task

    async def shared_lookup(self, name: str, rdtype: str):
        ans = await self.q(name, rdtype)
        if rdtype == "MX":
            self.follow_mx(ans)
        return ans

    def follow_mx(self, ans) -> None:
        if ans is not None and ans.rrset is not None:
            for rd in ans.rrset:
                self.once(rd.exchange.to_text(), "A")

    async def spf_chain(self, name: str):
        ans = await self.q(name, "TXT")
        await self.follow_spf(ans)

    async def follow_spf(self, ans) -> None:
        if ans is None or ans.rrset is None:
            return
        waits = []
        for rd in ans.rrset:
            text = b"".join(rd.strings).decode("utf-8", "replace")
            if not text.lower().startswith("v=spf1"):
                continue
            for kind, target in _SPF_TERMS.findall(text):
                kind = kind.lower()
                if kind in ("include:", "redirect="):
                    waits.append(self.once(target, "SPF-TXT"))
                elif kind == "a:":
                    waits.append(self.once(target, "A"))
                else:
                    waits.append(self.once(target, "MX"))
        if waits:
            await asyncio.gather(*waits)

    async def domain(self, name: str, selectors: list[str]) -> None:
        txt, _dmarc, mx, _cname, _sts, _tlsrpt, _bimi, *_dkim = await asyncio.gather(
            self.q(name, "TXT"),
            self.q(f"_dmarc.{name}", "TXT"),
            self.q(name, "MX"),
            self.q(f"email.{name}", "CNAME"),
            self.q(f"_mta-sts.{name}", "TXT"),
            self.q(f"_smtp._tls.{name}", "TXT"),
            self.q(f"default._bimi.{name}", "TXT"),
            *(self.q(f"{s}._domainkey.{name}", "TXT") for s in selectors),
        )
        self.follow_mx(mx)
        await self.follow_spf(txt)


async def amain(args) -> dict:
    domains = load_domains(args.inventory)
    naive = Naive(args.port, args.concurrency, args.timeout)
    t0 = time.perf_counter()
    # Domains are fed by `concurrency` workers (so that 10,000 domains are not 10,000 live
    # coroutines at once); each domain's queries run in parallel, all bounded by the semaphore.
    feed = iter(domains)

    async def worker() -> None:
        for name, selectors in feed:
            await naive.domain(name, selectors)

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    pending = [t for t in naive.shared.values() if not t.done()]
    while pending:
        await asyncio.gather(*pending)
        pending = [t for t in naive.shared.values() if not t.done()]
    elapsed = time.perf_counter() - t0
    return {
        "runner": "naive-dnspython",
        "domains": len(domains),
        "queries": naive.queries,
        "shared_queries": len(naive.shared),
        "outcomes": dict(sorted(naive.outcomes.items())),
        "audit_seconds": round(elapsed, 4),
        "concurrency": args.concurrency,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("inventory", type=Path)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(amain(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The one place checkdmarc is used: DMARC record parsing, driven by the run's own resolver.

checkdmarc is synchronous and looks names up while it parses (report-destination authorisation,
MX of report addresses). It runs here in a small thread pool with a `dns.resolver.Resolver` whose
`resolve()` is answered by this run's `CachingResolver` on the event loop, so checkdmarc never
uses the system resolver, works in `--zone-dir` mode, and shares the run's cache. Its module-level
`DNS_CACHE` is keyed by name only (not by resolver), so it is cleared when a run starts.

SPF is *not* parsed with checkdmarc: `parse_spf_record` resolves the whole include tree inside the
parser, one synchronous query at a time, which defeats the run-wide de-duplication and costs
milliseconds per domain. SPF uses `auditor.protocol.spf` with the async walker instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import checkdmarc.dmarc
import checkdmarc.utils
import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from auditor.collect.dns.answers import AnswerStatus
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.facts import DmarcFacts, Failure, FailureKind

_BRIDGE_TIMEOUT = 30.0
_cache_lock = threading.Lock()


def reset_checkdmarc_cache() -> None:
    """Forget answers a previous run (with another resolver) left in checkdmarc's global cache."""
    with _cache_lock:
        cache: Any = getattr(checkdmarc.utils, "DNS_CACHE", None)
        if cache is not None and hasattr(cache, "clear"):
            cache.clear()


class BridgeResolver(dns.resolver.Resolver):
    """A synchronous dnspython resolver answered by the run's asynchronous resolver."""

    def __init__(self, resolver: CachingResolver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(configure=False)
        self.nameservers = ["127.0.0.1"]  # never used: resolve() is answered by the bridge
        self._run_resolver = resolver
        self._loop = loop

    def resolve(  # type: ignore[override]
        self,
        qname: str | dns.name.Name,
        rdtype: str | int = dns.rdatatype.A,
        rdclass: str | int = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
        source_port: int = 0,
        lifetime: float | None = None,
        search: bool | None = None,
    ) -> dns.resolver.Answer:
        name = str(qname).rstrip(".")
        kind = dns.rdatatype.RdataType.make(rdtype)
        future = asyncio.run_coroutine_threadsafe(self._run_resolver.resolve(name, kind), self._loop)
        answer = future.result(_BRIDGE_TIMEOUT)
        absolute = dns.name.from_text(name)
        query = dns.message.make_query(absolute, kind)
        response = dns.message.make_response(query)
        if answer.status is AnswerStatus.OK:
            response.answer.append(dns.rrset.from_rdata_list(absolute, 300, list(answer.rdatas)))
            return dns.resolver.Answer(absolute, kind, dns.rdataclass.IN, response)
        if answer.status is AnswerStatus.NXDOMAIN:
            raise dns.resolver.NXDOMAIN(qnames=[absolute], responses={absolute: response})
        if answer.status is AnswerStatus.NODATA:
            if raise_on_no_answer:
                raise dns.resolver.NoAnswer(response=response)
            return dns.resolver.Answer(absolute, kind, dns.rdataclass.IN, response, raise_on_no_answer=False)
        if answer.status is AnswerStatus.TIMEOUT:
            raise dns.resolver.LifetimeTimeout(timeout=_BRIDGE_TIMEOUT, errors=[])
        raise dns.resolver.NoNameservers(request=query, errors=[])


class DmarcParser:
    """Parses DMARC records with checkdmarc in worker threads; one per run."""

    def __init__(self, resolver: CachingResolver, *, workers: int = 4) -> None:
        self._resolver = resolver
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="checkdmarc")
        self._bridge: BridgeResolver | None = None

    async def parse(self, domain: str, name: str, records: tuple[str, ...]) -> DmarcFacts | Failure:
        if len(records) != 1:
            error = None if not records else f"{len(records)} DMARC records (RFC 7489 §6.6.3)"
            return DmarcFacts(name, records, None, False, error, None, (), ())
        if self._bridge is None:
            self._bridge = BridgeResolver(self._resolver, asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _parse_one, domain, name, records[0], self._bridge)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _parse_one(domain: str, name: str, record: str, bridge: BridgeResolver) -> DmarcFacts | Failure:
    try:
        parsed: Mapping[str, Any] = checkdmarc.dmarc.parse_dmarc_record(
            record, domain, resolver=bridge, include_tag_descriptions=False
        )
    except (checkdmarc.dmarc.DMARCError, checkdmarc.dmarc._DMARCWarning) as exc:
        return DmarcFacts(name, (record,), record, False, _sentence(exc), None, (), ())
    except dns.exception.DNSException as exc:
        # A lookup checkdmarc needed failed: that is "could not verify", not "invalid record".
        return Failure(
            FailureKind.NETWORK, f"DMARC {name}: lookup during parsing failed ({exc.__class__.__name__})"
        )
    tags = tuple(
        (tag, str(value.get("value")))
        for tag, value in parsed.get("tags", {}).items()
        if isinstance(value, Mapping)
    )
    policy = dict(tags).get("p")
    warnings = tuple(str(w) for w in parsed.get("warnings", ()))
    return DmarcFacts(name, (record,), record, True, None, policy, tags, warnings)


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]

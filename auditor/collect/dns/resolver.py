"""The run's resolver: de-duplicates every (name, type) for the whole run and bounds the load.

Thousands of Mailgun domains share `include:mailgun.org`, its nested includes and the MX hosts;
those are asked once per run, not once per domain. Concurrent askers of the same question share the
one in-flight lookup. A global cap on queries in flight and an optional rate limit keep the audit
polite towards public resolvers.
"""

from __future__ import annotations

import asyncio
import time

import dns.rdatatype

from auditor.collect.dns.answers import AnswerStatus, DnsAnswer
from auditor.collect.dns.backend import DnsBackend
from auditor.collect.dns.signed import SignedAnswer, SignedBackend

_MAX_ALIAS_HOPS = 8


class CachingResolver:
    """Run-scoped cache in front of a `DnsBackend`; owned by one audit run, never global."""

    def __init__(
        self,
        backend: DnsBackend,
        *,
        max_in_flight: int = 200,
        queries_per_second: float | None = None,
    ) -> None:
        self.backend = backend
        self._cache: dict[tuple[str, int], asyncio.Future[DnsAnswer]] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self._interval = 1.0 / queries_per_second if queries_per_second else 0.0
        self._next_send = 0.0
        self.lookups = 0
        self.cache_hits = 0
        self._signed: dict[tuple[str, int], asyncio.Future[SignedAnswer]] = {}

    @property
    def queries_sent(self) -> int:
        return self.backend.queries_sent

    def describe(self) -> str:
        return self.backend.describe()

    async def resolve(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        """Resolve with CNAMEs followed, even when a server returned only the alias."""
        done = self.resolve_now(name, rdtype)
        if done is not None:
            return done
        answer = await self.lookup(name, rdtype)
        hops = 0
        chain = list(answer.cnames)
        while (
            answer.status is AnswerStatus.NODATA
            and answer.cnames
            and rdtype != dns.rdatatype.CNAME
            and hops < _MAX_ALIAS_HOPS
        ):
            # The server stopped at an alias whose target it is not authoritative for.
            hops += 1
            answer = await self.lookup(answer.cnames[-1], rdtype)
            chain.extend(answer.cnames)
        if chain != list(answer.cnames) or answer.name != name:
            answer = DnsAnswer(name, rdtype, answer.status, answer.rdatas, tuple(chain), answer.detail)
        return answer

    def resolved(self, name: str, rdtype: dns.rdatatype.RdataType) -> tuple[DnsAnswer, int] | None:
        """What `resolve()` would return now, without waiting: (answer, lookups it takes).

        None unless every lookup `resolve()` would make (the name, and any alias targets it
        chases) has already completed in this run. Nothing is counted: see `count_lookups`.
        """
        answer = self._completed(name, rdtype)
        if answer is None:
            return None
        steps = 1
        chain = list(answer.cnames)
        while (
            answer.status is AnswerStatus.NODATA
            and answer.cnames
            and rdtype != dns.rdatatype.CNAME
            and steps <= _MAX_ALIAS_HOPS
        ):
            answer = self._completed(answer.cnames[-1], rdtype)
            if answer is None:
                return None
            steps += 1
            chain.extend(answer.cnames)
        if chain != list(answer.cnames) or answer.name != name:
            answer = DnsAnswer(name, rdtype, answer.status, answer.rdatas, tuple(chain), answer.detail)
        return answer, steps

    def resolve_now(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer | None:
        """`resolve()` without waiting, counted as it counts, if every lookup it needs is done."""
        done = self.resolved(name, rdtype)
        if done is None:
            return None
        answer, steps = done
        self.count_lookups(steps)
        return answer

    async def resolve_all(self, questions: list[tuple[str, dns.rdatatype.RdataType]]) -> list[DnsAnswer]:
        """`resolve()` for each question, concurrently; no task for those answered already."""
        answers = [self.resolve_now(name, rdtype) for name, rdtype in questions]
        waiting = [i for i, answer in enumerate(answers) if answer is None]
        if waiting:
            fetched = await asyncio.gather(*(self.resolve(*questions[i]) for i in waiting))
            for i, answer in zip(waiting, fetched, strict=True):
                answers[i] = answer
        return answers  # type: ignore[return-value]

    def count_lookups(self, lookups: int) -> None:
        """Count lookups answered through `resolved()` as `lookup()` counts cache hits."""
        self.lookups += lookups
        self.cache_hits += lookups

    def _completed(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer | None:
        future = self._cache.get((name.lower().rstrip("."), int(rdtype)))
        if future is None or not future.done() or future.cancelled() or future.exception() is not None:
            return None
        return future.result()

    async def lookup(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        """One question, asked at most once per run."""
        key = (name.lower().rstrip("."), int(rdtype))
        self.lookups += 1
        future = self._cache.get(key)
        if future is not None:
            self.cache_hits += 1
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._cache[key] = future
        try:
            answer = await self._ask(key[0], rdtype)
        except BaseException as exc:  # cancelled: let later askers try again
            del self._cache[key]
            future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            future.exception()  # mark retrieved
            raise
        future.set_result(answer)
        return answer

    async def _ask(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        async with self._slots:
            if self._interval:
                await self._pace()
            return await self.backend.query(name, rdtype)

    @property
    def can_sign(self) -> bool:
        """Whether the backend can answer DNSSEC questions (`signed()`)."""
        return isinstance(self.backend, SignedBackend)

    async def signed(self, name: str, rdtype: dns.rdatatype.RdataType) -> SignedAnswer:
        """A DNSSEC question (DO, CD), asked at most once per run, under the same limits as `lookup()`.

        Kept apart from `lookup()`'s cache: the answers carry signatures and denial records the
        ordinary lookups do not keep. Only for backends that can (`can_sign`).
        """
        key = (name.lower().rstrip("."), int(rdtype))
        future = self._signed.get(key)
        if future is not None:
            return await asyncio.shield(future)
        backend = self.backend
        assert isinstance(backend, SignedBackend)
        future = asyncio.get_running_loop().create_future()
        self._signed[key] = future
        try:
            async with self._slots:
                await self._pace()
                answer = await backend.query_signed(key[0], rdtype)
        except BaseException as exc:  # cancelled: let later askers try again
            del self._signed[key]
            future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            future.exception()
            raise
        future.set_result(answer)
        return answer

    async def _pace(self) -> None:
        """Wait for the rate limit's next slot (nothing without `queries_per_second`)."""
        if self._interval:
            now = time.monotonic()
            self._next_send = max(self._next_send + self._interval, now)
            delay = self._next_send - now
            if delay > 0:
                await asyncio.sleep(delay)

    async def close(self) -> None:
        await self.backend.close()

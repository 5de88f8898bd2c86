"""Walks an SPF record's include/redirect tree and counts lookups as RFC 7208 §4.6.4 does.

Every DNS-querying term (include, a, mx, ptr, exists, redirect) counts once, across the whole tree;
a query answered by NXDOMAIN or no records is a void lookup. The walk is static (no sender address),
so it visits every branch: the worst case a receiver can hit, which is what decides permerror.
Sub-trees are memoised for the run: `include:mailgun.org` is walked once for all domains.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dns.rdatatype

from auditor.collect.dns.answers import DnsAnswer
from auditor.collect.dns.resolver import CachingResolver
from auditor.model.facts import Failure, FailureKind, SpfNode, SpfTreeFacts
from auditor.protocol.spf import SpfRecord, is_spf, parse_spf

_MAX_DEPTH = 12


@dataclass(frozen=True, slots=True)
class _Subtree:
    node: SpfNode
    lookups: int
    void_lookups: int
    includes: tuple[str, ...]
    problems: tuple[str, ...]
    failure: Failure | None


class SpfWalker:
    """Resolves SPF trees through the run's resolver; memoises included sub-trees."""

    def __init__(self, resolver: CachingResolver) -> None:
        self._resolver = resolver
        self._memo: dict[str, asyncio.Future[_Subtree]] = {}

    async def walk(self, domain: str, record: SpfRecord) -> SpfTreeFacts | Failure:
        tree = await self._evaluate(domain, record, (domain,))
        if tree.failure is not None:
            return tree.failure
        return SpfTreeFacts(
            lookups=tree.lookups,
            void_lookups=tree.void_lookups,
            all_includes=tree.includes,
            problems=tree.problems,
            root=tree.node,
        )

    async def _evaluate(self, domain: str, record: SpfRecord, stack: tuple[str, ...]) -> _Subtree:
        lookups = 0
        void = 0
        includes: list[str] = []
        problems = [f"{domain}: {e}" for e in record.errors]
        children: list[SpfNode] = []
        failure: Failure | None = None
        for term in record.lookup_terms:
            lookups += 1
            if term.has_macro or term.name == "ptr":
                continue  # depends on the sender; counted, not resolvable statically
            target = term.target(domain)
            if term.name == "include" or term.modifier:
                via = "redirect=" if term.modifier else "include:"
                includes.append(target)
                sub = await self._included(target, stack, via)
                lookups += sub.lookups
                void += sub.void_lookups
                includes.extend(sub.includes)
                problems.extend(sub.problems)
                children.append(sub.node)
                failure = failure or sub.failure
                continue
            answers = await self._addresses_or_mx(term.name, target)
            broken = next((a for a in answers if not a.definitive), None)
            if broken is not None:
                failure = failure or broken.failure()
            elif all(a.empty for a in answers):
                void += 1
        node = SpfNode(domain, record.text, lookups, void, tuple(children))
        return _Subtree(node, lookups, void, tuple(includes), tuple(problems), failure)

    async def _addresses_or_mx(self, mechanism: str, target: str) -> list[DnsAnswer]:
        if mechanism == "mx":
            return [await self._resolver.resolve(target, dns.rdatatype.MX)]
        if mechanism == "exists":
            return [await self._resolver.resolve(target, dns.rdatatype.A)]
        return await self._resolver.resolve_all([(target, dns.rdatatype.A), (target, dns.rdatatype.AAAA)])

    async def _included(self, target: str, stack: tuple[str, ...], via: str) -> _Subtree:
        if target in stack:
            problem = f"{via}{target} loops back to {' → '.join(stack)} (permerror)"
            node = SpfNode(target, None, 0, 0, problem=problem)
            return _Subtree(node, 0, 0, (), (problem,), None)
        if len(stack) > _MAX_DEPTH:
            problem = f"{via}{target} nested deeper than {_MAX_DEPTH} (permerror)"
            node = SpfNode(target, None, 0, 0, problem=problem)
            return _Subtree(node, 0, 0, (), (problem,), None)
        future = self._memo.get(target)
        if future is None:
            future = asyncio.ensure_future(self._fetch(target, stack, via))
            self._memo[target] = future
        return await asyncio.shield(future)

    async def _fetch(self, target: str, stack: tuple[str, ...], via: str) -> _Subtree:
        answer = await self._resolver.resolve(target, dns.rdatatype.TXT)
        if not answer.definitive:
            failure = answer.failure()
            failure = Failure(failure.reason, f"{via}{target}: {failure.detail}")
            return _Subtree(SpfNode(target, None, 0, 0), 0, 0, (), (), failure)
        records = [t for t in answer.texts() if is_spf(t)]
        if not records:
            problem = f"{via}{target} has no SPF record (permerror)"
            void = 1 if answer.empty or not answer.rdatas else 0
            node = SpfNode(target, None, 0, void, problem=problem)
            return _Subtree(node, 0, void, (), (problem,), None)
        if len(records) > 1:
            problem = f"{via}{target} has {len(records)} SPF records (permerror)"
            node = SpfNode(target, None, 0, 0, problem=problem)
            return _Subtree(node, 0, 0, (), (problem,), None)
        return await self._evaluate(target, parse_spf(records[0]), (*stack, target))


def tree_not_evaluated(count: int) -> Failure:
    """Why there is no tree: the domain has no single SPF record to evaluate."""
    reason = "no SPF record" if count == 0 else f"{count} SPF records (permerror)"
    return Failure(FailureKind.NOT_ATTEMPTED, f"include tree not evaluated: {reason}")

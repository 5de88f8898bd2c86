"""Walks the DNSSEC chain of trust from the trust anchor to a domain's zone, once per zone per run.

Per domain: the SOA of the domain (DO set) gives the zone apex (the SOA's owner, in the answer
or in the authority section of a negative answer) and the RRset that must validate for the
domain's data to be "secure". Per zone, cached for the run: the DNSKEY set, the DS set at the
parent and the parent's own state, so ten thousand domains under `com` validate `com` once.

Per zone the walk asks the SOA of the parent name (to find the cut), then DS at the parent, then
DNSKEY only when there is a DS: an unsigned domain in its own zone costs two queries, a signed
one three, a name inside an already-checked zone one. Nothing is trusted from the resolver (CD
is set, the AD bit is ignored). Lookup failures make the domain's DNSSEC a `Failure` ("could not
verify"), never a status.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rrset

from auditor.collect.dns.answers import AnswerStatus
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.signed import SignedAnswer
from auditor.model.dnssec import DnssecFacts, DnssecStatus, ZoneLink
from auditor.model.facts import Failure, FailureKind
from auditor.protocol.dnssec import (
    TrustAnchors,
    anchor_keys,
    deny_ds,
    keys_matching_ds,
    supported_ds,
    validate_rrset,
)

_SOA = dns.rdatatype.SOA
_DS = dns.rdatatype.DS
_DNSKEY = dns.rdatatype.DNSKEY
_RRSIG = dns.rdatatype.RRSIG
_CNAME = dns.rdatatype.CNAME
_DENIAL_TYPES = (dns.rdatatype.SOA, dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class _ZoneState:
    """A zone's place in the chain: its status, its validated keys (secure only), the chain to it."""

    status: DnssecStatus
    chain: tuple[ZoneLink, ...]
    keys: dns.rrset.RRset | None = None
    reason: str | None = None
    ends_at: str | None = None


class DnssecChecker:
    """One run's DNSSEC validation; zone results are shared by every domain of the run."""

    def __init__(self, resolver: CachingResolver, anchors: TrustAnchors, *, now: float | None = None) -> None:
        self.resolver = resolver
        self.anchors = anchors
        self.now = now
        self._zones: dict[dns.name.Name, asyncio.Future[_ZoneState | Failure]] = {}

    async def check(self, domain: str) -> DnssecFacts | Failure:
        """The domain's DNSSEC status: its zone's chain, then its own SOA (or denial) validated."""
        if not self.resolver.can_sign:
            return Failure(FailureKind.NOT_ATTEMPTED, "zone files carry no signatures to validate")
        name = dns.name.from_text(domain)
        soa = await self.resolver.signed(domain, _SOA)
        if not soa.definitive:
            return soa.failure()
        zone = await self._apex(name, soa, 0)
        if isinstance(zone, Failure):
            return zone
        state = await self._zone(zone, 0)
        if isinstance(state, Failure):
            return state
        facts = DnssecFacts(state.status, _text(zone), state.chain, state.reason, state.ends_at)
        if state.status is not DnssecStatus.SECURE:
            return facts
        assert state.keys is not None
        problem = self._data_problem(name, zone, soa, state.keys)
        if problem is None:
            return facts
        return dataclasses.replace(facts, status=DnssecStatus.BOGUS, reason=f"{domain}: {problem}")

    # ------------------------------------------------------------------ zone cuts

    async def _apex(self, name: dns.name.Name, soa: SignedAnswer, depth: int) -> dns.name.Name | Failure:
        """The apex of the zone holding `name`, from the answer to `name SOA`."""
        if soa.find(name, _SOA) is not None:
            return name
        for rrset in soa.authority:
            if rrset.rdtype == _SOA and name.is_subdomain(rrset.name):
                return rrset.name
        cname_sigs = soa.find(name, _RRSIG, _CNAME)
        if cname_sigs is not None and len(cname_sigs):
            return cname_sigs[0].signer  # type: ignore[attr-defined,no-any-return]
        if name == dns.name.root or depth > _MAX_DEPTH:
            return Failure(FailureKind.MALFORMED, f"no SOA found for the zone of {_text(name)}")
        # An alias without signatures: its zone is the zone of its parent name (no cut at an alias).
        return await self._zone_of(name.parent(), depth + 1)

    async def _zone_of(self, name: dns.name.Name, depth: int) -> dns.name.Name | Failure:
        soa = await self.resolver.signed(_text(name) or ".", _SOA)
        if not soa.definitive:
            return soa.failure()
        return await self._apex(name, soa, depth)

    # ------------------------------------------------------------------ the chain

    async def _zone(self, zone: dns.name.Name, depth: int) -> _ZoneState | Failure:
        future = self._zones.get(zone)
        if future is None:
            future = asyncio.ensure_future(self._walk(zone, depth))
            self._zones[zone] = future
        return await asyncio.shield(future)

    async def _walk(self, zone: dns.name.Name, depth: int) -> _ZoneState | Failure:
        label = _text(zone) or "."
        if self.anchors.anchored(zone):
            return await self._anchored(zone, label)
        if zone == dns.name.root or not self.anchors.covers(zone) or depth > _MAX_DEPTH:
            return Failure(FailureKind.NOT_ATTEMPTED, f"no trust anchor covers {label}")
        # One step after the other, each only when needed: below an unsigned or bogus parent no DS
        # is asked, and DNSKEY only when there is a DS (most zones have none). The parent's state
        # is usually cached already (it is shared by every zone under it), so this costs queries
        # only where they answer something.
        parent_zone = await self._zone_of(zone.parent(), depth + 1)
        if isinstance(parent_zone, Failure):
            return parent_zone
        parent = await self._zone(parent_zone, depth + 1)
        if isinstance(parent, Failure):
            return parent
        if parent.status is not DnssecStatus.SECURE:
            link = ZoneLink(label, parent.status, f"below {parent.ends_at or _text(parent_zone) or '.'}")
            return dataclasses.replace(parent, chain=(*parent.chain, link))
        assert parent.keys is not None
        ds_answer = await self.resolver.signed(label, _DS)
        if not ds_answer.definitive:
            return ds_answer.failure()
        parent_label = _text(parent_zone) or "."
        if ds_answer.status is not AnswerStatus.OK:
            return self._without_ds(zone, label, parent_zone, parent_label, parent, ds_answer)
        ds_rrset = ds_answer.find(zone, _DS)
        assert ds_rrset is not None
        problem = validate_rrset(
            ds_rrset, ds_answer.find(zone, _RRSIG, _DS), parent_zone, parent.keys, self.now
        )
        if problem is not None:
            return _bogus(parent, label, f"the DS set of {label} in {parent_label}: {problem}")
        usable = supported_ds(ds_rrset)  # type: ignore[arg-type]
        if not usable:
            reason = f"the DS records of {label} use no supported algorithm (RFC 4035 §5.2: unsigned)"
            return _insecure(parent, label, reason, parent_label)
        return self._keys(zone, label, await self.resolver.signed(label, _DNSKEY), usable, parent)

    async def _anchored(self, zone: dns.name.Name, label: str) -> _ZoneState | Failure:
        answer = await self.resolver.signed(label, _DNSKEY)
        if not answer.definitive:
            return answer.failure()
        dnskeys = answer.find(zone, _DNSKEY)
        if dnskeys is None:
            return _bogus_root(label, f"no DNSKEY at the trust anchor {label}")
        trusted = anchor_keys(zone, self.anchors, dnskeys)
        if not len(trusted):
            return _bogus_root(label, f"no DNSKEY of {label} matches the trust anchor")
        problem = validate_rrset(dnskeys, answer.find(zone, _RRSIG, _DNSKEY), zone, trusted, self.now)
        if problem is not None:
            return _bogus_root(label, problem)
        return _ZoneState(
            DnssecStatus.SECURE, (ZoneLink(label, DnssecStatus.SECURE, "trust anchor"),), dnskeys
        )

    def _keys(
        self,
        zone: dns.name.Name,
        label: str,
        answer: SignedAnswer,
        ds_records: list,
        parent: _ZoneState,
    ) -> _ZoneState | Failure:
        """The zone's DNSKEY set: one key matching a DS must sign it (RFC 4035 §5.2)."""
        if not answer.definitive:
            return answer.failure()
        dnskeys = answer.find(zone, _DNSKEY)
        if dnskeys is None:
            return _bogus(parent, label, f"{label} has a DS but publishes no DNSKEY")
        trusted = keys_matching_ds(zone, ds_records, dnskeys)
        if not len(trusted):
            tags = ", ".join(str(ds.key_tag) for ds in ds_records)
            return _bogus(parent, label, f"no DNSKEY of {label} matches its DS (key tag {tags})")
        problem = validate_rrset(dnskeys, answer.find(zone, _RRSIG, _DNSKEY), zone, trusted, self.now)
        if problem is not None:
            return _bogus(parent, label, problem)
        tags = ", ".join(str(ds.key_tag) for ds in ds_records)
        link = ZoneLink(label, DnssecStatus.SECURE, f"DS {tags}")
        return _ZoneState(DnssecStatus.SECURE, (*parent.chain, link), dnskeys)

    def _without_ds(
        self,
        zone: dns.name.Name,
        label: str,
        parent_zone: dns.name.Name,
        parent_label: str,
        parent: _ZoneState,
        answer: SignedAnswer,
    ) -> _ZoneState:
        """No DS: insecure only if the parent's signed NSEC/NSEC3 proves it (RFC 4035 §5.2)."""
        assert parent.keys is not None
        denial = deny_ds(zone, answer.authority)
        if denial.problem is not None:
            return _bogus(parent, label, f"no DS for {label}, and no valid proof: {denial.problem}")
        for rrset in denial.rrsets:
            rrsigs = answer.find(rrset.name, _RRSIG, rrset.rdtype, authority=True)
            problem = validate_rrset(rrset, rrsigs, parent_zone, parent.keys, self.now)
            if problem is not None:
                return _bogus(parent, label, f"the proof that {label} has no DS: {problem}")
        reason = f"{parent_label} proves ({denial.how}) that {label} has no DS: the delegation is unsigned"
        return _insecure(parent, label, reason, parent_label)

    # ------------------------------------------------------------------ the domain's data

    def _data_problem(
        self, name: dns.name.Name, zone: dns.name.Name, soa: SignedAnswer, keys: dns.rrset.RRset
    ) -> str | None:
        """Why the domain's own answer does not validate (None: it does).

        The SOA itself at an apex; else every SOA/NSEC/NSEC3 of the negative answer (the zone's
        signed denial), or the signed alias when the name is a CNAME.
        """
        rrset = soa.find(name, _SOA)
        if rrset is None:
            rrset = soa.find(name, _CNAME)
        if rrset is not None:
            return validate_rrset(rrset, soa.find(name, _RRSIG, rrset.rdtype), zone, keys, self.now)
        denial = [r for r in soa.authority if r.rdtype in _DENIAL_TYPES and r.name.is_subdomain(zone)]
        if not any(r.rdtype != _SOA for r in denial):
            return f"the answer for {_text(name)} carries no NSEC/NSEC3 denial"
        for rrset in denial:
            rrsigs = soa.find(rrset.name, _RRSIG, rrset.rdtype, authority=True)
            problem = validate_rrset(rrset, rrsigs, zone, keys, self.now)
            if problem is not None:
                return problem
        return None


def _bogus(parent: _ZoneState, label: str, reason: str) -> _ZoneState:
    return _ZoneState(
        DnssecStatus.BOGUS, (*parent.chain, ZoneLink(label, DnssecStatus.BOGUS, reason)), None, reason
    )


def _bogus_root(label: str, reason: str) -> _ZoneState:
    return _ZoneState(DnssecStatus.BOGUS, (ZoneLink(label, DnssecStatus.BOGUS, reason),), None, reason)


def _insecure(parent: _ZoneState, label: str, reason: str, ends_at: str) -> _ZoneState:
    link = ZoneLink(label, DnssecStatus.INSECURE, reason)
    return _ZoneState(DnssecStatus.INSECURE, (*parent.chain, link), None, reason, ends_at)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()

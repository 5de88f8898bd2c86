"""Derived facts, computed in Python so rule conditions stay one line: the domain's region."""

from __future__ import annotations

from auditor.engine.catalogue import AUTO_REGION, Catalogue, ProviderRegion, dkim_kind
from auditor.engine.patterns import matches_any, subset_matches
from auditor.model.account import AccountFacts
from auditor.model.facts import DkimFacts, DomainFacts, MxFacts, ReturnPathFacts, SpfFacts, TrackingFacts
from auditor.model.inventory import DomainTarget
from auditor.model.report import RegionView

CONFLICT = "conflict"


def derive_region(target: DomainTarget, facts: DomainFacts, catalogue: Catalogue) -> RegionView:
    """Which region DNS reveals and which one to check against.

    The catalogue lists, per provider, which records are region tells (`region_tells`, strongest
    first): Mailgun's MX hosts and tracking CNAME target, SES's custom MAIL FROM MX, Zoho's MX and
    SPF include, ... A kind of record votes for a region only when it matches exactly that one
    region: Mailgun's SPF include, the same in both regions, is never a tell (provider-facts §1.3).
    When the votes disagree the declared region wins, else the strongest tell; with no vote and
    nothing declared, the provider's default region (its only one, for single-region providers).

    The provider's account, when asked, is the strongest tell: the regional API that knows the
    domain is where it lives, so it decides the effective region even when DNS points elsewhere.
    """
    views = catalogue.provider_regions(target.provider)
    spec = catalogue.providers.get(target.provider)
    kinds = tuple(spec.region_tells) if spec is not None else ()
    found = {kind: [(v.region, t) for v in views if (t := _tell(kind, v, target, facts))] for kind in kinds}
    votes = {kind: hits[0][0] for kind, hits in found.items() if len(hits) == 1}
    # Evidence in region order, then kind order, as it reads best ("MX … → eu; CNAME … → us").
    tells = tuple(
        text for v in views for kind in kinds if kind in votes for r, text in found[kind] if r == v.region
    )
    account = facts.account
    account_vote = None
    if isinstance(account, AccountFacts) and account.found and account.region_found:
        account_vote = account.region_found
        tells = (*tells, f"{account.provider} {account_vote} API knows the domain → {account_vote}")
    regions = set(votes.values()) | ({account_vote} if account_vote else set())
    detected = None
    if len(regions) == 1:
        detected = regions.pop()
    elif len(regions) > 1:
        detected = CONFLICT
    declared = str(target.region)
    if account_vote is not None:
        effective = account_vote
    elif detected not in (None, CONFLICT):
        effective = detected
    elif declared != AUTO_REGION:
        effective = declared
    else:
        effective = next((votes[k] for k in kinds if k in votes), None)
        if effective is None and detected is None:
            effective = catalogue.default_region(target.provider)
    return RegionView(declared=declared, detected=detected, effective=effective, tells=tells)


def _tell(kind: str, view: ProviderRegion, target: DomainTarget, facts: DomainFacts) -> str | None:
    """The evidence text when the `kind` of record matches this region, else None."""
    region = view.region
    if kind == "mx":
        mx = facts.mx
        patterns = [entry.host for mx_set in view.mx_sets for entry in mx_set]
        if isinstance(mx, MxFacts) and subset_matches(mx.names, patterns, target.name):
            return f"MX {', '.join(sorted(mx.names))} → {region}"
    elif kind == "tracking":
        tracking = facts.tracking
        if isinstance(tracking, TrackingFacts) and tracking.cname and tracking.cname in view.tracking_targets:
            return f"CNAME {tracking.name} → {tracking.cname} → {region}"
    elif kind == "return_path":
        rp = facts.return_path
        if isinstance(rp, ReturnPathFacts) and rp.name:
            if rp.cname and matches_any(rp.cname, view.return_path_targets, target.name):
                return f"CNAME {rp.name} → {rp.cname} → {region}"
            if subset_matches(rp.mx_hosts, [e.host for e in view.return_path_mx], target.name):
                return f"MX {rp.name} {', '.join(rp.mx_hosts)} → {region}"
    elif kind == "dkim":
        dkim = facts.dkim
        if isinstance(dkim, DkimFacts):
            for key in dkim.selectors:
                expected = dkim_kind(view.dkim_kinds, key.selector)
                first = key.cnames[0] if key.cnames else None
                if expected.type == "CNAME" and matches_any(
                    first, expected.targets, target.name, key.selector
                ):
                    return f"CNAME {key.name} → {first} → {region}"
    elif kind == "spf":
        spf = facts.spf
        if isinstance(spf, SpfFacts):
            hit = next((i for i in spf.includes if i in view.spf_includes), None)
            if hit is not None:
                return f"SPF include:{hit} → {region}"
    return None

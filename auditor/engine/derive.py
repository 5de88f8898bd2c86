"""Derived facts, computed in Python so rule conditions stay one line: the domain's region."""

from __future__ import annotations

from auditor.engine.catalogue import Catalogue
from auditor.model.facts import DomainFacts, MxFacts, TrackingFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.model.report import RegionView

CONFLICT = "conflict"


def derive_region(target: DomainTarget, facts: DomainFacts, catalogue: Catalogue) -> RegionView:
    """Which region DNS reveals (MX hosts, tracking CNAME target) and which one to check against.

    The SPF include is deliberately not a tell: Mailgun documents `include:mailgun.org` for both
    regions (provider-facts §1.3). When the tells disagree the declared region wins, else the MX.
    """
    tells: list[str] = []
    mx_vote = tracking_vote = None
    for spec in catalogue.provider_regions(target.provider):
        region = spec.region
        if isinstance(facts.mx, MxFacts) and facts.mx.hosts:
            names = set(facts.mx.names)
            if names <= set(spec.mx_hosts):
                mx_vote = region
                tells.append(f"MX {', '.join(sorted(names))} → {region}")
        tracking = facts.tracking
        if isinstance(tracking, TrackingFacts) and tracking.cname == spec.tracking_target:
            tracking_vote = region
            tells.append(f"CNAME {tracking.name} → {tracking.cname} → {region}")
    votes = {v for v in (mx_vote, tracking_vote) if v is not None}
    detected = None
    if len(votes) == 1:
        detected = votes.pop()
    elif len(votes) > 1:
        detected = CONFLICT
    declared = target.region.value
    if detected not in (None, CONFLICT):
        effective = detected
    elif declared != Region.AUTO:
        effective = declared
    else:
        effective = mx_vote
    return RegionView(declared=declared, detected=detected, effective=effective, tells=tuple(tells))

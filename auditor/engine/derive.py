"""Derived facts, computed in Python so rule conditions stay one line: the domain's region."""

from __future__ import annotations

from auditor.engine.catalogue import Catalogue
from auditor.model.account import AccountFacts
from auditor.model.facts import DomainFacts, MxFacts, TrackingFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.model.report import RegionView

CONFLICT = "conflict"


def derive_region(target: DomainTarget, facts: DomainFacts, catalogue: Catalogue) -> RegionView:
    """Which region DNS (and the account) reveals, and which one to check against.

    The SPF include is deliberately not a tell: Mailgun documents `include:mailgun.org` for both
    regions (provider-facts §1.3). The provider's account, when asked, is the strongest tell: the
    regional API that knows the domain is where it lives, so it decides the effective region even
    when DNS points elsewhere. Otherwise, when the tells disagree the declared region wins, else
    the MX.
    """
    tells: list[str] = []
    mx_vote = tracking_vote = account_vote = None
    account = facts.account
    if isinstance(account, AccountFacts) and account.found and account.region_found:
        account_vote = account.region_found
        tells.append(f"{account.provider} {account_vote} API knows the domain → {account_vote}")
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
    votes = {v for v in (mx_vote, tracking_vote, account_vote) if v is not None}
    detected = None
    if len(votes) == 1:
        detected = votes.pop()
    elif len(votes) > 1:
        detected = CONFLICT
    declared = target.region.value
    if account_vote is not None:
        effective = account_vote
    elif detected not in (None, CONFLICT):
        effective = detected
    elif declared != Region.AUTO:
        effective = declared
    else:
        effective = mx_vote
    return RegionView(declared=declared, detected=detected, effective=effective, tells=tuple(tells))

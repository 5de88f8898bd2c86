"""Chooses where to probe: the provider's submission host for the domain's region.

Pure: no I/O. A host the inventory names explicitly is used as given (private relays, tests),
except when it is the provider's host for another region: credentials are region-bound at Mailgun
(provider-facts §1.1), so logging in there can only fail with 535. The plan then uses the right
region's host and says so, and a rule reports the mismatch.
"""

from __future__ import annotations

from auditor.engine.catalogue import Catalogue
from auditor.model.facts import Failure, FailureKind
from auditor.model.inventory import DomainTarget
from auditor.model.report import RegionView
from auditor.model.smtp import SmtpPlan

DEFAULT_PORT = 587


def plan_probe(target: DomainTarget, region: RegionView, catalogue: Catalogue) -> SmtpPlan | Failure:
    assert target.smtp is not None
    hosts = {spec.region: spec.smtp_host.lower() for spec in catalogue.provider_regions(target.provider)}
    region_host = hosts.get(region.effective) if region.effective else None
    configured = target.smtp.host.lower().rstrip(".") if target.smtp.host else None
    corrected = False
    if configured is None:
        if region_host is None:
            return Failure(
                FailureKind.NOT_ATTEMPTED,
                "the region is unknown, so the submission host is too; declare the region",
            )
        host = region_host
    elif configured in hosts.values() and region_host is not None and configured != region_host:
        host, corrected = region_host, True
    else:
        host = configured
    # A corrected host is the provider's own: verify its certificate against its own name.
    server_hostname = host if corrected else (target.smtp.tls_name or host)
    port = target.smtp.port or DEFAULT_PORT
    return SmtpPlan(target.smtp.host, host, port, server_hostname, region.effective, corrected)

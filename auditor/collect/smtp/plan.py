"""Chooses where to probe: the provider's submission host for the domain's region.

Pure: no I/O. The hosts and ports come from the provider catalogue (`smtp.hosts`, per region):
without a host in the inventory the probe uses the region's first host on its first port (587 at
most providers). A host the inventory names explicitly is used as given (private relays, tests),
except when it is the provider's host for another region: credentials are region-bound at
Mailgun, SES and SparkPost (provider-facts §1.1, §2.1, §5), so logging in there can only fail with
535. The plan then uses the right region's host and says so, and a rule reports the mismatch.
"""

from __future__ import annotations

from auditor.engine.catalogue import Catalogue, ProviderRegion
from auditor.model.facts import Failure, FailureKind
from auditor.model.inventory import DomainTarget
from auditor.model.report import RegionView
from auditor.model.smtp import SmtpPlan

DEFAULT_PORT = 587
"""Used only when the provider is not in the catalogue (the submission port of RFC 6409)."""


def plan_probe(target: DomainTarget, region: RegionView, catalogue: Catalogue) -> SmtpPlan | Failure:
    assert target.smtp is not None
    views = {view.region: view for view in catalogue.provider_regions(target.provider)}
    view = views.get(region.effective) if region.effective else None
    configured = target.smtp.host.lower().rstrip(".") if target.smtp.host else None
    corrected = False
    if configured is None:
        if view is None:
            return Failure(
                FailureKind.NOT_ATTEMPTED,
                "the region is unknown, so the submission host is too; declare the region",
            )
        host = view.smtp_host
    elif view is not None and configured not in view.smtp_hosts and _elsewhere(configured, views):
        # Another region's host: take this region's host in the same position (relay for relay).
        index = next(v.smtp_hosts.index(configured) for v in views.values() if configured in v.smtp_hosts)
        host, corrected = view.smtp_hosts[min(index, len(view.smtp_hosts) - 1)], True
    else:
        host = configured
    # A corrected host is the provider's own: verify its certificate against its own name.
    server_hostname = host if corrected else (target.smtp.tls_name or host)
    port = target.smtp.port or (view.smtp_port if view is not None else DEFAULT_PORT)
    return SmtpPlan(target.smtp.host, host, port, server_hostname, region.effective, corrected)


def _elsewhere(host: str, views: dict[str, ProviderRegion]) -> bool:
    """Whether `host` is the provider's submission host in some region."""
    return any(host in v.smtp_hosts for v in views.values())

"""End to end: `examples/providers.yaml`, one correct and one broken domain per catalogue provider.

The audit runs through the CLI against the loopback DNS server (and, for comparison, straight from
the zone files). Each correct domain must be ready; each broken one must be not ready with exactly
the planted problems, and its remediation must name the provider's own record to publish.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import dns.rdatatype
import pytest

from auditor.audit import run_audit
from auditor.collect.dns.answers import DnsAnswer
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.rules import load_rules
from auditor.inventory.loader import builtin_catalogue, load_inventory
from auditor.resources import rules_dir
from tests.conftest import EXAMPLES
from tests.e2e.test_audit_dns import audit_json, findings_of, problems_of
from tests.servers.dns_server import LoopbackDnsServer

INVENTORY = EXAMPLES / "providers.yaml"

# provider → (correct domain, broken domain, problems of the broken one (failed or unknown rules))
EXAMPLES_BY_PROVIDER: dict[str, tuple[str, str, set[str]]] = {
    "mailgun": ("mg.acme-shop.example", "mg.bluebird-books.example", {"SPF003", "SPF008"}),
    "amazon-ses": ("lumen-books.example", "orbit-games.example", {"RP002"}),
    "sendgrid": ("pine-outfitters.example", "quartz-media.example", {"DKIM002", "DKIM009"}),
    "postmark": ("harbor-lights.example", "cobalt-tools.example", {"RP001"}),
    "sparkpost": ("fern-analytics.example", "ember-labs.example", {"REG001"}),
    "brevo": ("maple-crafts.example", "willow-yoga.example", {"OWN001"}),
    # A revoked key leaves Mailjet's mail nothing that aligns (its return path is its own): DMARC010.
    "mailjet": ("tidal-events.example", "nimbus-travel.example", {"DKIM004", "DMARC010"}),
    "resend": ("sparrow-app.example", "atlas-notes.example", {"RP002"}),
    "mandrill": ("copper-kettle.example", "velvet-shoes.example", {"DKIM009"}),
    "google-workspace": ("birch-accounting.example", "aspen-law.example", {"MX001"}),
    "microsoft-365": ("contoso-shop.example", "fabrikam-legal.example", {"SPF003", "SPF008"}),
    "zoho": ("alpine-bikes.example", "glacier-tours.example", {"SPF003", "REG002"}),
}

# broken domain → (rule, type, name, value): the record its remediation must name.
EXPECTED_RECORDS: dict[str, tuple[str, str, str, str]] = {
    "mg.bluebird-books.example": (
        "SPF003",
        "TXT",
        "mg.bluebird-books.example",
        "v=spf1 include:spf.crm-vendor.example include:mailgun.org ~all",
    ),
    "orbit-games.example": (
        "RP002",
        "MX",
        "bounce.orbit-games.example",
        "feedback-smtp.eu-west-1.amazonses.com",
    ),
    "quartz-media.example": (
        "DKIM009",
        "CNAME",
        "s1._domainkey.quartz-media.example",
        "s1.domainkey.u<userid>.wl<nnn>.sendgrid.net",
    ),
    "cobalt-tools.example": ("RP001", "CNAME", "pm-bounces.cobalt-tools.example", "pm.mtasv.net"),
    "willow-yoga.example": ("OWN001", "TXT", "willow-yoga.example", "brevo-code:<code shown by Brevo>"),
    "nimbus-travel.example": (
        "DKIM004",
        "TXT",
        "mailjet._domainkey.nimbus-travel.example",
        "k=rsa; p=<the public key shown in your provider's DNS settings for this selector>",
    ),
    "atlas-notes.example": (
        "RP002",
        "MX",
        "send.atlas-notes.example",
        "feedback-smtp.us-east-1.amazonses.com",
    ),
    "velvet-shoes.example": (
        "DKIM009",
        "CNAME",
        "mte2._domainkey.velvet-shoes.example",
        "dkim2.mandrillapp.com",
    ),
    "aspen-law.example": ("MX001", "MX", "aspen-law.example", "smtp.google.com"),
    "fabrikam-legal.example": (
        "SPF003",
        "TXT",
        "fabrikam-legal.example",
        "v=spf1 include:_spf.google.com include:spf.protection.outlook.com -all",
    ),
    "glacier-tours.example": (
        "SPF003",
        "TXT",
        "glacier-tours.example",
        "v=spf1 include:zoho.com include:zoho.eu ~all",
    ),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The providers example audited once through a real DNS server on loopback."""
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        code, document = audit_json(
            tmp_path_factory.mktemp("providers"), str(INVENTORY), "--nameserver", server.address
        )
    assert code == 1
    return document


def test_every_catalogue_provider_has_a_correct_and_a_broken_example() -> None:
    """The example covers the whole catalogue, each domain declared with its provider."""
    targets = {t.name: t.provider for t in load_inventory(INVENTORY)}
    assert set(EXAMPLES_BY_PROVIDER) == set(builtin_catalogue().providers)
    for provider, (good, bad, _) in EXAMPLES_BY_PROVIDER.items():
        assert targets[good] == provider and targets[bad] == provider
    assert len(targets) == 2 * len(EXAMPLES_BY_PROVIDER)


def test_correct_domains_are_ready_and_broken_ones_have_exactly_their_mistakes(
    report: dict[str, Any],
) -> None:
    by_domain = {d["domain"]: d for d in report["domains"]}
    problems = problems_of(report)
    for good, bad, planted in EXAMPLES_BY_PROVIDER.values():
        assert by_domain[good]["readiness"] == "ready", (good, problems[good])
        assert problems[good] == set(), good
        assert by_domain[bad]["readiness"] == "not_ready", bad
        assert problems[bad] == planted, bad


@pytest.mark.parametrize("domain", sorted(EXPECTED_RECORDS))
def test_remediation_names_the_providers_record(report: dict[str, Any], domain: str) -> None:
    rule_id, rtype, name, value = EXPECTED_RECORDS[domain]
    document = next(d for d in report["domains"] if d["domain"] == domain)
    finding = next(f for f in document["findings"] if f["rule_id"] == rule_id and f["status"] == "fail")
    records = {(r["type"], r["name"], r["value"]) for r in finding["remediation"]["records"]}
    assert (rtype, name, value) in records, records


def test_region_comes_from_dns_where_the_provider_shows_it(report: dict[str, Any]) -> None:
    """Region auto: SES and Resend from the MAIL FROM MX; SparkPost's bounce CNAME overrides."""
    regions = {d["domain"]: d["region"] for d in report["domains"]}
    assert regions["lumen-books.example"]["effective"] == "eu-west-1"
    assert regions["sparrow-app.example"]["effective"] == "eu-west-1"
    assert regions["ember-labs.example"]["detected"] == "us"
    assert regions["glacier-tours.example"]["detected"] == "conflict"
    assert regions["birch-accounting.example"]["effective"] == "global"


def test_zone_dir_gives_the_same_findings_as_the_dns_server(report: dict[str, Any], tmp_path: Path) -> None:
    _, from_zones = audit_json(tmp_path, str(INVENTORY), "--zone-dir", str(EXAMPLES / "zones"))
    assert findings_of(from_zones) == findings_of(report)


class _BrokenFor(ZoneBackend):
    """Zone answers, except that one name makes the backend itself fail (a bug, not a DNS error)."""

    broken_name = "orbit-games.example"

    async def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        if name == self.broken_name:
            raise RuntimeError("backend bug")
        return await super().query(name, rdtype)


def test_a_domain_that_cannot_be_audited_does_not_stop_the_batch() -> None:
    """A crash while collecting one SES domain (region eu-west-1) gives that domain an error report."""
    backend = _BrokenFor.from_directory(EXAMPLES / "zones")
    targets = load_inventory(INVENTORY)
    report = asyncio.run(
        run_audit(targets, backend=backend, rules=load_rules([rules_dir()]), catalogue=builtin_catalogue())
    )
    by_domain = {d.domain: d for d in report.domains}
    broken = by_domain["orbit-games.example"]
    assert (broken.error, broken.region.declared, broken.readiness.value) == (
        "RuntimeError",
        "eu-west-1",
        "could_not_verify",
    )
    assert by_domain["lumen-books.example"].ready
    assert len(report.domains) == len(targets)

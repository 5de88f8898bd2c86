"""The provider catalogue (v2): loading, its JSON Schema, patterns, rule helpers, region tells,
the SMTP plan and inventory validation, all driven by the built-in catalogue data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from auditor.collect.smtp.plan import plan_probe
from auditor.collect.smtp.probe import IMPLICIT_TLS_PORTS
from auditor.engine import patterns
from auditor.engine.catalogue import CatalogueFile, common_attributes, load_catalogue
from auditor.engine.derive import derive_region
from auditor.engine.provider_helpers import (
    dkim_delegated,
    dkim_expected,
    mx_expected,
    mx_matches,
    return_path_ok,
)
from auditor.errors import InputError, RuleFileError
from auditor.inventory.loader import builtin_catalogue, load_inventory, targets_from_names
from auditor.model.facts import DkimKeyFacts, Failure, ReturnPathFacts
from auditor.model.inventory import DomainTarget, SecretRef, SmtpSettings
from auditor.model.report import RegionView
from tests.conftest import REPO
from tests.rules.factories import build_facts, build_target

CATALOGUE_FILE = REPO / "rules" / "providers" / "catalogue.yaml"
SCHEMA_FILE = REPO / "rules" / "schema" / "providers.schema.json"
REGENERATE = (
    'python -c "import json; from auditor.engine.catalogue import CatalogueFile; '
    'print(json.dumps(CatalogueFile.model_json_schema(by_alias=True), indent=2, sort_keys=True))" '
    "> rules/schema/providers.schema.json"
)
CATALOGUE = builtin_catalogue()

PROVIDERS = (
    "mailgun",
    "amazon-ses",
    "sendgrid",
    "postmark",
    "sparkpost",
    "brevo",
    "mailjet",
    "resend",
    "mandrill",
    "google-workspace",
    "microsoft-365",
    "zoho",
)


# --- the file and its schema -------------------------------------------------------------------


def test_committed_provider_schema_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == CatalogueFile.model_json_schema(by_alias=True), (
        f"{SCHEMA_FILE.relative_to(REPO)} is out of date; regenerate it with:\n  {REGENERATE}"
    )


def test_built_in_catalogue_validates_against_the_committed_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8")), schema)


def test_the_twelve_providers_and_their_regions() -> None:
    assert tuple(CATALOGUE.providers) == PROVIDERS
    assert CATALOGUE.regions("mailgun") == ("us", "eu")
    assert CATALOGUE.regions("sparkpost") == ("us", "eu")
    assert CATALOGUE.regions("zoho") == ("us", "eu", "in", "au", "jp")
    assert {"us-east-1", "eu-west-1", "eu-south-1", "us-gov-west-1"} <= set(CATALOGUE.regions("amazon-ses"))
    assert CATALOGUE.default_region("sendgrid") == "global"
    assert CATALOGUE.default_region("mailgun") is None


def test_region_values_are_substituted_and_no_load_time_hole_is_left() -> None:
    zoho_au = CATALOGUE.region("zoho", "au")
    assert zoho_au is not None
    assert zoho_au.smtp_hosts == ("smtppro.zoho.com.au", "smtp.zoho.com.au")
    assert zoho_au.spf_includes == ("zoho.com.au", "zohomail.com.au", "spf.zoho.com.au")
    assert zoho_au.mx_hosts == ("mx.zoho.com.au", "mx2.zoho.com.au", "mx3.zoho.com.au")
    ses = CATALOGUE.region("amazon-ses", "ap-southeast-2")
    assert ses is not None and ses.smtp_host == "email-smtp.ap-southeast-2.amazonaws.com"
    assert ses.return_path_mx[0].host == "feedback-smtp.ap-southeast-2.amazonses.com"
    for provider in PROVIDERS:
        for view in CATALOGUE.provider_regions(provider):
            text = json.dumps([view.smtp_hosts, view.spf_includes, view.mx_hosts, view.dashboard])
            assert "{region}" not in text and "{dc}" not in text, (provider, view.region)


def test_mailgun_views_keep_the_v1_values() -> None:
    us, eu = CATALOGUE.region("mailgun", "us"), CATALOGUE.region("mailgun", "eu")
    assert us is not None and eu is not None
    assert (us.smtp_host, us.api_base, us.mx_hosts, us.mx_preference, us.tracking_target) == (
        "smtp.mailgun.org",
        "https://api.mailgun.net",
        ("mxa.mailgun.org", "mxb.mailgun.org"),
        10,
        "mailgun.org",
    )
    assert (eu.smtp_host, eu.spf_includes, eu.tracking_target) == (
        "smtp.eu.mailgun.org",
        ("mailgun.org", "eu.mailgun.org"),
        "eu.mailgun.org",
    )
    assert us.smtp_ports_text == "587 (STARTTLS), 2525 (STARTTLS) or 465 (TLS)"


def test_region_independent_values_and_the_spf_union() -> None:
    common = common_attributes(CATALOGUE.provider_regions("mailgun"))
    assert common["spf_include"] == "mailgun.org"
    assert common["spf_includes"] == ("mailgun.org", "eu.mailgun.org")
    assert "mx_hosts" not in common and "tracking_target" not in common and "region" not in common


CATALOGUE_ERRORS = {
    "unknown key": (
        "    title: Mailgun\n",
        "    title: Mailgun\n    colour: blue\n",
        "providers.mailgun.colour: unknown key",
    ),
    "unknown placeholder": (
        '"email-smtp.{region}.amazonaws.com"',
        '"email-smtp.{regoin}.amazonaws.com"',
        "providers.amazon-ses: unknown placeholder {regoin}",
    ),
    "bad default region": ("default_region: global", "default_region: world", "default_region 'world'"),
}


@pytest.mark.parametrize("name", sorted(CATALOGUE_ERRORS))
def test_a_broken_catalogue_names_file_line_and_field(tmp_path: Path, name: str) -> None:
    old, new, expected = CATALOGUE_ERRORS[name]
    text = CATALOGUE_FILE.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "catalogue.yaml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_catalogue(broken)
    message = str(caught.value)
    assert message.startswith(f"{broken}:"), message
    assert expected in message, message
    assert caught.value.line is not None


# --- patterns and rule helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pattern", "domain", "selector", "expected"),
    [
        # Microsoft 365: the tenant is account-specific, the domain part is exact.
        (
            "selector1-contoso-com._domainkey.contoso.onmicrosoft.com",
            "{selector}-{domain_dashed}._domainkey.<tenant>.onmicrosoft.com",
            "contoso.com",
            "selector1",
            True,
        ),
        (
            "selector1-fabrikam-com._domainkey.contoso.onmicrosoft.com",
            "{selector}-{domain_dashed}._domainkey.<tenant>.onmicrosoft.com",
            "contoso.com",
            "selector1",
            False,
        ),
        # SendGrid: older targets have no number after wl; the hole may be empty.
        (
            "s1.domainkey.u123.wl.sendgrid.net.",
            "{selector}.domainkey.u<id>.wl<n>.sendgrid.net",
            "",
            "s1",
            True,
        ),
        (
            "s1.domainkey.u123.wl.sendgrid.net.x.example",
            "{selector}.domainkey.u<id>.wl<n>.sendgrid.net",
            "",
            "s1",
            False,
        ),
        # A hole stays inside one label.
        ("b1.a.b.dkim.brevo.com", "b1.<x>.dkim.brevo.com", "", "", False),
        ("B1.SHOP-EXAMPLE.DKIM.BREVO.COM", "b1.{domain_dashed}.dkim.brevo.com", "shop.example", "", True),
    ],
)
def test_pattern_matching(name: str, pattern: str, domain: str, selector: str, expected: bool) -> None:
    assert patterns.matches(name, pattern, domain, selector) is expected


def test_rendering_keeps_account_holes_for_the_reader() -> None:
    rendered = patterns.render(
        "{selector}-{domain_dashed}._domainkey.<tenant>.onmicrosoft.com", "a.b.example", "selector2"
    )
    assert rendered == "selector2-a-b-example._domainkey.<tenant>.onmicrosoft.com"
    assert patterns.has_account_part(rendered)


def test_mx_sets_are_alternatives_and_never_mixed() -> None:
    google = CATALOGUE.region("google-workspace", "global")
    assert google is not None
    assert mx_matches(["smtp.google.com"], google.mx_sets, "x.example")
    legacy = ["aspmx.l.google.com", *(f"alt{i}.aspmx.l.google.com" for i in range(1, 5))]
    assert mx_matches(legacy, google.mx_sets, "x.example")
    assert not mx_matches(["smtp.google.com", "aspmx.l.google.com"], google.mx_sets, "x.example")
    microsoft = CATALOGUE.region("microsoft-365", "global")
    assert microsoft is not None
    assert (
        mx_expected(microsoft.mx_sets, "contoso.example")[0].host
        == "contoso-example.mail.protection.outlook.com"
    )


def test_dkim_expectations_by_selector() -> None:
    mailgun = CATALOGUE.region("mailgun", "us")
    assert mailgun is not None
    assert [e.type for e in dkim_expected(mailgun, "pdk1", "mg.example.com")] == ["CNAME"]
    assert dkim_expected(mailgun, "k1", "mg.example.com", "CNAME") == []
    sendgrid = CATALOGUE.region("sendgrid", "global")
    assert sendgrid is not None
    assert [e.type for e in dkim_expected(sendgrid, "m1", "example.com")] == ["TXT"]
    assert (
        dkim_expected(sendgrid, "s2", "example.com")[0].target
        == "s2.domainkey.u<userid>.wl<nnn>.sendgrid.net"
    )


def _key(selector: str, cnames: tuple[str, ...] = (), found: bool = True) -> DkimKeyFacts:
    return DkimKeyFacts(selector, f"{selector}._domainkey.example.com", "inventory", found, cnames=cnames)


def test_dkim_delegation() -> None:
    ses = CATALOGUE.region("amazon-ses", "eu-south-1")
    mandrill = CATALOGUE.region("mandrill", "global")
    assert ses is not None and mandrill is not None
    assert dkim_delegated(_key("tok", ("tok.dkim.eu-south-1.amazonses.com",)), ses, "example.com")
    assert dkim_delegated(_key("tok"), ses, "example.com")  # BYODKIM: a TXT key is allowed
    assert not dkim_delegated(_key("tok", ("tok.dkim.amazonses.com.example.com",)), ses, "example.com")
    assert not dkim_delegated(_key("mte1"), mandrill, "example.com")  # TXT pasted instead of the CNAME
    assert dkim_delegated(_key("other"), mandrill, "example.com")  # not a delegated selector


def test_return_path_forms() -> None:
    sendgrid = CATALOGUE.region("sendgrid", "global")
    assert sendgrid is not None
    cname = ReturnPathFacts("em1.example.com", "inventory", "u9.wl9.sendgrid.net", True)
    mx_form = ReturnPathFacts(
        "em1.example.com",
        "inventory",
        None,
        True,
        ("mx.sendgrid.net",),
        ("v=spf1 include:sendgrid.net -all",),
        ("sendgrid.net",),
    )
    no_spf = ReturnPathFacts("em1.example.com", "inventory", None, True, ("mx.sendgrid.net",))
    assert return_path_ok(cname, sendgrid, "example.com")
    assert return_path_ok(mx_form, sendgrid, "example.com")
    assert not return_path_ok(no_spf, sendgrid, "example.com")
    assert not return_path_ok(ReturnPathFacts(None, "none"), sendgrid, "example.com")


# --- region tells ------------------------------------------------------------------------------


def _region(target: dict[str, object], facts: dict[str, object]) -> RegionView:
    built = build_target(target)
    return derive_region(built, build_facts(facts, built), CATALOGUE)


def test_ses_region_from_the_mail_from_mx_not_from_the_plain_dkim_target() -> None:
    view = _region(
        {
            "name": "example.com",
            "provider": "amazon-ses",
            "return_path_host": "mail",
            "dkim_selectors": ["t"],
        },
        {
            "return_path": {"mx_hosts": ["feedback-smtp.ca-central-1.amazonses.com"]},
            "dkim": {"cname": "t.dkim.amazonses.com"},
        },
    )
    assert (view.detected, view.effective) == ("ca-central-1", "ca-central-1")
    assert view.tells == ("MX mail.example.com feedback-smtp.ca-central-1.amazonses.com → ca-central-1",)


def test_ses_opt_in_region_dkim_target_is_a_tell() -> None:
    view = _region(
        {"name": "example.com", "provider": "amazon-ses", "dkim_selectors": ["t"]},
        {"dkim": {"cname": "t.dkim.eu-south-1.amazonses.com"}},
    )
    assert view.detected == "eu-south-1"


def test_zoho_mx_and_spf_disagree() -> None:
    view = _region(
        {"name": "example.com", "provider": "zoho", "region": "eu"},
        {
            "mx": {"hosts": ["mx.zoho.eu", "mx2.zoho.eu", "mx3.zoho.eu"]},
            "txt": {"records": ["v=spf1 include:zoho.com ~all"]},
        },
    )
    assert (view.detected, view.effective) == ("conflict", "eu")


def test_single_region_provider_uses_its_region_and_mailgun_stays_undetermined() -> None:
    assert _region({"name": "example.com", "provider": "brevo"}, {}).effective == "global"
    view = _region(
        {"region": "auto"}, {"mx": {"hosts": ["inbound.example.net"]}, "tracking": {"cname": None}}
    )
    assert view.effective is None


# --- SMTP plan ---------------------------------------------------------------------------------


def _smtp_target(
    provider: str, region: str, host: str | None = None, port: int | None = None
) -> DomainTarget:
    smtp = SmtpSettings("user", SecretRef("env", "PASS"), host=host, port=port)
    return DomainTarget("example.com", provider=provider, region=region, smtp=smtp)


@pytest.mark.parametrize(
    ("provider", "region", "host", "port"),
    [
        ("mailgun", "eu", "smtp.eu.mailgun.org", 587),
        ("amazon-ses", "eu-west-1", "email-smtp.eu-west-1.amazonaws.com", 587),
        ("zoho", "jp", "smtppro.zoho.jp", 587),
        ("postmark", "global", "smtp.postmarkapp.com", 587),
        ("sparkpost", "eu", "smtp.eu.sparkpostmail.com", 587),
    ],
)
def test_plan_takes_the_host_and_port_from_the_catalogue(
    provider: str, region: str, host: str, port: int
) -> None:
    plan = plan_probe(_smtp_target(provider, region), RegionView(region, None, region), CATALOGUE)
    assert not isinstance(plan, Failure)
    assert (plan.host, plan.port, plan.corrected) == (host, port, False)


def test_plan_corrects_another_regions_host() -> None:
    target = _smtp_target("amazon-ses", "eu-west-1", host="email-smtp.us-east-1.amazonaws.com", port=465)
    plan = plan_probe(target, RegionView("eu-west-1", "eu-west-1", "eu-west-1"), CATALOGUE)
    assert not isinstance(plan, Failure)
    assert (plan.host, plan.port, plan.corrected) == ("email-smtp.eu-west-1.amazonaws.com", 465, True)
    relay = _smtp_target("google-workspace", "global", host="smtp-relay.gmail.com")
    plan = plan_probe(relay, RegionView("auto", None, "global"), CATALOGUE)
    assert not isinstance(plan, Failure)
    assert (plan.host, plan.corrected) == ("smtp-relay.gmail.com", False)


# --- inventory ---------------------------------------------------------------------------------


def test_inventory_applies_provider_defaults_and_places_hosts_under_the_domain(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "domains:\n"
        "  - {name: a.example.com, provider: sendgrid, return_path_host: em123}\n"
        "  - {name: b.example.com, provider: google-workspace}\n"
        "  - {name: c.example.com, provider: sparkpost, region: eu, tracking: true,"
        " tracking_host: click.c.example.com}\n"
        "  - {name: d.example.com}\n",
        encoding="utf-8",
    )
    a, b, c, d = load_inventory(inventory)
    assert (a.receiving, a.tracking, a.return_path_host) == (False, False, "em123.a.example.com")
    assert (b.receiving, b.tracking) == (True, False)
    assert (c.region, c.tracking, c.tracking_host) == ("eu", True, "click.c.example.com")
    assert (d.provider, d.receiving, d.tracking) == ("mailgun", True, True)


def test_command_line_names_are_checked_against_the_catalogue() -> None:
    (target,) = targets_from_names(["x.example.com"], provider="resend", region="sa-east-1")
    assert (target.provider, target.region, target.receiving) == ("resend", "sa-east-1", False)
    with pytest.raises(InputError, match="--region: 'mars' is not a region of Resend"):
        targets_from_names(["x.example.com"], provider="resend", region="mars")


def test_the_probe_uses_the_tls_mode_the_catalogue_documents_for_every_port() -> None:
    """The probe picks TLS from the port (465/2465 implicit, others STARTTLS); the catalogue agrees."""
    for provider, spec in CATALOGUE.providers.items():
        hosts = [*spec.smtp.hosts, *(h for r in spec.regions.values() for h in (r.smtp_hosts or []))]
        for host in hosts:
            for port in host.ports:
                expected = "implicit" if port.port in IMPLICIT_TLS_PORTS else "starttls"
                assert port.tls == expected, (provider, host.host, port.port)

"""Build real `DomainTarget`s and `DomainFacts` from the compact mappings in `cases/*.yaml`.

Every fact area left out of a case is healthy for a correct Mailgun US domain `mg.example.com`:

* TXT holds exactly the SPF record `v=spf1 include:mailgun.org ~all`;
* the SPF include tree costs 5 lookups and has no void lookups or problems;
* DKIM selector `k1` publishes a 2048-bit RSA key;
* MX is `mxa.mailgun.org` and `mxb.mailgun.org` (preference 10), both resolving;
* DMARC `v=DMARC1; p=quarantine` is published and valid;
* `email.mg.example.com` is a CNAME to `mailgun.org`;
* the return-path host is what the collector would look up with no records found: the
  inventory's `return_path_host`, else the provider's default label (Postmark `pm-bounces`,
  Resend `send`), else none (`NO_RETURN_PATH`, as for Mailgun);
* when the target has SMTP credentials (`target: {smtp: {...}}`), the submission probe logged in
  to `smtp.mailgun.org:587` with STARTTLS (a verified certificate, AUTH PLAIN), and the plan used
  the region's host without correcting anything. Without SMTP credentials there are no SMTP facts
  and no plan, as in the collector.

`dnssec:` (absent: DNSSEC was not checked) takes `DnssecFacts` fields; `{}` is a secure chain.

An area given as a mapping overrides fields of that default (dataclass field names), with a few
derivations the collector would also make (SPF facts parsed from the TXT records and vice versa,
DKIM key fields cleared for a key that is not found, a key's `cnames` chain from its `cname`,
the return path's SPF includes from its SPF records, ...).

The target is Mailgun US unless the case says otherwise; `receiving` and `tracking` default to
the provider's catalogue defaults, as in the inventory loader. `{failure: servfail}` (any
`FailureKind` value, optionally with `detail`) makes the area a `Failure`. A failed TXT lookup
also fails SPF and the SPF tree unless they are given, as in the collector.

`smtp:` takes `SmtpProbeFacts` fields (enums by value; `tls` as `TlsInfo` fields or null; `steps`
as `{name, code, text}` mappings). A failed outcome without `failed_step`/`detail` gets the step
and a reply the probe would give for it; `credential_unavailable` also gets the `unavailable`
credential shape. `smtp_plan:` takes `SmtpPlan` fields; it defaults to a plan for the probed host
whenever the probe has facts, and to none when the SMTP area is a failure or absent (give it
explicitly to combine a plan with a failed probe).

`account:` (absent: no API key was given, so no account facts) takes `AccountFacts` fields; `{}`
is the account of a healthy, active custom domain in the target's region whose `expected` records
are exactly the healthy DNS above. `expected:` replaces them with `{type, name, value[, priority,
valid]}` mappings. `account_txt:` maps extra names to TXT values, as the audit fetches them.

`mta_sts:`, `tlsrpt:` and `bimi:` take `records` (TXT strings, parsed as the collector parses
them); by default the domain publishes a valid record of each (`v=STSv1; id=20250101`,
`v=TLSRPTv1; rua=mailto:tls@<domain>`, a BIMI record with https logo and VMC URLs). `mta_sts`
also takes `policy`: `MtaStsPolicyFacts` fields over a healthy enforce policy whose mx patterns
cover both MX hosts (`*.mailgun.org`), `{failure: ...}` for a fetch with no answer, or null.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from auditor.collect.dns.mail_domain import bimi_facts, mta_sts_facts, tlsrpt_facts
from auditor.collect.dns.spf import tree_not_evaluated
from auditor.collect.smtp.probe import username_domain
from auditor.engine.catalogue import Catalogue
from auditor.inventory.loader import builtin_catalogue
from auditor.model.account import AccountFacts, ExpectedRecord
from auditor.model.dmarc import ReportDestination
from auditor.model.dnssec import DnssecFacts, DnssecStatus, ZoneLink
from auditor.model.facts import (
    NO_RETURN_PATH,
    DkimFacts,
    DkimKeyFacts,
    DmarcFacts,
    DomainFacts,
    Failure,
    FailureKind,
    MxFacts,
    MxHost,
    ReturnPathFacts,
    SpfFacts,
    SpfNode,
    SpfTreeFacts,
    TrackingFacts,
    TxtFacts,
)
from auditor.model.inventory import DomainTarget, SecretRef, SmtpSettings
from auditor.model.mail_domain import BimiFacts, MtaStsFacts, MtaStsPolicyFacts, TlsRptFacts
from auditor.model.smtp import (
    CredentialShape,
    SmtpOutcome,
    SmtpPlan,
    SmtpProbeFacts,
    SmtpStep,
    SmtpStepName,
    TlsInfo,
    TlsMode,
    TlsVerifyFailure,
)
from auditor.protocol.dmarc import parse_dmarc
from auditor.protocol.spf import is_spf, parse_spf
from auditor.protocol.spf_eval import SpfCheck, SpfResult

DOMAIN = "mg.example.com"
HEALTHY_SPF = "v=spf1 include:mailgun.org ~all"
HEALTHY_SPF_INCLUDES = (
    "mailgun.org",
    "_spf.mailgun.org",
    "_spf1.mailgun.org",
    "_spf2.mailgun.org",
    "_spf.eu.mailgun.org",
)
HEALTHY_DKIM_RECORD = "k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"  # shortened
HEALTHY_DMARC = "v=DMARC1; p=quarantine"
US_MX = ("mxa.mailgun.org", "mxb.mailgun.org")
US_SMTP_HOST = "smtp.mailgun.org"
SMTP_PASSWORD_REF = "env:MG_PASS"
HEALTHY_TLS = {
    "version": "TLSv1.3",
    "cipher": "TLS_AES_256_GCM_SHA384",
    "subject_cn": US_SMTP_HOST,
    "san_dns": (US_SMTP_HOST,),
    "not_after": "2030-01-01T00:00:00+00:00",
    "verified": True,
    "verify_error": None,
}

# Where the probe stops for each failed outcome, and a reply it would record there.
SMTP_FAILURES: dict[SmtpOutcome, tuple[SmtpStepName | None, str]] = {
    SmtpOutcome.AUTH_FAILED: (SmtpStepName.AUTH, "535 5.7.0 Mailgun is not loving your login or password"),
    SmtpOutcome.AUTH_UNAVAILABLE: (SmtpStepName.AUTH, "AUTH not offered"),
    SmtpOutcome.SENDER_REJECTED: (
        SmtpStepName.MAIL_FROM,
        "553 5.7.1 Sender address rejected: not owned by user",
    ),
    SmtpOutcome.RECIPIENT_REJECTED: (
        SmtpStepName.RCPT_TO,
        "550 5.7.1 Sandbox subdomains are for test purposes only.",
    ),
    SmtpOutcome.TEMPORARY: (SmtpStepName.DATA, "421 Free accounts are for test purposes only."),
    SmtpOutcome.CONNECT_REFUSED: (SmtpStepName.CONNECT, "connection refused"),
    SmtpOutcome.CONNECT_TIMEOUT: (SmtpStepName.CONNECT, "no TCP connection within 10s"),
    SmtpOutcome.CONNECT_FAILED: (SmtpStepName.CONNECT, "cannot resolve the host"),
    SmtpOutcome.TLS_FAILED: (
        SmtpStepName.STARTTLS,
        "certificate verification failed (hostname_mismatch): Hostname mismatch",
    ),
    SmtpOutcome.PROTOCOL_ERROR: (SmtpStepName.EHLO, "connection lost"),
    SmtpOutcome.TIMEOUT: (SmtpStepName.BANNER, "no greeting within 10s"),
    SmtpOutcome.DATA_REJECTED: (SmtpStepName.DATA, "554 5.7.1 Domain is not allowed to send"),
    SmtpOutcome.CREDENTIAL_UNAVAILABLE: (
        None,
        "secret env:MG_PASS is unavailable: environment variable is not set",
    ),
}

AREAS = (
    *("txt", "spf", "spf_tree", "spf_check", "dkim", "mx", "dmarc", "tracking", "return_path"),
    *("smtp", "smtp_plan", "account", "account_txt"),
    *("mta_sts", "tlsrpt", "bimi"),
    *("dnssec",),
)
TARGET_KEYS = frozenset(
    {
        "name",
        "provider",
        "region",
        "receiving",
        "tracking",
        "dkim_selectors",
        "smtp",
        "return_path_host",
        "tracking_host",
        "profiles",
    }
)
SMTP_TARGET_KEYS = frozenset({"username", "password", "from", "recipient", "host", "port", "tls_name"})
Spec = Mapping[str, Any] | None
_DEFAULT: Any = object()  # "not given" where None (YAML null) is a meaningful value


@cache
def _catalogue() -> Catalogue:
    """The built-in catalogue, loaded once for all cases."""
    return builtin_catalogue()


def build_target(spec: Spec = None) -> DomainTarget:
    """A Mailgun US target for `mg.example.com`, with the case's overrides."""
    spec = dict(spec or {})
    unknown = set(spec) - TARGET_KEYS
    if unknown:
        raise ValueError(f"unknown target key(s): {sorted(unknown)}")
    name = spec.get("name", DOMAIN)
    provider = spec.get("provider", "mailgun")
    views = _catalogue().provider_regions(provider)
    if not views:
        raise ValueError(f"unknown provider {provider!r}")
    region = spec.get("region", "us" if provider == "mailgun" else "auto")
    if region != "auto" and region not in views[0].regions:
        raise ValueError(f"unknown region {region!r} of {provider}")
    return DomainTarget(
        name=name,
        provider=provider,
        region=region,
        dkim_selectors=tuple(spec.get("dkim_selectors", ())),
        receiving=spec.get("receiving", views[0].receiving_default),
        tracking=spec.get("tracking", views[0].tracking_default),
        smtp=_smtp_settings(spec.get("smtp"), name),
        return_path_host=_under(spec.get("return_path_host"), name),
        tracking_host=_under(spec.get("tracking_host"), name),
        origin="tests/rules/cases",
        profiles=tuple(spec.get("profiles", ())),
    )


def _under(host: str | None, domain: str) -> str | None:
    if host is None or host == domain or host.endswith("." + domain):
        return host
    return f"{host}.{domain}"


def _smtp_settings(given: Any, domain: str) -> SmtpSettings | None:
    """`smtp: {username, password: env:NAME, from, recipient, host, port, tls_name}` (all optional)."""
    if given is None:
        return None
    fields = dict(given)
    unknown = set(fields) - SMTP_TARGET_KEYS
    if unknown:
        raise ValueError(f"target smtp: unknown key(s) {sorted(unknown)}")
    scheme, colon, location = str(fields.get("password", SMTP_PASSWORD_REF)).partition(":")
    if not colon or scheme not in ("env", "file"):
        raise ValueError("target smtp: password must be a reference such as env:NAME")
    return SmtpSettings(
        username=fields.get("username", f"postmaster@{domain}"),
        password=SecretRef(scheme, location),
        from_address=fields.get("from", f"alerts@{domain}"),
        recipient=fields.get("recipient"),
        host=fields.get("host"),
        port=fields.get("port"),
        tls_name=fields.get("tls_name"),
    )


def build_facts(spec: Spec = None, target: DomainTarget | None = None) -> DomainFacts:
    """`DomainFacts` for `target`: healthy defaults, overridden area by area from `spec`."""
    spec = dict(spec or {})
    target = target or build_target()
    unknown = set(spec) - set(AREAS)
    if unknown:
        raise ValueError(f"unknown fact area(s): {sorted(unknown)}")
    domain = target.name

    txt = _txt(spec, domain)
    spf = _spf(spec, txt, domain)
    smtp = _smtp(spec.get("smtp"), target)
    return DomainFacts(
        domain=domain,
        txt=txt,
        spf=spf,
        spf_tree=_spf_tree(spec, txt, spf, domain),
        dkim=_dkim(spec.get("dkim"), target),
        mx=_mx(spec.get("mx"), domain),
        dmarc=_dmarc(spec.get("dmarc"), domain),
        tracking=_tracking(spec.get("tracking"), target),
        return_path=_return_path(spec.get("return_path", _DEFAULT), target),
        smtp=smtp,
        smtp_plan=_smtp_plan(spec.get("smtp_plan", _DEFAULT), smtp, target),
        spf_check=_spf_check(spec.get("spf_check"), spf, domain),
        account=_account(spec.get("account"), target),
        account_txt=tuple((name, tuple(values)) for name, values in (spec.get("account_txt") or {}).items()),
        mta_sts=_mta_sts(spec.get("mta_sts"), domain),
        tlsrpt=_tlsrpt(spec.get("tlsrpt"), domain),
        bimi=_bimi(spec.get("bimi"), domain),
        dnssec=_dnssec(spec.get("dnssec"), domain),
    )


def _dnssec(spec: Mapping[str, Any] | None, domain: str) -> DnssecFacts | Failure | None:
    """`dnssec:` absent: not checked (no --dnssec). A mapping takes `DnssecFacts` fields; `{}` is a
    secure chain root -> example -> the domain's zone; `chain` as a list of zone names."""
    if spec is None:
        return None
    if _is_failure(spec):
        return failure(spec, f"DNSSEC {domain}")
    fields = dict(spec)
    status = DnssecStatus(fields.pop("status", "secure"))
    zones = fields.pop("chain", ["", domain.rpartition(".")[2], domain])
    chain = tuple(
        ZoneLink(z or ".", status if i == len(zones) - 1 else DnssecStatus.SECURE)
        for i, z in enumerate(zones)
    )
    return DnssecFacts(status, fields.pop("zone", domain), chain, **fields)


def failure(spec: Mapping[str, Any], what: str) -> Failure:
    """`{failure: servfail, detail: ...}` as a `Failure`."""
    extra = set(spec) - {"failure", "detail"}
    if extra:
        raise ValueError(f"{what}: a failure takes only 'failure' and 'detail', not {sorted(extra)}")
    kind = FailureKind(spec["failure"])
    return Failure(kind, spec.get("detail", f"{what}: {kind.value}"))


def _is_failure(spec: Any) -> bool:
    return isinstance(spec, Mapping) and "failure" in spec


def _txt(spec: dict[str, Any], domain: str) -> TxtFacts | Failure:
    given = spec.get("txt")
    if _is_failure(given):
        return failure(given, f"TXT {domain}")
    if given is not None:
        return TxtFacts(**_tuples(given))
    spf = spec.get("spf")
    if isinstance(spf, Mapping) and "records" in spf and not _is_failure(spf):
        return TxtFacts(tuple(spf["records"]))
    return TxtFacts((HEALTHY_SPF,))


def _spf(spec: dict[str, Any], txt: TxtFacts | Failure, domain: str) -> SpfFacts | Failure:
    given = spec.get("spf")
    if _is_failure(given):
        return failure(given, f"TXT {domain}")
    if isinstance(txt, Failure) and given is None:
        return txt
    fields = _tuples(given or {})
    records = fields.pop("records", None)
    if records is None:
        records = txt.records if isinstance(txt, TxtFacts) else (HEALTHY_SPF,)
    records = tuple(r for r in records if is_spf(r))
    derived = _spf_fields(records)
    derived.update(fields)
    return SpfFacts(records=records, **derived)


def _spf_fields(records: tuple[str, ...]) -> dict[str, Any]:
    """What the collector derives from the SPF records (one record: parsed; else nothing)."""
    if len(records) != 1:
        includes = tuple(i for r in records for i in parse_spf(r).includes)
        return {
            "record": None,
            "includes": includes,
            "redirect": None,
            "all_qualifier": None,
            "syntax_errors": (),
        }
    parsed = parse_spf(records[0])
    return {
        "record": records[0],
        "includes": parsed.includes,
        "redirect": parsed.redirect,
        "all_qualifier": parsed.all_qualifier,
        "syntax_errors": parsed.errors,
    }


def _spf_tree(
    spec: dict[str, Any], txt: TxtFacts | Failure, spf: SpfFacts | Failure, domain: str
) -> SpfTreeFacts | Failure:
    given = spec.get("spf_tree")
    if _is_failure(given):
        return failure(given, f"SPF tree of {domain}")
    if given is None:
        if isinstance(txt, Failure):
            return txt
        if isinstance(spf, SpfFacts) and spf.count != 1:
            return tree_not_evaluated(spf.count)
    fields = _tuples(given or {})
    record = spf.record if isinstance(spf, SpfFacts) else HEALTHY_SPF
    lookups = fields.get("lookups", 5)
    void = fields.get("void_lookups", 0)
    defaults: dict[str, Any] = {
        "lookups": lookups,
        "void_lookups": void,
        "all_includes": HEALTHY_SPF_INCLUDES,
        "problems": (),
        "root": SpfNode(domain, record, lookups, void),
    }
    defaults.update(fields)
    return SpfTreeFacts(**defaults)


def _dkim(given: Any, target: DomainTarget) -> DkimFacts | Failure:
    if _is_failure(given):
        return failure(given, f"DKIM of {target.name}")
    fields = dict(given or {})
    source = fields.pop("source", "inventory" if target.dkim_selectors else "discovered")
    keys = fields.pop("selectors", None)
    if keys is None:
        # Key fields given directly apply to the one default selector.
        selector = target.dkim_selectors[0] if target.dkim_selectors else "k1"
        keys = [{"selector": selector, **fields}]
    elif fields:
        raise ValueError(f"dkim: give key fields inside 'selectors', not {sorted(fields)}")
    return DkimFacts(tuple(_dkim_key(k, target.name, source) for k in keys), source)


def _dkim_key(given: Mapping[str, Any], domain: str, source: str) -> DkimKeyFacts:
    fields = _tuples(given)
    selector = fields.pop("selector", "k1")
    name = fields.pop("name", f"{selector}._domainkey.{domain}")
    if "failure" in fields:
        detail = fields.pop("detail", f"TXT {name}: {fields['failure']}")
        fields["failure"] = Failure(FailureKind(fields["failure"]), detail)
        fields.setdefault("found", False)
    found = fields.pop("found", True)
    key_source = fields.pop("source", source)
    if "cnames" not in fields and fields.get("cname"):
        fields["cnames"] = (fields["cname"],)
    healthy: dict[str, Any] = {"records": (HEALTHY_DKIM_RECORD,), "key_type": "rsa", "key_bits": 2048}
    if not found:
        healthy = {"records": (), "key_type": None, "key_bits": None}
    healthy.update(fields)
    return DkimKeyFacts(selector=selector, name=name, source=key_source, found=found, **healthy)


def _mx(given: Any, domain: str) -> MxFacts | Failure:
    if _is_failure(given):
        return failure(given, f"MX {domain}")
    fields = dict(given or {})
    null_mx = fields.pop("null_mx", False)
    null_mx_mixed = fields.pop("null_mx_mixed", False)
    hosts = fields.pop("hosts", () if null_mx else US_MX)
    if fields:
        raise ValueError(f"mx: unknown field(s) {sorted(fields)}")
    return MxFacts(tuple(_mx_host(h) for h in hosts), null_mx, null_mx_mixed)


def _mx_host(given: str | Mapping[str, Any]) -> MxHost:
    """A host name (resolving), or `{host, preference, resolves, status, cname, ip_literal}`."""
    if isinstance(given, str):
        return MxHost(10, given, True, "ok")
    resolves = given.get("resolves", True)
    default_status = {True: "ok", False: "nodata", None: None}[resolves]
    return MxHost(
        given.get("preference", 10),
        given["host"],
        resolves,
        given.get("status", default_status),
        given.get("cname"),
        given.get("ip_literal", False),
    )


def _dmarc(given: Any, domain: str) -> DmarcFacts | Failure:
    name = f"_dmarc.{domain}"
    if _is_failure(given):
        return failure(given, f"TXT {name}")
    fields = _tuples(given or {})
    records = fields.pop("records", (HEALTHY_DMARC,))
    if len(records) == 1:
        tags = tuple(
            (k.strip(), v.strip())
            for k, _, v in (part.partition("=") for part in records[0].split(";") if part.strip())
        )
        derived: dict[str, Any] = {
            "record": records[0],
            "valid": True,
            "error": None,
            "policy": dict(tags).get("p"),
            "tags": tags,
            "warnings": (),
            "parsed": parse_dmarc(records[0]),
        }
    else:
        error = f"{len(records)} DMARC records (RFC 7489 §6.6.3)" if records else None
        derived = {"record": None, "valid": False, "error": error, "policy": None, "tags": (), "warnings": ()}
    if "destinations" in fields:
        fields["destinations"] = tuple(_destination(d) for d in fields["destinations"])
    derived.update(fields)
    derived.setdefault("name", name)
    return DmarcFacts(records=records, **derived)


def _destination(given: Mapping[str, Any]) -> ReportDestination:
    """A report destination: `{uri, authorised[, tag]}`; external unless `external: false`."""
    uri = given["uri"]
    domain = uri.rpartition("@")[2].lower()
    external = given.get("external", True)
    name = given.get("authorisation_name", f"mg.example.com._report._dmarc.{domain}" if external else None)
    return ReportDestination(
        given.get("tag", "rua"), uri, domain, external, name, given.get("authorised"), given.get("detail")
    )


def _tracking(given: Any, target: DomainTarget) -> TrackingFacts | Failure:
    domain = target.name
    label = _catalogue().provider_regions(target.provider)[0].tracking_prefix
    name = target.tracking_host or (f"{label}.{domain}" if label else None)
    if _is_failure(given):
        return failure(given, f"CNAME {name}")
    fields = dict(given or {})
    name = fields.pop("name", name)
    if name is None:
        return TrackingFacts(None, None, False)
    cname = fields.pop("cname", "mailgun.org")
    exists = fields.pop("exists", cname is not None)
    return TrackingFacts(name=name, cname=cname, exists=exists, **fields)


def _return_path(given: Any, target: DomainTarget) -> ReturnPathFacts | Failure:
    """What the collector would find at the return-path host; `{}` means "nothing published"."""
    label = _catalogue().provider_regions(target.provider)[0].return_path_label
    name, source = target.return_path_host, "inventory"
    if name is None and label is not None:
        name, source = f"{label}.{target.name}", "catalogue"
    if _is_failure(given):
        return failure(given, f"return path of {target.name}")
    if given is _DEFAULT or given is None:
        return ReturnPathFacts(name, source) if name else NO_RETURN_PATH
    fields = _tuples(given)
    name = fields.pop("name", name)
    if name is None:
        raise ValueError("return_path: no host known; give target return_path_host or a name")
    records = fields.pop("spf_records", ())
    includes = fields.pop(
        "spf_includes", tuple(i for r in records if is_spf(r) for i in parse_spf(r).includes)
    )
    mx_hosts = fields.pop("mx_hosts", ())
    cname = fields.pop("cname", None)
    exists = fields.pop("exists", bool(cname or mx_hosts or records))
    source = fields.pop("source", source)
    if fields:
        raise ValueError(f"return_path: unknown field(s) {sorted(fields)}")
    return ReturnPathFacts(name, source, cname, exists, mx_hosts, tuple(records), includes)


def _smtp(given: Any, target: DomainTarget) -> SmtpProbeFacts | Failure | None:
    if _is_failure(given):
        return failure(given, f"SMTP submission for {target.name}")
    if given is None and target.smtp is None:
        return None
    settings = target.smtp
    fields = _tuples(given or {})
    outcome = SmtpOutcome(fields.pop("outcome", "ok"))
    step, detail = SMTP_FAILURES.get(outcome, (None, ""))
    host = fields.pop("host", (settings.host if settings else None) or US_SMTP_HOST)
    port = fields.pop("port", (settings.port if settings else None) or 587)
    tls = fields.pop("tls", {} if outcome is SmtpOutcome.OK else None)
    if isinstance(tls, Mapping):
        tls_fields = {**HEALTHY_TLS, "subject_cn": host, "san_dns": (host,), **_tuples(tls)}
        if tls_fields.get("verify_failure") is not None:
            tls_fields["verify_failure"] = TlsVerifyFailure(tls_fields["verify_failure"])
        tls = TlsInfo(**tls_fields)
    username = settings.username if settings else f"postmaster@{target.name}"
    defaults: dict[str, Any] = {
        "host": host,
        "port": port,
        "tls_mode": TlsMode.IMPLICIT if port in (465, 2465) else TlsMode.STARTTLS,
        "server_hostname": (settings.tls_name if settings else None) or host,
        "failed_step": step,
        "detail": detail,
        "steps": (),
        "tls": tls,
        "auth_mechanisms": ("PLAIN", "LOGIN"),
        "auth_mechanism_used": "PLAIN",
        "insecure": False,
        "credential_shape": (
            CredentialShape.UNAVAILABLE
            if outcome is SmtpOutcome.CREDENTIAL_UNAVAILABLE
            else CredentialShape.PLAUSIBLE_SMTP_PASSWORD
        ),
        "username_domain": username_domain(username),
        "from_address": settings.from_address if settings else f"alerts@{target.name}",
        "recipient": settings.recipient if settings else None,
        "deep_data": False,
        "transcript": (),
    }
    defaults.update(fields)
    for key, kind in (
        ("tls_mode", TlsMode),
        ("failed_step", SmtpStepName),
        ("credential_shape", CredentialShape),
    ):
        if defaults[key] is not None:
            defaults[key] = kind(defaults[key])
    defaults["steps"] = tuple(_smtp_step(s) for s in defaults["steps"])
    return SmtpProbeFacts(outcome=outcome, **defaults)


def _smtp_step(given: Mapping[str, Any]) -> SmtpStep:
    return SmtpStep(SmtpStepName(given["name"]), given.get("code"), given.get("text", ""), 1.0)


def _smtp_plan(given: Any, smtp: SmtpProbeFacts | Failure | None, target: DomainTarget) -> SmtpPlan | None:
    if given is None or (given is _DEFAULT and not isinstance(smtp, SmtpProbeFacts)):
        return None
    fields = dict(given if given is not _DEFAULT else {})
    host = fields.pop("host", smtp.host if isinstance(smtp, SmtpProbeFacts) else US_SMTP_HOST)
    defaults: dict[str, Any] = {
        "configured_host": target.smtp.host if target.smtp else None,
        "host": host,
        "port": smtp.port if isinstance(smtp, SmtpProbeFacts) else 587,
        "server_hostname": (target.smtp.tls_name if target.smtp else None) or host,
        "region": None if target.region == "auto" else str(target.region),
        "corrected": False,
    }
    defaults.update(fields)
    return SmtpPlan(**defaults)


def _spf_check(given: Any, spf: SpfFacts | Failure, domain: str) -> SpfCheck | Failure | None:
    """check_host() for the provider's address: passes via the include unless overridden."""
    if _is_failure(given):
        return failure(given, f"SPF evaluation for {domain}")
    if given is None and (not isinstance(spf, SpfFacts) or spf.record is None):
        return None
    fields: dict[str, Any] = {
        "result": "pass",
        "domain": domain,
        "ip": "209.61.151.1",
        "sender": f"postmaster@{domain}",
        "lookups": 5,
        "void_lookups": 0,
        "matched_term": "include:mailgun.org",
        "matched_domain": domain,
        "record": spf.record if isinstance(spf, SpfFacts) else None,
    }
    fields.update(given or {})
    fields["result"] = SpfResult(fields["result"])
    return SpfCheck(**fields)


def _account(given: Any, target: DomainTarget) -> AccountFacts | Failure | None:
    if given is None:
        return None
    if _is_failure(given):
        return failure(given, f"account API for {target.name}")
    fields = dict(given)
    region = "eu" if str(target.region) == "eu" else "us"
    domain = target.name
    healthy = [
        {"type": "TXT", "name": domain, "value": HEALTHY_SPF},
        {"type": "TXT", "name": f"k1._domainkey.{domain}", "value": HEALTHY_DKIM_RECORD},
        {"type": "CNAME", "name": f"email.{domain}", "value": "mailgun.org"},
        {"type": "MX", "name": domain, "value": US_MX[0], "priority": 10},
        {"type": "MX", "name": domain, "value": US_MX[1], "priority": 10},
    ]
    expected = tuple(_expected(r) for r in fields.pop("expected", healthy))
    found = fields.get("found", True)
    defaults: dict[str, Any] = {
        "provider": target.provider,
        "region_queried": region,
        "api_base": f"https://api.{'eu.' if region == 'eu' else ''}mailgun.net",
        "found": found,
        "region_found": region if found else None,
        "state": "active" if found else None,
        "is_disabled": False,
        "domain_type": "custom" if found else None,
        "smtp_login": f"postmaster@{domain}" if found else None,
        "web_prefix": "email" if found else None,
        "expected": expected if found else (),
        "http_status": 200 if found else 404,
        "detail": "found" if found else f"no regional API knows {domain} (us: HTTP 404, eu: HTTP 404)",
    }
    defaults.update(fields)
    return AccountFacts(**defaults)


def _expected(given: Mapping[str, Any]) -> ExpectedRecord:
    kind = str(given["type"]).upper()
    return ExpectedRecord(
        purpose="receiving" if kind == "MX" else "sending",
        record_type=kind,
        name=given["name"],
        value=given["value"],
        priority=given.get("priority"),
        provider_valid=given.get("valid", "valid"),
        cached=tuple(given.get("cached", ())),
    )


def _tuples(fields: Mapping[str, Any]) -> dict[str, Any]:
    """YAML lists become tuples (the dataclasses are frozen and hold tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


HEALTHY_STS = "v=STSv1; id=20250101"
HEALTHY_TLSRPT = "v=TLSRPTv1; rua=mailto:tls@{domain}"
HEALTHY_BIMI = "v=BIMI1; l=https://brand.example.com/logo.svg; a=https://brand.example.com/vmc.pem"


def _mta_sts(given: Any, domain: str) -> MtaStsFacts | Failure:
    name = f"_mta-sts.{domain}"
    if _is_failure(given):
        return failure(given, f"TXT {name}")
    fields = dict(given or {})
    records = tuple(fields.pop("records", (HEALTHY_STS,)))
    policy_spec = fields.pop("policy", _DEFAULT)
    if fields:
        raise ValueError(f"mta_sts: unknown field(s) {sorted(fields)}")
    facts = mta_sts_facts(name, records)
    if not facts.valid:
        return facts
    policy: MtaStsPolicyFacts | Failure | None
    if policy_spec is None:
        policy = None
    elif _is_failure(policy_spec):
        policy = failure(policy_spec, f"https://mta-sts.{domain}/.well-known/mta-sts.txt")
    else:
        healthy: dict[str, Any] = {
            "url": f"https://mta-sts.{domain}/.well-known/mta-sts.txt",
            "problem": None,
            "version": "STSv1",
            "mode": "enforce",
            "max_age": 604800,
            "mx": ("*.mailgun.org",),
            "errors": (),
        }
        healthy.update(_tuples({} if policy_spec is _DEFAULT else policy_spec))
        if healthy["errors"] and healthy["problem"] is None:
            healthy["problem"] = "invalid policy: " + "; ".join(healthy["errors"])
        policy = MtaStsPolicyFacts(**healthy)
    return MtaStsFacts(name, facts.records, facts.record, facts.policy_id, facts.errors, policy)


def _tlsrpt(given: Any, domain: str) -> TlsRptFacts | Failure:
    name = f"_smtp._tls.{domain}"
    if _is_failure(given):
        return failure(given, f"TXT {name}")
    fields = dict(given or {})
    records = tuple(fields.pop("records", (HEALTHY_TLSRPT.format(domain=domain),)))
    if fields:
        raise ValueError(f"tlsrpt: unknown field(s) {sorted(fields)}")
    return tlsrpt_facts(name, records)


def _bimi(given: Any, domain: str) -> BimiFacts | Failure:
    name = f"default._bimi.{domain}"
    if _is_failure(given):
        return failure(given, f"TXT {name}")
    fields = dict(given or {})
    records = tuple(fields.pop("records", (HEALTHY_BIMI,)))
    if fields:
        raise ValueError(f"bimi: unknown field(s) {sorted(fields)}")
    return bimi_facts(name, records)

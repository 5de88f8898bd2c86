"""Applies compiled rules to one domain's facts: findings, verification status and readiness.

Order per rule: provider/region applicability, then `when` (false: skipped), then the required
facts (failed: unknown, with the collector's reason), then `condition` (true: fail). A rule that
raises is `unknown` with reason "rule error", never a pass and never a crash of the batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jinja2

from auditor.engine.account_compare import AccountView, account_view
from auditor.engine.catalogue import Catalogue
from auditor.engine.derive import derive_region
from auditor.engine.dmarc_alignment import dmarc_alignment
from auditor.engine.expressions import (
    FactUnavailable,
    RegionlessProvider,
    TargetView,
    TextTemplate,
    Unavailable,
    unavailable,
)
from auditor.engine.mail_domain import mail_domain_namespace
from auditor.engine.rules import CompiledRule, RuleSet
from auditor.model.facts import DkimFacts, DomainFacts, Failure, FailureKind, TxtFacts
from auditor.model.findings import DnsRecord, Finding, Reference, Remediation, Severity, Status
from auditor.model.inventory import DomainTarget
from auditor.model.report import (
    DomainReport,
    Readiness,
    RecordState,
    RecordVerification,
    RegionView,
)
from auditor.model.smtp import SmtpProbeFacts

log = logging.getLogger(__name__)

_AREA_OF = {
    "dns.txt": "txt",
    "dns.spf": "spf",
    "dns.spf_tree": "spf_tree",
    "dns.spf_check": "spf_check",
    "dns.dkim": "dkim",
    "dns.mx": "mx",
    "dns.dmarc": "dmarc",
    "dns.tracking": "tracking",
    "dns.return_path": "return_path",
    "dns.mta_sts": "mta_sts",
    "dns.tlsrpt": "tlsrpt",
    "dns.bimi": "bimi",
    "dns.dnssec": "dnssec",
    "region": "provider",
    "smtp.submission": "smtp",
    "account": "account",
}
_BLOCKING = Severity.ERROR


class Evaluator:
    """Pure: the same facts always give the same report."""

    def __init__(self, rules: RuleSet, catalogue: Catalogue) -> None:
        self.rules = rules
        self.catalogue = catalogue
        # Per run, not per domain: what every finding of a rule repeats, and which rules verify
        # which provider record.
        self._heads = {
            r.id: _RuleHead(
                r.spec.id,
                r.spec.name,
                r.spec.title,
                Severity(r.spec.severity),
                r.spec.category,
                tuple(Reference(ref.title, ref.url, ref.rfc, ref.section) for ref in r.spec.references),
                tuple(_AREA_OF[area] for area in r.spec.requires),
            )
            for r in rules.rules
        }
        self._verifies = {r.id: r.spec.verifies for r in rules.rules if r.spec.verifies}

    def evaluate(self, target: DomainTarget, facts: DomainFacts) -> DomainReport:
        region = derive_region(target, facts, self.catalogue)
        namespace = self._namespace(target, facts, region)
        findings: list[Finding] = []
        selector_scopes: list[tuple[str, dict[str, Any]]] | None = None
        for rule in self.rules.rules:
            if rule.profile is not None and rule.profile not in target.profiles:
                continue
            applies = rule.spec.applies_to
            if applies.providers and target.provider not in applies.providers:
                continue
            if applies.regions and region.effective and region.effective not in applies.regions:
                continue
            head = self._heads[rule.id]
            if rule.spec.scope == "dkim_selector":
                if selector_scopes is None:
                    selector_scopes = _selector_scopes(namespace, facts)
                findings.extend(
                    self._apply(rule, head, scoped, subject) for subject, scoped in selector_scopes
                )
            else:
                findings.append(self._apply(rule, head, namespace, target.name))
        verification = self._verification(target, findings)
        return DomainReport(
            domain=target.name,
            provider=target.provider,
            region=region,
            readiness=_readiness(findings),
            verified=_verified(verification),
            verification=verification,
            findings=tuple(findings),
            txt_records=facts.txt.records if isinstance(facts.txt, TxtFacts) else (),
            origin=target.origin,
            smtp=facts.smtp if isinstance(facts.smtp, SmtpProbeFacts) else None,
            profiles=target.profiles,
        )

    def _namespace(self, target: DomainTarget, facts: DomainFacts, region: RegionView) -> dict[str, Any]:
        provider: Any = None
        if region.effective is not None:
            provider = self.catalogue.region(target.provider, region.effective)
        if provider is None:
            detail = "the provider region is neither declared nor visible in DNS"
            regions = list(self.catalogue.provider_regions(target.provider))
            provider = RegionlessProvider(regions, detail) if regions else Unavailable("region", detail)
        namespace: dict[str, Any] = {
            "domain": target.name,
            "target": TargetView(
                target.provider,
                str(target.region),
                target.receiving,
                target.tracking,
                target.dkim_selectors,
                # Credentials given and a probe attempted (not turned off with --no-smtp).
                smtp_configured=target.smtp is not None and facts.smtp is not None,
                smtp_username=target.smtp.username if target.smtp else None,
                smtp_password_ref=str(target.smtp.password) if target.smtp else None,
                smtp_probed=target.smtp is not None and isinstance(facts.smtp, SmtpProbeFacts),
                account_checked=facts.account is not None,
                dnssec_checked=facts.dnssec is not None,
                mta_sts_fetched=_mta_sts_fetched(facts),
            ),
            "provider": provider,
            "region": region,
        }
        namespace["smtp_plan"] = facts.smtp_plan
        smtp = facts.smtp
        if smtp is None:
            smtp = Failure(FailureKind.NOT_ATTEMPTED, "no SMTP credentials in the inventory")
        namespace["smtp"] = Unavailable("smtp", smtp.detail) if isinstance(smtp, Failure) else smtp
        namespace["account"] = self._account(facts, region)
        for area in ("txt", "spf", "spf_tree", "dkim", "mx", "dmarc", "tracking", "return_path"):
            value = getattr(facts, area)
            namespace[area] = Unavailable(area, value.detail) if isinstance(value, Failure) else value
        alignment = dmarc_alignment(target, facts, self.catalogue)
        namespace["dmarc_alignment"] = alignment or Unavailable("dmarc", "DMARC, DKIM or return path failed")
        dnssec = facts.dnssec
        if dnssec is None:
            dnssec = Failure(FailureKind.NOT_ATTEMPTED, "DNSSEC was not checked (--dnssec)")
        namespace["dnssec"] = Unavailable("dnssec", dnssec.detail) if isinstance(dnssec, Failure) else dnssec
        spf_check = facts.spf_check
        if spf_check is None:
            spf_check = Failure(FailureKind.NOT_ATTEMPTED, "SPF was not evaluated (no single SPF record)")
        namespace["spf_check"] = (
            Unavailable("spf_check", spf_check.detail) if isinstance(spf_check, Failure) else spf_check
        )
        namespace.update(mail_domain_namespace(facts))
        return namespace

    def _account(self, facts: DomainFacts, region: RegionView) -> AccountView | Unavailable:
        account = facts.account
        if account is None:
            return Unavailable("account", "no provider API key given")
        if isinstance(account, Failure):
            return Unavailable("account", account.detail)
        # SPF includes the provider documents as equivalent in the region it found the domain in.
        where = account.region_found or region.effective
        spec = self.catalogue.region(account.provider, where) if where else None
        variants = {spec.spf_include: spec.spf_includes[1:]} if spec is not None else None
        return account_view(account, facts, include_variants=variants)

    def _apply(self, rule: CompiledRule, head: _RuleHead, ns: dict[str, Any], subject: str) -> Finding:
        try:
            if rule.when is not None and not rule.when(ns):
                return head.finding(subject, Status.SKIPPED, "", reason="not applicable (when is false)")
            for area in head.requires:
                missing = unavailable(ns[area])
                if missing is not None:
                    return self._unknown(head, subject, missing, ns, rule)
            failed = bool(rule.condition(ns))
        except FactUnavailable as exc:
            return self._unknown(head, subject, exc, ns, rule)
        except Exception as exc:  # a rule bug must not crash the batch nor pass silently
            log.warning("rule %s raised %s", head.rule_id, exc.__class__.__name__, exc_info=True)
            reason = f"rule error: {exc.__class__.__name__}"
            return head.finding(subject, Status.UNKNOWN, f"Could not evaluate: {reason}.", reason=reason)
        if not failed:
            # Evidence is gathered for problems only: it is what a reader needs to act, and
            # rendering it for every passed check dominated the cost at thousands of domains.
            message = _render(rule.pass_message, ns) if rule.pass_message else ""
            return head.finding(subject, Status.PASS, message)
        evidence = _evidence(rule, ns)
        return head.finding(
            subject,
            Status.FAIL,
            _render(rule.message, ns),
            evidence=evidence,
            remediation=_remediation(rule, ns),
        )

    @staticmethod
    def _unknown(
        head: _RuleHead, subject: str, exc: FactUnavailable, ns: dict[str, Any], rule: CompiledRule
    ) -> Finding:
        reason = f"could not verify {exc.area}: {exc.detail}"
        return head.finding(
            subject,
            Status.UNKNOWN,
            f"Could not verify: {exc.detail}.",
            reason=reason,
            evidence=_evidence(rule, ns),
        )

    def _verification(self, target: DomainTarget, findings: list[Finding]) -> tuple[RecordVerification, ...]:
        provider = self.catalogue.providers.get(target.provider)
        if provider is None:
            return ()
        verifies = self._verifies
        out = []
        for record, requirement in provider.verification.items():
            required = (
                requirement.required == "always"
                or (requirement.required == "when_receiving" and target.receiving)
                or (requirement.required == "when_tracking" and target.tracking)
            )
            related = [f for f in findings if verifies.get(f.rule_id) == record]
            if any(f.status is Status.FAIL for f in related):
                state = RecordState.INVALID
            elif any(f.status is Status.UNKNOWN for f in related) or not related:
                state = RecordState.UNKNOWN
            else:
                state = RecordState.VALID
            rules = tuple(sorted({f.rule_id for f in related}))
            out.append(RecordVerification(record, required, state, rules))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class _RuleHead:
    """What every finding of one rule repeats, built once per run."""

    rule_id: str
    rule_name: str
    title: str
    severity: Severity
    category: str
    references: tuple[Reference, ...]
    requires: tuple[str, ...]
    """Namespace keys of the fact areas the rule requires."""

    def finding(
        self,
        subject: str,
        status: Status,
        message: str,
        reason: str | None = None,
        evidence: dict[str, str] | None = None,
        remediation: Remediation | None = None,
    ) -> Finding:
        return Finding(
            self.rule_id,
            self.rule_name,
            self.title,
            self.severity,
            self.category,
            status,
            subject,
            message,
            {} if evidence is None else evidence,
            remediation,
            self.references,
            reason,
        )


def _selector_scopes(namespace: dict[str, Any], facts: DomainFacts) -> list[tuple[str, dict[str, Any]]]:
    """(subject, namespace) per DKIM selector, `dkim` bound to that selector's key; built once a domain."""
    if not isinstance(facts.dkim, DkimFacts):
        return [(namespace["domain"], namespace)]
    scopes = []
    for key in facts.dkim.selectors:
        scoped = dict(namespace)
        scoped["dkim"] = Unavailable("dkim", key.failure.detail) if key.failure is not None else key
        scopes.append((key.name, scoped))
    return scopes


def _verified(verification: tuple[RecordVerification, ...]) -> bool | None:
    required = [v for v in verification if v.required]
    if any(v.state is RecordState.INVALID for v in required):
        return False
    if any(v.state is RecordState.UNKNOWN for v in required) or not required:
        return None
    return True


def _mta_sts_fetched(facts: DomainFacts) -> bool:
    """False only when the user turned the policy fetch off (a NOT_ATTEMPTED policy)."""
    policy = getattr(facts.mta_sts, "policy", None)
    return not (isinstance(policy, Failure) and policy.reason is FailureKind.NOT_ATTEMPTED)


def _readiness(findings: list[Finding]) -> Readiness:
    blocking = [f for f in findings if f.severity.at_least(_BLOCKING)]
    if any(f.status is Status.FAIL for f in blocking):
        return Readiness.NOT_READY
    if any(f.status is Status.UNKNOWN for f in blocking):
        return Readiness.COULD_NOT_VERIFY
    return Readiness.READY


def _render(template: TextTemplate, ns: dict[str, Any]) -> str:
    try:
        return template.render(ns).strip()
    except FactUnavailable as exc:
        return f"(unavailable: {exc.detail})"
    except jinja2.TemplateError as exc:
        return f"(template error: {exc.__class__.__name__})"


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ", ".join(_text(v) for v in value) if value else "none"
    return str(value)


def _evidence(rule: CompiledRule, ns: dict[str, Any]) -> dict[str, str]:
    out = {}
    for label, expression in rule.evidence:
        try:
            out[label] = _text(expression(ns))
        except FactUnavailable as exc:
            out[label] = f"unavailable ({exc.detail})"
        except Exception as exc:
            out[label] = f"unavailable ({exc.__class__.__name__})"
    return out


def _remediation(rule: CompiledRule, ns: dict[str, Any]) -> Remediation:
    records: list[DnsRecord] = []
    for record in rule.records:
        try:
            items = list(record.each(ns)) if record.each is not None else [None]
        except Exception:
            items = []
        for item in items:
            scoped = {**ns, "item": item} if record.each is not None else ns
            name = _render(record.name, scoped).rstrip(".")
            priority = None
            if record.priority is not None:
                text = _render(record.priority, scoped)
                priority = int(text) if text.isdigit() else None
            records.append(DnsRecord(record.spec.type, name, _render(record.value, scoped), priority))
    return Remediation(
        summary=_render(rule.summary, ns),
        records=tuple(records),
        steps=tuple(_render(s, ns) for s in rule.steps),
    )

"""Runs an audit: targets → facts → findings → `AuditReport`. The library entry point.

Domains are collected concurrently (bounded), each under its own guard: one domain whose
collection breaks becomes a report with an error, never a stopped batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auditor._version import __version__
from auditor.collect.dns.backend import DnsBackend
from auditor.collect.dns.checkdmarc_adapter import reset_checkdmarc_cache
from auditor.collect.dns.dnssec import DnssecChecker
from auditor.collect.dns.domain import CollectHints, DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.mailgun_api import PROVIDER as MAILGUN
from auditor.collect.mailgun_api import MailgunAccountClient, api_base_urls
from auditor.collect.mta_sts_fetch import MtaStsPolicyClient
from auditor.collect.smtp.plan import plan_probe
from auditor.collect.smtp.probe import ProbeSettings
from auditor.collect.smtp.scheduler import ProbeScheduler
from auditor.collect.smtp.secrets import SecretUnavailable, resolve_secret
from auditor.engine.account_compare import uncollected_txt_names
from auditor.engine.catalogue import Catalogue
from auditor.engine.derive import derive_region
from auditor.engine.evaluate import Evaluator
from auditor.engine.rules import RuleSet
from auditor.model.account import AccountFacts
from auditor.model.facts import DomainFacts, Failure, FailureKind
from auditor.model.findings import Finding, Severity, Status
from auditor.model.inventory import DomainTarget, SecretRef
from auditor.model.report import (
    AuditReport,
    DomainReport,
    Readiness,
    RegionView,
    RunInfo,
    Summary,
)
from auditor.protocol.dnssec import load_trust_anchors, root_trust_anchors

log = logging.getLogger(__name__)

Progress = Callable[[DomainReport], None]


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Limits for one run; explicit values, nothing read from the environment."""

    max_in_flight: int = 200
    queries_per_second: float | None = None
    concurrent_domains: int = 256
    inventory: str | None = None
    smtp_probes: bool = True
    """Probe submission for domains whose inventory entry has SMTP credentials."""
    smtp_ca_file: str | None = None
    smtp_insecure: bool = False
    smtp_timeout: float = 10.0
    smtp_deep_data: bool = False
    """Also send DATA and drop the connection at 354 (no message is ever sent)."""
    smtp_per_host: int = 2
    smtp_overall: int = 10
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Where `env:` credential references are looked up (the CLI passes os.environ)."""
    mailgun_api_key: SecretRef | None = None
    """Ask Mailgun's domains API about each Mailgun domain (the account cross-check)."""
    mailgun_api_urls: Mapping[str, str] | None = None
    """Region → API base URL; None: the catalogue's (`https://api.mailgun.net`, ...)."""
    api_ca_file: str | None = None
    api_timeout: float = 10.0
    api_requests_per_second: float | None = 4.5
    """Mailgun allows 300 requests a minute per account; 4.5/s stays under it."""
    mta_sts_fetch: bool = True
    """Fetch each MTA-STS policy over HTTPS (only for domains with a `_mta-sts` TXT record)."""
    mta_sts_ca_file: str | None = None
    mta_sts_connect: Mapping[str, tuple[str, int]] | None = None
    """Policy host (or `*`) → (address, port) to connect to instead of DNS and 443 (tests)."""
    mta_sts_timeout: float = 10.0
    dnssec: bool = False
    """Validate each domain's DNSSEC chain (about three more queries per domain: opt-in)."""
    trust_anchor: str | None = None
    """DS/DNSKEY records (zone format) to start the chain from; None: the IANA root KSKs."""


async def run_audit(
    targets: Iterable[DomainTarget],
    *,
    backend: DnsBackend,
    rules: RuleSet,
    catalogue: Catalogue,
    settings: AuditSettings | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit every target; reports come back in inventory order."""
    targets = list(targets)
    reports: list[DomainReport | None] = [None] * len(targets)

    def keep(position: int, report: DomainReport) -> None:
        reports[position] = report
        if progress is not None:
            progress(report)

    outcome = await stream_audit(
        targets, backend=backend, rules=rules, catalogue=catalogue, settings=settings, on_report=keep
    )
    domains = tuple(r for r in reports if r is not None)
    return AuditReport(
        run=outcome.run, summary=Summary.of(domains), domains=domains, complete=outcome.complete
    )


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """How a streamed run ended; the reports themselves went to `on_report` as they finished."""

    run: RunInfo
    complete: bool


async def stream_audit(
    targets: Sequence[DomainTarget],
    *,
    backend: DnsBackend,
    rules: RuleSet,
    catalogue: Catalogue,
    settings: AuditSettings | None = None,
    on_report: Callable[[int, DomainReport], None],
) -> StreamOutcome:
    """Audit every target, handing each report to `on_report(position, report)` as soon as it is done.

    Nothing is kept here, so memory does not grow with the number of domains (beyond the run's DNS
    cache): `settings.concurrent_domains` workers pull targets one at a time. Cancellation (Ctrl-C)
    ends the run with `complete=False`; what was reported before it stays reported. An exception
    raised by `on_report` (say, a full disk) stops the run and propagates.
    """
    settings = settings or AuditSettings()
    started = _now()
    reset_checkdmarc_cache()
    resolver = CachingResolver(
        backend,
        max_in_flight=settings.max_in_flight,
        queries_per_second=settings.queries_per_second,
    )
    policies = None
    if settings.mta_sts_fetch:
        policies = MtaStsPolicyClient(
            resolver,
            timeout=settings.mta_sts_timeout,
            verify=settings.mta_sts_ca_file or True,
            connect_to=settings.mta_sts_connect,
        )
    collector = DnsCollector(resolver, catalogue, policies, _dnssec_checker(settings, resolver))
    evaluator = Evaluator(rules, catalogue)
    probes = ProbeScheduler(
        environ=settings.environ, per_host=settings.smtp_per_host, overall=settings.smtp_overall
    )
    accounts = _account_client(settings, catalogue)
    complete = True

    async def one(target: DomainTarget) -> DomainReport:
        try:
            account = await _ask_account(target, accounts)
            facts = await collector.collect(target, _hints(target, account))
            if account is not None:
                facts = await _with_account(facts, account, collector)
            if target.smtp is not None and settings.smtp_probes:
                facts = await _with_probe(target, facts, catalogue, probes, settings)
            return evaluator.evaluate(target, facts)
        except Exception as exc:  # never let one domain stop the batch
            log.warning("auditing %s failed", target.name, exc_info=True)
            return _broken(target, exc)

    pending = iter(enumerate(targets))

    async def worker() -> None:
        for position, target in pending:  # a shared iterator: each target is taken once
            on_report(position, await one(target))

    workers = [asyncio.ensure_future(worker()) for _ in range(min(settings.concurrent_domains, len(targets)))]
    try:
        await asyncio.gather(*workers)
    except asyncio.CancelledError:
        complete = False
    finally:
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.wait(workers)
        collector.close()
        if policies is not None:
            await policies.aclose()
        await resolver.close()
        if isinstance(accounts, MailgunAccountClient):
            await accounts.aclose()
    run = RunInfo(
        tool_version=__version__,
        started_at=started,
        finished_at=_now(),
        resolver=resolver.describe(),
        rule_count=len(rules.rules),
        rule_sources=tuple(_display(s) for s in rules.sources),
        inventory=settings.inventory,
        dns_queries=resolver.queries_sent,
        dns_lookups=resolver.lookups,
    )
    return StreamOutcome(run=run, complete=complete)


async def _with_probe(
    target: DomainTarget,
    facts: DomainFacts,
    catalogue: Catalogue,
    probes: ProbeScheduler,
    settings: AuditSettings,
) -> DomainFacts:
    """Add the submission probe's facts; the plan comes from the region DNS revealed."""
    assert target.smtp is not None
    plan = plan_probe(target, derive_region(target, facts, catalogue), catalogue)
    if isinstance(plan, Failure):
        return dataclasses.replace(facts, smtp=plan)
    probe_settings = ProbeSettings(
        host=plan.host,
        port=plan.port,
        server_hostname=plan.server_hostname,
        ca_file=settings.smtp_ca_file,
        insecure=settings.smtp_insecure,
        connect_timeout=settings.smtp_timeout,
        command_timeout=settings.smtp_timeout,
    )
    probe = await probes.probe(
        probe_settings,
        target.smtp.username,
        target.smtp.password,
        target.smtp.from_address,
        target.smtp.recipient,
        deep_data=settings.smtp_deep_data,
    )
    return dataclasses.replace(facts, smtp=probe, smtp_plan=plan)


AccountSource = MailgunAccountClient | Failure | None


def _account_client(settings: AuditSettings, catalogue: Catalogue) -> AccountSource:
    """The run's one API client, or why none can be used (or None when no key was given)."""
    if settings.mailgun_api_key is None:
        return None
    try:
        key = resolve_secret(settings.mailgun_api_key, settings.environ)
    except SecretUnavailable as exc:
        return Failure(FailureKind.NOT_ATTEMPTED, f"Mailgun API key {exc.ref}: {exc.reason}")
    return MailgunAccountClient(
        settings.mailgun_api_urls or api_base_urls(catalogue),
        key,
        timeout=settings.api_timeout,
        verify=settings.api_ca_file or True,
        requests_per_second=settings.api_requests_per_second,
    )


async def _ask_account(target: DomainTarget, accounts: AccountSource) -> AccountFacts | Failure | None:
    """The account's answer about a Mailgun domain; asked before DNS, because it says where to look."""
    if accounts is None or target.provider != MAILGUN:
        return None
    if isinstance(accounts, Failure):
        return accounts
    hint = None if str(target.region) == "auto" else str(target.region)
    return await accounts.fetch(target.name, hint)


def _hints(target: DomainTarget, account: AccountFacts | Failure | None) -> CollectHints | None:
    """The account's DKIM selectors and tracking prefix, so DNS checks what the provider uses."""
    if not isinstance(account, AccountFacts) or not account.found:
        return None
    suffix = f"._domainkey.{target.name}"
    selectors = tuple(
        dict.fromkeys(
            name[: -len(suffix)]
            for record in account.expected
            if (name := record.name.strip().rstrip(".").lower()).endswith(suffix)
        )
    )
    return CollectHints(dkim_selectors=selectors, tracking_prefix=account.web_prefix or None)


async def _with_account(
    facts: DomainFacts, account: AccountFacts | Failure, collector: DnsCollector
) -> DomainFacts:
    """Attach the account's answer, and fetch the TXT names it expects that DNS facts lack."""
    extra: tuple[tuple[str, tuple[str, ...] | Failure], ...] = ()
    if isinstance(account, AccountFacts) and account.found:
        facts = dataclasses.replace(facts, account=account)
        names = uncollected_txt_names(account, facts)
        answers = await asyncio.gather(*(collector.txt_at(name) for name in names))
        extra = tuple(zip(names, answers, strict=True))
    return dataclasses.replace(facts, account=account, account_txt=extra)


def _dnssec_checker(settings: AuditSettings, resolver: CachingResolver) -> DnssecChecker | None:
    """The run's DNSSEC validator when asked for (`--dnssec`); bad anchors were refused by the CLI."""
    if not settings.dnssec:
        return None
    anchors = root_trust_anchors()
    if settings.trust_anchor is not None:
        anchors = load_trust_anchors(Path(settings.trust_anchor))
    return DnssecChecker(resolver, anchors)


def _broken(target: DomainTarget, exc: Exception) -> DomainReport:
    finding = Finding(
        rule_id="SR000",
        rule_name="audit-error",
        title="The domain could not be audited",
        severity=Severity.ERROR,
        category="dns",
        status=Status.UNKNOWN,
        subject=target.name,
        message=f"Internal error while auditing: {exc.__class__.__name__}.",
        reason="internal error",
    )
    return DomainReport(
        domain=target.name,
        provider=target.provider,
        region=RegionView(str(target.region), None, None),
        readiness=Readiness.COULD_NOT_VERIFY,
        verified=None,
        verification=(),
        findings=(finding,),
        origin=target.origin,
        error=exc.__class__.__name__,
    )


def _display(source: str) -> str:
    path = Path(source)
    return path.name if path.is_absolute() and "_data" in path.parts else source


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

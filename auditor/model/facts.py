"""Typed facts the collectors produce; every area is either its facts or a `Failure`.

A `Failure` means "we could not find out" (SERVFAIL, timeout, refused...). It is never the same as
"the record is missing": NXDOMAIN and NODATA are definitive answers and produce ordinary facts with
nothing in them. Rules that need a failed area yield `unknown`, never `pass`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from auditor.model.account import AccountFacts
from auditor.model.dmarc import ReportDestination
from auditor.model.dnssec import DnssecFacts
from auditor.model.smtp import SmtpPlan, SmtpProbeFacts
from auditor.protocol.dmarc import DmarcRecord, applicable_policy
from auditor.protocol.spf_eval import SpfCheck

if TYPE_CHECKING:
    from auditor.model.mail_domain import BimiFacts, MtaStsFacts, TlsRptFacts


class FailureKind(StrEnum):
    """Why a fact could not be collected."""

    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    NETWORK = "network"
    MALFORMED = "malformed"
    NOT_ATTEMPTED = "not_attempted"
    COLLECTOR_ERROR = "collector_error"


@dataclass(frozen=True, slots=True)
class Failure:
    """A fact that could not be collected, and why."""

    reason: FailureKind
    detail: str


@dataclass(frozen=True, slots=True)
class TxtFacts:
    """Every TXT record at the domain itself, each record's strings joined."""

    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SpfFacts:
    """The domain's own SPF records (RFC 7208 §4.5: more than one is a permerror)."""

    records: tuple[str, ...]
    record: str | None
    includes: tuple[str, ...]
    redirect: str | None
    all_qualifier: str | None
    syntax_errors: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def present(self) -> bool:
        return bool(self.records)


@dataclass(frozen=True, slots=True)
class SpfNode:
    """One SPF record reached while walking include/redirect, for evidence."""

    domain: str
    record: str | None
    lookups: int
    void_lookups: int
    children: tuple[SpfNode, ...] = ()
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class SpfTreeFacts:
    """The include/redirect tree and its RFC 7208 §4.6.4 lookup counts.

    `lookups` and `void_lookups` are what check_host() reaches for a client address that matches
    no term but `all`: the path of every unauthorised sender, the longest a receiver meets. They
    read 11 (or 3) when that path breaks the limit, as an RFC evaluator stops there.
    `problems` holds the other reason the path ends in permerror (syntax, an include without a
    record, too many MX hosts), if any."""

    lookups: int
    void_lookups: int
    all_includes: tuple[str, ...]
    problems: tuple[str, ...]
    root: SpfNode
    result: str | None = None
    """check_host()'s result for a client address no term matches but `all` (the counts' path):
    `permerror` when a limit or a problem stops it; None for facts built before this was known."""
    unresolved: tuple[str, ...] = ()
    """`domain: term` for terms whose queries depend on the client or sender (`ptr`, macros):
    counted as lookups, never as void, never matched."""


@dataclass(frozen=True, slots=True)
class DkimKeyFacts:
    """What one selector publishes (RFC 6376 §3.6.1)."""

    selector: str
    name: str
    source: str
    """`inventory` when the user named the selector, `discovered` when we found it by trying."""
    found: bool
    records: tuple[str, ...] = ()
    cname: str | None = None
    """The last alias followed to reach the key (the end of the CNAME chain)."""
    key_type: str | None = None
    key_bits: int | None = None
    revoked: bool = False
    parse_error: str | None = None
    failure: Failure | None = None
    hash_algorithms: tuple[str, ...] = ()
    """`h=`: hash algorithms the key may be used with; empty means any (RFC 6376 §3.6.1)."""
    service_types: tuple[str, ...] = ()
    """`s=`: services the key is for; empty means any (`*`)."""
    testing: bool = False
    """`t=y`: the domain is testing DKIM; receivers must not treat mail differently (§3.6.1)."""
    strict: bool = False
    """`t=s`: the signing domain must equal the `i=` domain exactly (no subdomains)."""
    cnames: tuple[str, ...] = ()
    """Every alias followed, in order: `cnames[0]` is the record the domain itself publishes
    (what a provider's CNAME delegation is checked against)."""


@dataclass(frozen=True, slots=True)
class DkimFacts:
    """Every selector checked for the domain."""

    selectors: tuple[DkimKeyFacts, ...]
    source: str


@dataclass(frozen=True, slots=True)
class MxHost:
    """One MX target and whether it resolves to an address (None: could not verify)."""

    preference: int
    host: str
    resolves: bool | None
    status: str | None = None
    """`ok`, `nxdomain` (the name does not exist), `nodata` (exists, no A/AAAA); None: lookup failed."""
    cname: str | None = None
    """Where the host name is an alias to (RFC 2181 §10.3: an MX must not point at an alias)."""
    ip_literal: bool = False
    """The target is an address written as a name (`10 192.0.2.1`); RFC 5321 §5.1 wants a host name."""


@dataclass(frozen=True, slots=True)
class MxFacts:
    """The domain's MX records (RFC 5321 §5.1; a lone `0 .` is a null MX, RFC 7505)."""

    hosts: tuple[MxHost, ...]
    null_mx: bool
    null_mx_mixed: bool = False
    """A `.` target next to other MX records (RFC 7505 §3 forbids it); it is not in `hosts`."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(h.host for h in self.hosts)


@dataclass(frozen=True, slots=True)
class DmarcFacts:
    """The `_dmarc` TXT records and, when there is exactly one, what it says."""

    name: str
    records: tuple[str, ...]
    record: str | None
    valid: bool
    error: str | None
    policy: str | None
    tags: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    inherited_from: str | None = None
    """The organisational domain whose record applies (RFC 7489 §6.6.3), when not the domain's own."""
    parsed: DmarcRecord | None = None
    """Every tag, typed (checkdmarc's values, completed by `auditor.protocol.dmarc`); None unless
    there is exactly one record."""
    destinations: tuple[ReportDestination, ...] = ()
    """Every mailto `rua`/`ruf` destination with its RFC 7489 §7.1 authorisation."""
    domain_exists: bool | None = None
    """False when the audited name itself is NXDOMAIN (then `np` applies); None: not known."""

    @property
    def applied_policy(self) -> str | None:
        """The policy receivers apply to mail from the audited domain (p, sp or np)."""
        return self._applied()[0]

    @property
    def applied_tag(self) -> str | None:
        """Which tag `applied_policy` comes from: `p`, `sp` or `np`."""
        return self._applied()[1]

    def _applied(self) -> tuple[str | None, str | None]:
        if self.parsed is None:
            return None, None
        return applicable_policy(self.parsed, self.inherited_from is not None, self.domain_exists)

    @property
    def policy_domain(self) -> str:
        """The domain whose record applies (the organisational domain when inherited)."""
        return self.inherited_from or self.name.removeprefix("_dmarc.")

    @property
    def unauthorised_destinations(self) -> tuple[ReportDestination, ...]:
        return tuple(d for d in self.destinations if d.authorised is False)

    @property
    def unverified_destinations(self) -> tuple[ReportDestination, ...]:
        return tuple(d for d in self.destinations if d.authorised is None)


@dataclass(frozen=True, slots=True)
class TrackingFacts:
    """The click/open tracking host (`email.<domain>` for Mailgun) and where it points.

    `name` is None when neither the inventory nor the provider names a tracking host (SendGrid's
    `url<NNNN>` label is chosen per account); nothing was looked up then.
    """

    name: str | None
    cname: str | None
    exists: bool


@dataclass(frozen=True, slots=True)
class ReturnPathFacts:
    """The domain's own return-path (bounce, custom MAIL FROM) host and what it publishes.

    Providers that put SPF on a subdomain use one: Postmark `pm-bounces.<d>` and SendGrid
    `em<NNNN>.<d>` (CNAME to the provider), SES custom MAIL FROM and Resend `send.<d>` (MX and SPF
    TXT). `name` is None when neither the inventory nor the provider names the host; `source` says
    which did (`inventory`, `catalogue` or `none`).
    """

    name: str | None
    source: str
    cname: str | None = None
    exists: bool = False
    mx_hosts: tuple[str, ...] = ()
    spf_records: tuple[str, ...] = ()
    spf_includes: tuple[str, ...] = ()

    @property
    def spf_record(self) -> str | None:
        """The one SPF record, or None when there are none or several."""
        return self.spf_records[0] if len(self.spf_records) == 1 else None


NO_RETURN_PATH = ReturnPathFacts(None, "none")


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """Everything collected about one domain. Each area is its facts or a `Failure`."""

    domain: str
    txt: TxtFacts | Failure
    spf: SpfFacts | Failure
    spf_tree: SpfTreeFacts | Failure
    dkim: DkimFacts | Failure
    mx: MxFacts | Failure
    dmarc: DmarcFacts | Failure
    tracking: TrackingFacts | Failure
    smtp: SmtpProbeFacts | Failure | None = None
    """The submission probe; None when the inventory gives no SMTP credentials."""
    smtp_plan: SmtpPlan | None = None
    spf_check: SpfCheck | Failure | None = None
    """RFC 7208 check_host() for one of the provider's own sending addresses; None: not run."""
    account: AccountFacts | Failure | None = None
    """The provider account's answer about the domain; None when no API key was given."""
    account_txt: tuple[tuple[str, tuple[str, ...] | Failure], ...] = ()
    """TXT answers for names the account expects records at that the DNS areas do not cover."""
    return_path: ReturnPathFacts | Failure = NO_RETURN_PATH
    """The return-path host; `NO_RETURN_PATH` when the provider uses none of the domain's."""
    mta_sts: MtaStsFacts | Failure | None = None
    """`_mta-sts` TXT and the HTTPS policy (RFC 8461); None: not collected."""
    tlsrpt: TlsRptFacts | Failure | None = None
    """`_smtp._tls` TXT (RFC 8460); None: not collected."""
    bimi: BimiFacts | Failure | None = None
    """`default._bimi` TXT; None: not collected."""
    dnssec: DnssecFacts | Failure | None = None
    """The zone's DNSSEC status, validated from the trust anchor; None when not checked (--dnssec)."""

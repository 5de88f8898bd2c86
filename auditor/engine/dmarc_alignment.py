"""Derived fact: can mail this provider sends for the domain pass DMARC (RFC 7489 §3.1, §4.2)?

DMARC passes when DKIM or SPF passes *and* its domain aligns with the From domain. Here the From
domain is the audited domain, and what the provider does is read from the catalogue:

* DKIM: every catalogue provider signs with `d=<domain>` once its key (or the CNAME to it) is
  published at `<selector>._domainkey.<domain>`, so a usable key there aligns, in strict mode too.
* SPF: the MAIL FROM domain is the domain itself, its return-path host, or the provider's own
  bounce domain (`mail_from` in the catalogue). A return-path subdomain aligns in relaxed mode
  only; `aspf=s` needs the very From domain.

Pure: computed from facts the collectors already have, no extra DNS questions.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.engine.catalogue import Catalogue
from auditor.model.facts import DkimFacts, DmarcFacts, DomainFacts, Failure, ReturnPathFacts
from auditor.model.inventory import DomainTarget
from auditor.protocol.dmarc import DmarcRecord, aligned


@dataclass(frozen=True, slots=True)
class DmarcAlignment:
    """What aligns for mail sent through the domain's provider, in the record's modes."""

    from_domain: str
    adkim: str
    aspf: str
    dkim_domain: str | None
    """The `d=` the provider signs with (the domain, when a usable key is published under it)."""
    dkim_aligned: bool
    mail_from: str | None
    """The envelope sender domain; None when it is the provider's own and not documented."""
    mail_from_source: str
    """`sending_domain`, `return_path`, `provider` (its own bounce domain) or `unknown`."""
    spf_aligned: bool | None
    """None when the catalogue does not say which MAIL FROM the provider uses."""
    spf_aligned_relaxed: bool | None
    """Whether SPF would align with `aspf=r` (tells a strict-mode problem from a set-up one)."""

    @property
    def passes_possible(self) -> bool | None:
        """DKIM or SPF can align: DMARC can pass. None: only SPF could, and that is not known."""
        if self.dkim_aligned or self.spf_aligned:
            return True
        return None if self.spf_aligned is None else False

    @property
    def strict_spf_breaks(self) -> bool:
        """`aspf=s` is what stops SPF from aligning (relaxed mode would align)."""
        return bool(self.spf_aligned_relaxed) and self.spf_aligned is False


def dmarc_alignment(target: DomainTarget, facts: DomainFacts, catalogue: Catalogue) -> DmarcAlignment | None:
    """The alignment facts; None when DMARC, DKIM or the return path could not be collected
    (rules that use them require those areas, so they say which one failed)."""
    dmarc, dkim, return_path = facts.dmarc, facts.dkim, facts.return_path
    if any(isinstance(value, Failure) for value in (dmarc, dkim, return_path)):
        return None
    assert isinstance(dmarc, DmarcFacts) and isinstance(dkim, DkimFacts)
    assert isinstance(return_path, ReturnPathFacts)
    record = dmarc.parsed or DmarcRecord()
    domain = target.name.rstrip(".").lower()
    usable = any(k.found and not k.revoked and k.parse_error is None for k in dkim.selectors)
    dkim_domain = domain if usable else None
    views = catalogue.provider_regions(target.provider)
    uses = views[0].mail_from if views else None
    bounce = views[0].bounce_domain if views else None
    mail_from: str | None
    if uses == "sending_domain":
        mail_from, source = domain, "sending_domain"
    elif uses == "return_path" and return_path.name is not None and return_path.exists:
        mail_from, source = return_path.name.lower(), "return_path"
    elif uses in ("return_path", "provider"):
        mail_from, source = bounce, "provider"
    else:
        mail_from, source = None, "unknown"
    spf_aligned = spf_relaxed = None
    if source == "provider":
        spf_aligned = spf_relaxed = False
    elif mail_from is not None:
        spf_aligned = aligned(mail_from, domain, record.aspf)
        spf_relaxed = aligned(mail_from, domain, "r")
    return DmarcAlignment(
        from_domain=domain,
        adkim=record.adkim,
        aspf=record.aspf,
        dkim_domain=dkim_domain,
        dkim_aligned=dkim_domain is not None and aligned(dkim_domain, domain, record.adkim),
        mail_from=mail_from,
        mail_from_source=source,
        spf_aligned=spf_aligned,
        spf_aligned_relaxed=spf_relaxed,
    )

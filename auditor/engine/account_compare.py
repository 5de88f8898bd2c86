"""Compare the records the provider expects with what DNS serves, value by value (pure, no I/O).

Collected DNS facts say "a DKIM key exists"; the provider's account says which key it signs with.
This module joins the two, per expected record:

- **SPF** (a TXT value starting `v=spf1`): the domain's single SPF record must contain every term
  of the provider's value (its includes, mainly), in any order and next to other terms. Exact
  string equality would be wrong: users merge several providers into one record. `all` is not
  compared (the policy is the user's choice), and an include the provider documents as
  equivalent (`include_variants`) is accepted.
- **DKIM** (a TXT value with `p=`): the `p=` key material must be identical once white space is
  removed, because DNS hosts split long keys into 255-byte strings and UIs add spaces and line
  breaks. Other tags (`k=`, `v=`) are not compared: the same key bytes are the same key.
- **Other TXT**: equal once runs of white space are collapsed.
- **MX**: the expected host is among the name's MX hosts (case-insensitive, trailing dot ignored);
  a different preference is noted, not counted as a mismatch.
- **CNAME** (tracking host, Automatic Sender Security DKIM `pdk1`/`pdk2`): same target,
  case-insensitive, trailing dot ignored.

Names are compared case-insensitively without trailing dots. When the DNS facts do not cover a
record's name and type, the comparison says so (note `NOT_COLLECTED`) rather than guessing, so
the caller can look the name up and pass it back in `extra_txt`; a failed lookup is
`LOOKUP_FAILED`. Either way `matches` is False and `RecordComparison.compared` is False.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from auditor.model.account import (
    LOOKUP_FAILED,
    NOT_COLLECTED,
    AccountFacts,
    ExpectedRecord,
    RecordComparison,
)
from auditor.model.facts import (
    DkimFacts,
    DkimKeyFacts,
    DomainFacts,
    Failure,
    MxFacts,
    TrackingFacts,
    TxtFacts,
)
from auditor.protocol.dkim import parse_tag_list
from auditor.protocol.spf import SpfTerm, is_spf, parse_spf

__all__ = ["AccountView", "account_view", "compare_records", "uncollected_txt_names"]


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account's answer joined with DNS, as rules see it (`account.*`).

    `comparisons` has one entry per record the account expects. The `mismatched_*` views split
    the records DNS serves differently by type, so a rule can render each as a paste-ready record
    of that type; `stale` are the records DNS already serves correctly while the provider's own
    last check still says otherwise (its verdict lags until someone presses "Verify").
    """

    found: bool
    region_queried: str
    region_found: str | None
    api_base: str
    state: str | None
    is_disabled: bool
    is_sandbox: bool
    domain_type: str | None
    smtp_login: str | None
    web_prefix: str | None
    detail: str
    comparisons: tuple[RecordComparison, ...]

    @property
    def mismatched(self) -> tuple[RecordComparison, ...]:
        return tuple(c for c in self.comparisons if c.compared and not c.matches)

    @property
    def mismatched_txt(self) -> tuple[ExpectedRecord, ...]:
        return self._of_type("TXT")

    @property
    def mismatched_cname(self) -> tuple[ExpectedRecord, ...]:
        return self._of_type("CNAME")

    @property
    def mismatched_mx(self) -> tuple[ExpectedRecord, ...]:
        return self._of_type("MX")

    @property
    def uncompared(self) -> tuple[str, ...]:
        """Records that could not be compared, as `TYPE name (why)`."""
        return tuple(
            f"{c.record.record_type} {c.record.name} ({c.note})" for c in self.comparisons if not c.compared
        )

    @property
    def stale(self) -> tuple[RecordComparison, ...]:
        return tuple(
            c for c in self.comparisons if c.matches and c.record.provider_valid not in (None, "valid")
        )

    def _of_type(self, kind: str) -> tuple[ExpectedRecord, ...]:
        return tuple(c.record for c in self.mismatched if c.record.record_type.upper() == kind)


def account_view(
    account: AccountFacts,
    facts: DomainFacts,
    *,
    include_variants: Mapping[str, Collection[str]] | None = None,
) -> AccountView:
    """Join the account's answer with the domain's DNS facts (and any extra TXT fetched for it)."""
    extra = dict(facts.account_txt)
    return AccountView(
        found=account.found,
        region_queried=account.region_queried,
        region_found=account.region_found,
        api_base=account.api_base,
        state=account.state,
        is_disabled=account.is_disabled,
        is_sandbox=account.is_sandbox,
        domain_type=account.domain_type,
        smtp_login=account.smtp_login,
        web_prefix=account.web_prefix,
        detail=account.detail,
        comparisons=compare_records(account.expected, facts, extra, include_variants=include_variants),
    )


def uncollected_txt_names(account: AccountFacts, facts: DomainFacts) -> tuple[str, ...]:
    """Names of expected TXT records the DNS facts do not cover: the collector fetches these."""
    return tuple(
        dict.fromkeys(
            _norm(c.record.name)
            for c in compare_records(account.expected, facts, {})
            if c.record.record_type.upper() == "TXT" and c.note.startswith(NOT_COLLECTED)
        )
    )


def compare_records(
    expected: tuple[ExpectedRecord, ...],
    facts: DomainFacts,
    extra_txt: Mapping[str, tuple[str, ...] | Failure],
    *,
    include_variants: Mapping[str, Collection[str]] | None = None,
) -> tuple[RecordComparison, ...]:
    """One `RecordComparison` per expected record, in the provider's order.

    Args:
        expected: the records the provider's account expects (`AccountFacts.expected`).
        facts: the DNS facts collected for the domain.
        extra_txt: TXT records fetched for names the DNS facts do not cover (a DKIM selector
            the collector did not try, a DKIM authority on the parent domain), keyed by name.
            Used only where `facts` has nothing, or only a failure, for that name.
        include_variants: SPF includes accepted in place of the expected one, e.g.
            `{"mailgun.org": ["eu.mailgun.org"]}` for EU domains (the catalogue's `spf_includes`).
    """
    extra = {
        _norm(name): values if isinstance(values, Failure) else tuple(values)
        for name, values in extra_txt.items()
    }
    variants = {
        _norm(include): frozenset(_norm(v) for v in alternatives)
        for include, alternatives in (include_variants or {}).items()
    }
    return tuple(_compare(record, facts, extra, variants) for record in expected)


def _compare(
    record: ExpectedRecord,
    facts: DomainFacts,
    extra: dict[str, tuple[str, ...] | Failure],
    variants: dict[str, frozenset[str]],
) -> RecordComparison:
    kind = record.record_type.upper()
    if kind == "TXT":
        return _compare_txt(record, facts, extra, variants)
    if kind == "MX":
        return _compare_mx(record, facts)
    if kind == "CNAME":
        return _compare_cname(record, facts)
    return RecordComparison(record, (), False, f"{NOT_COLLECTED}: {kind} records are not collected")


# --- TXT: SPF, DKIM, anything else ---------------------------------------------------------------


def _compare_txt(
    record: ExpectedRecord,
    facts: DomainFacts,
    extra: dict[str, tuple[str, ...] | Failure],
    variants: dict[str, frozenset[str]],
) -> RecordComparison:
    name = _norm(record.name)
    values = _txt_at(name, facts, extra)
    if values is None:
        return RecordComparison(record, (), False, f"{NOT_COLLECTED}: TXT at {name}")
    if isinstance(values, Failure):
        return RecordComparison(record, (), False, f"{LOOKUP_FAILED}: {values.detail}")
    if is_spf(record.value.strip()):
        return _compare_spf(record, name, values, variants)
    expected_key = _dkim_key_material(record.value)
    if expected_key is not None:
        return _compare_dkim(record, name, values, expected_key)
    wanted = _collapse(record.value)
    if any(_collapse(v) == wanted for v in values):
        return RecordComparison(record, values, True, "DNS serves the expected value")
    return RecordComparison(record, values, False, f"no TXT record at {name} has the expected value")


def _txt_at(
    name: str, facts: DomainFacts, extra: dict[str, tuple[str, ...] | Failure]
) -> tuple[str, ...] | Failure | None:
    """TXT values at `name` from the facts, else from `extra`; None when nobody looked."""
    found: tuple[str, ...] | Failure | None = None
    if name == _norm(facts.domain):
        found = facts.txt.records if isinstance(facts.txt, TxtFacts) else facts.txt
    else:
        selector = _dkim_selector(name, facts)
        if isinstance(selector, DkimKeyFacts):
            found = selector.failure if selector.failure is not None else selector.records
        elif isinstance(selector, Failure):
            found = selector
    if (found is None or isinstance(found, Failure)) and name in extra:
        return extra[name]
    return found


def _dkim_selector(name: str, facts: DomainFacts) -> DkimKeyFacts | Failure | None:
    if isinstance(facts.dkim, DkimFacts):
        for key in facts.dkim.selectors:
            if _norm(key.name) == name:
                return key
        return None
    # The whole DKIM area failed: that covers `_domainkey` names, and nothing else.
    return facts.dkim if "._domainkey." in f".{name}" else None


def _compare_spf(
    record: ExpectedRecord, name: str, values: tuple[str, ...], variants: dict[str, frozenset[str]]
) -> RecordComparison:
    spf = tuple(v for v in values if is_spf(v.strip()))
    if not spf:
        return RecordComparison(record, (), False, f"no SPF record at {name}")
    if len(spf) > 1:
        # RFC 7208 §4.5: two SPF records are a permerror; neither counts.
        return RecordComparison(record, spf, False, f"{len(spf)} SPF records at {name} (RFC 7208 permerror)")
    ours = parse_spf(spf[0].strip())
    have = {_term_key(t) for t in ours.terms}
    if ours.redirect:
        have.add(("include", ours.redirect))
    missing: list[str] = []
    via_variant: list[str] = []
    for term in parse_spf(record.value.strip()).terms:
        if term.name == "all" and not term.modifier:
            continue
        key = _term_key(term)
        if key in have:
            continue
        if key[0] == "include" and any(("include", v) in have for v in variants.get(key[1], ())):
            via_variant.append(key[1])
            continue
        missing.append(f"{key[0]}:{key[1]}" if key[1] else key[0])
    if missing:
        return RecordComparison(record, spf, False, f"SPF record at {name} lacks {', '.join(missing)}")
    note = "SPF record contains every term the provider expects"
    if via_variant:
        note += f" (accepted variant for {', '.join(via_variant)})"
    return RecordComparison(record, spf, True, note)


def _term_key(term: SpfTerm) -> tuple[str, str]:
    """A term's identity for comparison: name and value, lower-cased, without a trailing dot."""
    name = f"{term.name}=" if term.modifier else term.name
    return name.lower(), _norm(term.value or "")


def _compare_dkim(
    record: ExpectedRecord, name: str, values: tuple[str, ...], expected_key: str
) -> RecordComparison:
    keys = [(v, _dkim_key_material(v)) for v in values]
    published = tuple(v for v, key in keys if key is not None)
    if not published:
        return RecordComparison(record, values, False, f"no DKIM key record at {name}")
    if any(key == expected_key for _, key in keys):
        note = "DNS serves the key the provider signs with"
        if len(published) > 1:
            note += f" (but {len(published)} key records at one name: verifiers may pick another)"
        return RecordComparison(record, published, True, note)
    if expected_key == "":
        return RecordComparison(record, published, False, "the provider expects a revoked key (empty p=)")
    return RecordComparison(
        record, published, False, f"DNS serves a different DKIM key at {name} than the provider signs with"
    )


def _dkim_key_material(value: str) -> str | None:
    """The `p=` value without any white space, or None when the text has no `p=` tag."""
    tags, problem = parse_tag_list(value)
    for tag, tag_value in tags:
        if tag == "p":
            return "".join(tag_value.split())
    if problem is not None and "p=" in value:
        # A malformed tag list (stray text, a quote) can still carry a recognisable key.
        tail = value.split("p=", 1)[1].split(";", 1)[0]
        return "".join(tail.split())
    return None


# --- MX and CNAME --------------------------------------------------------------------------------


def _compare_mx(record: ExpectedRecord, facts: DomainFacts) -> RecordComparison:
    name = _norm(record.name)
    if name != _norm(facts.domain):
        return RecordComparison(record, (), False, f"{NOT_COLLECTED}: MX at {name}")
    if not isinstance(facts.mx, MxFacts):
        return RecordComparison(record, (), False, f"{LOOKUP_FAILED}: {facts.mx.detail}")
    served = tuple(f"{h.preference} {h.host}" for h in facts.mx.hosts)
    if facts.mx.null_mx:
        return RecordComparison(
            record, ("0 .",), False, f"{name} has a null MX (RFC 7505): it receives no mail"
        )
    want = _norm(record.value)
    for host in facts.mx.hosts:
        if _norm(host.host) == want:
            note = "DNS serves the expected MX host"
            if record.priority is not None and host.preference != record.priority:
                note += f" (preference {host.preference}, the provider suggests {record.priority})"
            return RecordComparison(record, served, True, note)
    if not served:
        return RecordComparison(record, served, False, f"no MX records at {name}")
    return RecordComparison(record, served, False, f"{want} is not among the MX hosts of {name}")


def _compare_cname(record: ExpectedRecord, facts: DomainFacts) -> RecordComparison:
    name = _norm(record.name)
    want = _norm(record.value)
    selector = _dkim_selector(name, facts)
    if isinstance(selector, Failure):
        return RecordComparison(record, (), False, f"{LOOKUP_FAILED}: {selector.detail}")
    if isinstance(selector, DkimKeyFacts):
        if selector.failure is not None:
            return RecordComparison(record, (), False, f"{LOOKUP_FAILED}: {selector.failure.detail}")
        # `cname` is the end of the alias chain; for a one-hop chain it is the record itself.
        return _cname_verdict(record, name, want, selector.cname, exists=selector.found)
    tracking = facts.tracking
    if isinstance(tracking, TrackingFacts) and _norm(tracking.name) == name:
        return _cname_verdict(record, name, want, tracking.cname, exists=tracking.exists)
    if isinstance(tracking, Failure) and name in tracking.detail.lower():
        # A failed tracking lookup names its query ("CNAME email.<domain>: timeout").
        return RecordComparison(record, (), False, f"{LOOKUP_FAILED}: {tracking.detail}")
    return RecordComparison(record, (), False, f"{NOT_COLLECTED}: CNAME at {name}")


def _cname_verdict(
    record: ExpectedRecord, name: str, want: str, served: str | None, *, exists: bool
) -> RecordComparison:
    if served is None:
        what = "records that are not a CNAME" if exists else "no record"
        return RecordComparison(
            record, (), False, f"{name} has {what}; the provider expects a CNAME to {want}"
        )
    if _norm(served) == want:
        return RecordComparison(record, (_norm(served),), True, "DNS serves the expected CNAME target")
    return RecordComparison(
        record, (_norm(served),), False, f"{name} points to {_norm(served)}, the provider expects {want}"
    )


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _collapse(text: str) -> str:
    return " ".join(text.split())

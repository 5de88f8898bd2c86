"""Rule helpers that apply the provider catalogue to one domain's facts (pure functions).

They are exposed to rule expressions and templates (`auditor.engine.expressions.HELPERS`), so a
rule stays one line while the pattern matching is Python, tested once. Each takes the `provider`
the rule sees; when the region is unknown that is a stand-in whose region-specific fields raise,
which makes the rule `unknown` rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.engine import patterns
from auditor.engine.catalogue import MxEntry, dkim_kind


@dataclass(frozen=True, slots=True)
class DkimExpectation:
    """What the provider publishes at one selector: a TXT key, or a CNAME to one of `targets`."""

    type: str
    targets: tuple[str, ...]
    txt_allowed: bool

    @property
    def target(self) -> str:
        """The CNAME value to publish (with `<...>` holes where the value is account-specific)."""
        return self.targets[0] if self.targets else ""


def dkim_expected(provider: Any, selector: str, domain: str, record_type: str | None = None) -> list[Any]:
    """`[expectation]` for the selector, or `[]` when `record_type` is given and differs.

    The list form lets a remediation record use `each:` to appear only for the right record type.
    """
    kind = dkim_kind(provider.dkim_kinds, selector)
    expectation = DkimExpectation(
        kind.type, tuple(patterns.render(t, domain, selector) for t in kind.targets), kind.txt_allowed
    )
    if record_type is not None and expectation.type != record_type:
        return []
    return [expectation]


def dkim_delegated(key: Any, provider: Any, domain: str) -> bool:
    """Whether a selector the provider delegates by CNAME is published the way it expects.

    The first CNAME (the record the domain itself publishes) must fit one of the provider's target
    patterns; a TXT key published directly passes only where the provider allows it (SES BYODKIM).
    Selectors the provider publishes as TXT always pass.
    """
    kind = dkim_kind(provider.dkim_kinds, key.selector)
    if kind.type != "CNAME":
        return True
    if key.cnames:
        return patterns.matches_any(key.cnames[0], kind.targets, domain, key.selector)
    return kind.txt_allowed


def host_matches(name: str | None, candidates: Iterable[str], domain: str = "", selector: str = "") -> bool:
    """Whether `name` fits one of the catalogue's host patterns, rendered for the domain."""
    return patterns.matches_any(name, candidates, domain, selector)


def mx_matches(names: Iterable[str], sets: Iterable[Sequence[MxEntry]], domain: str) -> bool:
    """Whether the MX host names are exactly one of the accepted sets (preferences are not compared)."""
    names = list(names)
    return any(patterns.set_matches(names, [e.host for e in mx_set], domain) for mx_set in sets)


def mx_expected(sets: Sequence[Sequence[MxEntry]], domain: str) -> list[MxEntry]:
    """The MX records to publish: the first accepted set, rendered for the domain."""
    if not sets:
        return []
    return [MxEntry(patterns.render(e.host, domain), e.preference) for e in sets[0]]


def render_host(pattern: str | None, domain: str, selector: str = "") -> str:
    """A catalogue host rendered for the domain (account-specific `<...>` holes stay)."""
    return patterns.render(pattern, domain, selector) if pattern else ""


def return_path_ok(return_path: Any, provider: Any, domain: str) -> bool:
    """Whether the return-path host is set up in one of the forms the provider accepts.

    CNAME form (Postmark, SendGrid, SparkPost): the CNAME fits one of the targets. MX form (SES
    custom MAIL FROM, Resend, SendGrid with automated security off): exactly the provider's MX set
    and an SPF record with the provider's include.
    """
    if return_path.name is None:
        return False
    if provider.return_path_targets and patterns.matches_any(
        return_path.cname, provider.return_path_targets, domain
    ):
        return True
    if not provider.return_path_mx or return_path.cname:
        return False
    include = provider.return_path_spf_include
    spf_ok = include is None or (len(return_path.spf_records) == 1 and include in return_path.spf_includes)
    return mx_matches(return_path.mx_hosts, [provider.return_path_mx], domain) and spf_ok


def ownership_token(records: Iterable[str], prefix: str) -> str | None:
    """The provider's ownership token among the domain's TXT records (case-insensitive prefix)."""
    wanted = prefix.lower()
    return next((r for r in records if r.strip().lower().startswith(wanted)), None)


PROVIDER_HELPERS = {
    "dkim_expected": dkim_expected,
    "dkim_delegated": dkim_delegated,
    "host_matches": host_matches,
    "mx_matches": mx_matches,
    "mx_expected": mx_expected,
    "render_host": render_host,
    "return_path_ok": return_path_ok,
    "ownership_token": ownership_token,
}

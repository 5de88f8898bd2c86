"""Host-name patterns from the provider catalogue: render them for one domain, match DNS against them.

A catalogue value such as `selector1-{domain_dashed}._domainkey.<tenant>.onmicrosoft.com` has two
kinds of hole:

* `{domain}`, `{domain_dashed}` and `{selector}` are filled from the audited domain, so the
  rendered value is exact (`selector1-contoso-com._domainkey.<tenant>.onmicrosoft.com`);
* `<name>` is account-specific (a tenant, a user id, a token) and stays in the rendered value for
  the reader to replace. When matching DNS, it stands for any run of letters, digits and hyphens
  inside one label (possibly empty: SendGrid's older `u123.wl.sendgrid.net` has no number).

Pure: no I/O, no catalogue loading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RUNTIME_FIELDS = frozenset({"domain", "domain_dashed", "selector"})
_FIELD = re.compile(r"\{([a-z_]+)\}")
_ACCOUNT = re.compile(r"<[^<>]+>")


def dashed(domain: str) -> str:
    """`contoso.com` → `contoso-com`: Microsoft 365 and Brevo name hosts this way."""
    return domain.replace(".", "-")


def render(pattern: str, domain: str = "", selector: str = "") -> str:
    """Fill the domain and selector holes; account-specific `<...>` holes stay as they are."""
    values = {"domain": domain, "domain_dashed": dashed(domain), "selector": selector}
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), pattern).lower()


def has_account_part(value: str) -> bool:
    """True when the rendered value still holds a `<...>` hole the user must fill in."""
    return bool(_ACCOUNT.search(value))


def _compile(rendered: str) -> re.Pattern[str]:
    """The pattern as a regular expression (`re` keeps recently compiled ones itself)."""
    parts = _ACCOUNT.split(rendered.rstrip("."))
    return re.compile("[a-z0-9-]*".join(re.escape(p) for p in parts) + r"\.?", re.IGNORECASE)


def matches(name: str | None, pattern: str, domain: str = "", selector: str = "") -> bool:
    """Whether the DNS name `name` fits `pattern` rendered for `domain` and `selector`."""
    if not name:
        return False
    return _compile(render(pattern, domain, selector)).fullmatch(name.lower()) is not None


def matches_any(name: str | None, patterns: Iterable[str], domain: str = "", selector: str = "") -> bool:
    return any(matches(name, p, domain, selector) for p in patterns)


def set_matches(names: Iterable[str], patterns: Iterable[str], domain: str = "") -> bool:
    """Every name fits one of the patterns and every pattern is fitted by one of the names."""
    names = [n.lower().rstrip(".") for n in names]
    patterns = list(patterns)
    if not names or not patterns:
        return False
    return all(matches_any(n, patterns, domain) for n in names) and all(
        any(matches(n, p, domain) for n in names) for p in patterns
    )


def subset_matches(names: Iterable[str], patterns: Iterable[str], domain: str = "") -> bool:
    """Every name fits one of the patterns (a partial but consistent set, e.g. one MX of two)."""
    names = list(names)
    patterns = list(patterns)
    return bool(names) and all(matches_any(n, patterns, domain) for n in names)

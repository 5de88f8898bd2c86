"""The Public Suffix List's own registrable-domain tests, against the list sendready ships.

`data/publicsuffix-tests/tests.txt` (CC0, copied with SOURCE.md) pairs an input with its
registrable domain, or `null`. `registrable_domain` must give exactly that; `organisational_domain`
(used for the DMARC fallback lookup) must give the same, or the name itself where there is none.
Counts are printed as `N passed, N failed` (run with `-s` to see them).
"""

from __future__ import annotations

from pathlib import Path

from auditor.protocol.psl import organisational_domain, registrable_domain

CASES_FILE = Path(__file__).parent / "data" / "publicsuffix-tests" / "tests.txt"


def _cases() -> list[tuple[str | None, str | None]]:
    """(input, expected) pairs; `null` is None; `//` lines (incl. the 4 disabled `.local` cases) skipped."""
    cases = []
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("//"):
            continue
        given, expected = line.split()
        cases.append((None if given == "null" else given, None if expected == "null" else expected))
    return cases


def test_the_suite_is_complete() -> None:
    """The copy holds the 78 cases its SOURCE.md describes (a truncated copy would pass vacuously)."""
    assert len(_cases()) == 78


def test_registrable_domain() -> None:
    """Every case: mixed case, leading dots, unlisted TLDs, wildcards, exceptions, IDN both forms."""
    failed = []
    cases = _cases()
    for given, expected in cases:
        got = None if given is None else registrable_domain(given)
        if got != expected:
            failed.append(f"{given!r}: expected {expected!r}, got {got!r}")
    print(f"\npublicsuffix-tests: {len(cases) - len(failed)} passed, {len(failed)} failed")
    assert not failed, "\n".join(failed)


def test_organisational_domain_agrees() -> None:
    """The DMARC fallback asks the organisational domain: the registrable one, else the name itself."""
    for given, expected in _cases():
        if given is None:
            continue
        assert organisational_domain(given) == (expected or given.lower()), given


def test_absolute_names_and_empty_labels() -> None:
    """DNS hands back absolute names; an empty label inside a name has no registrable domain."""
    assert registrable_domain("mail.Example.COM.") == "example.com"
    assert registrable_domain("a..example.com") is None
    assert registrable_domain("") is None

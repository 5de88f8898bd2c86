"""The suites' lookup-limit and permerror cases through the AUDIT path: collector walk + rules.

`test_spf_conformance.py` checks check_host(); this checks what the audit reports for the same
zones: `spf_tree.lookups` / `void_lookups` / `result` from `SpfWalker`, and whether the rules that
mean "receivers get permerror" (SPF002, SPF004, SPF005, SPF007) fail.

The walk reports the path of a client that matches no term but `all` (docs/spf-conformance.md,
"What the audit's counts mean"), while each suite case names one client. So:

* every case the suite calls permerror (and nothing else) must be flagged by the audit;
* where the case's client is such a client (IPv4, decided by `all` or by reaching the end), the
  audit's counts and result must be check_host()'s for that client, and so the suite's counts
  where `EXPECTED_COUNTS` gives them;
* where the case's client matches earlier, the audit's own worst-case counts are pinned in
  `WORST_CASE`, worked out by hand from the records (these are the cases where tools disagree:
  `include-at-limit` passes for its client 1.2.3.4 after one lookup, but every other sender
  reaches an 11th lookup, so receivers give permerror to everyone but the domain itself).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import pytest

from auditor.model.facts import Failure, SpfFacts, SpfTreeFacts
from auditor.protocol.spf_eval import SpfCheck, SpfResult
from auditor.protocol.spf_macro import valid_name
from tests.conformance.spf_audit_path import audit_case
from tests.conformance.spf_runner import ServerPool, run_case
from tests.conformance.spf_suites import Case, load_all
from tests.conformance.test_spf_conformance import EXPECTED_COUNTS

_LIMIT_SCENARIOS = re.compile(r"processing-limits|resolution-limits|lookup-limits|nxdomain")


def _auditable(case: Case) -> bool:
    """Inventory accepts only multi-label DNS names; the suites' invalid domains are not audited."""
    return "." in case.domain and case.domain.isascii() and valid_name(case.domain)


def _selected(case: Case) -> bool:
    return _auditable(case) and (
        case.results[0] == "permerror"
        or bool(_LIMIT_SCENARIOS.search(case.scenario.key))
        or case.id in EXPECTED_COUNTS
    )


CASES = [case for case in load_all() if _selected(case)]

# (lookups, void lookups, result) for a client no term matches, where the case's own client
# matches earlier. Worked out by hand from each case's records.
WORST_CASE = {
    # `a -all`: the `a` (1.2.3.1, 1.2.3.2) matches 1.2.3.12 only through the suite's CIDR; others fail.
    "rfc7208/14-processing-limits/false-a-limit": (1, 0, "fail"),
    "rfc4408/14-processing-limits/false-a-limit": (1, 0, "fail"),
    # `a mx a mx a mx a mx a ptr ip4:1.2.3.4 -all`: 10 terms, then -all. The ptr's own query is
    # the client's PTR name, unknown for "any client", so it is not counted void.
    "rfc7208/14-processing-limits/mech-at-limit": (10, 0, "fail"),
    "rfc4408/14-processing-limits/mech-at-limit": (10, 0, "fail"),
    # `a include:inc.example.com ip4:1.2.3.4 mx -all`, inc = `a` x 8: a(1) include(2) 8 a (10),
    # then mx is the 11th: permerror for every sender but 1.2.3.4, which the first `a` matches.
    "rfc7208/14-processing-limits/include-at-limit": (11, 0, "permerror"),
    "rfc4408/14-processing-limits/include-at-limit": (11, 0, "permerror"),
    # okay.com: a chain of includes totalling 10 lookups that ends in +all (so: pass).
    "blitiri/07-resolution-limits/resolution-with-10-lookups": (10, 0, "pass"),
    # `mx ip4:1.2.3.4 -all` style records whose MX answered (not void): one lookup, then -all.
    "blitiri/09-nxdomain-tests/one-mx-not-found": (1, 0, "fail"),
    "blitiri/09-nxdomain-tests/all-mx-not-found": (1, 0, "fail"),
    # `mx -all` over 11 MX hosts: any client not among the first 10 needs an 11th address lookup.
    "stalwart/basic-04-dns-lookup-limits/6-10.0.0.8": (1, 0, "permerror"),
}


@pytest.fixture(scope="module")
def pool() -> Iterator[ServerPool]:
    with ServerPool() as servers:
        yield servers


def _matches_nothing(case: Case, check: SpfCheck) -> bool:
    """True when the case's client takes the audit's path: IPv4, decided by `all` or the end."""
    if case.helo_identity_first or ipaddress.ip_address(case.host).version != 4:
        return False
    term = check.matched_term
    return term is None or term.lstrip("+-~?").lower() == "all"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_audit_path(case: Case, pool: ServerPool) -> None:
    # Given the case's zone on a loopback server
    # When the audit collects and evaluates the domain, and check_host() runs for the case
    audited = audit_case(case, pool)
    check = run_case(case, pool)
    tree = audited.tree
    # Then a syntax error in the domain's own record shows in its record facts (the §12 grammar)
    if (check.problem or "").startswith(f"syntax error in the SPF record of {case.domain}:"):
        assert isinstance(audited.spf, SpfFacts) and audited.spf.syntax_errors
    # And a case the suite calls permerror is flagged by a permerror rule
    if case.results == ("permerror",):
        assert audited.permerror, f"{case.id}: not flagged; tree {tree}"
    if case.id in WORST_CASE:
        assert isinstance(tree, SpfTreeFacts)
        assert (tree.lookups, tree.void_lookups, tree.result) == WORST_CASE[case.id]
        assert audited.permerror == (tree.result == "permerror")
        return
    if not _matches_nothing(case, check):
        return
    # And where the case's client is the audit's client, the audit agrees with check_host()
    if check.result is SpfResult.TEMPERROR:
        assert isinstance(tree, Failure) and audited.unknown and not audited.failing
        return
    if isinstance(tree, Failure):  # no single record: SPF002 (several) or SPF001 (none)
        assert isinstance(audited.spf, SpfFacts)
        assert audited.spf.count != 1
        assert audited.permerror == (check.result is SpfResult.PERMERROR)
        return
    expected = (check.lookups, check.void_lookups, check.result.value)
    if tree.unresolved:  # terms that depend on the client: never void for the audit
        assert (tree.lookups, tree.result) == (check.lookups, check.result.value)
        assert tree.void_lookups <= check.void_lookups
    else:
        assert (tree.lookups, tree.void_lookups, tree.result) == expected
        if case.id in EXPECTED_COUNTS:
            assert (tree.lookups, tree.void_lookups) == EXPECTED_COUNTS[case.id]
    assert audited.permerror == (check.result is SpfResult.PERMERROR), f"{case.id}: {audited}"


def test_every_worst_case_names_a_selected_case() -> None:
    assert set(WORST_CASE) <= {case.id for case in CASES}

"""The SPF conformance suites, one test per case, through the real driver over UDP loopback.

Run `python -m tests.conformance.spf_runner` for the per-suite `N passed, N failed` summary.
docs/spf-conformance.md lists the deviations and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.conformance.spf_runner import ServerPool, deviation_still_needed, run_case, verdict
from tests.conformance.spf_suites import DEVIATIONS, Case, load_all

CASES = load_all()
SILENT_CASE = "rfc7208/01-record-lookup/alltimeout"

# (DNS-querying terms, void lookups) that RFC 7208 §4.6.4 gives for the suites' limit cases, as
# counted by the model in auditor/protocol/spf_eval.py (terms reached; void = terms whose own query
# came back empty). Worked out by hand from each case's records.
EXPECTED_COUNTS = {
    "rfc7208/14-processing-limits/redirect-loop": (11, 0),
    "rfc7208/14-processing-limits/include-loop": (11, 0),
    "rfc7208/14-processing-limits/mx-limit": (1, 0),
    "rfc7208/14-processing-limits/ptr-limit": (1, 0),
    "rfc7208/14-processing-limits/false-a-limit": (1, 0),
    "rfc7208/14-processing-limits/mech-at-limit": (10, 1),  # the ptr finds no PTR record
    "rfc7208/14-processing-limits/mech-over-limit": (6, 3),  # the third mx without MX records
    "rfc7208/14-processing-limits/include-at-limit": (1, 0),  # the first 'a' already matches
    "rfc7208/14-processing-limits/include-over-limit": (11, 0),
    "rfc7208/14-processing-limits/void-at-limit": (2, 2),
    "rfc7208/14-processing-limits/void-over-limit": (3, 3),
    "rfc7208/12-semantics-of-exp-and-other-modifiers/exp-void": (2, 2),  # exp= is not counted
    "rfc7208/12-semantics-of-exp-and-other-modifiers/redirect-none": (1, 1),
    "rfc7208/06-a-mechanism-syntax/a-nxdomain": (1, 1),
    "rfc7208/08-mx-mechanism-syntax/mx-nxdomain": (1, 0),  # the MX answered; its host has no A
    "rfc7208/08-mx-mechanism-syntax/mx-implicit": (1, 1),
    "rfc7208/15-test-cases-from-implementation-bugs/bytes-bug": (3, 0),
    "rfc7208/15-test-cases-from-implementation-bugs/cname-aliasing": (8, 0),
    "blitiri/07-resolution-limits/resolution-with-10-lookups": (10, 0),
    "blitiri/07-resolution-limits/resolution-with-11-lookups": (11, 0),
    "blitiri/08-mx-resolution-limits/mx-resolution-10-terms": (10, 0),  # 30 MX hosts, none exist
    "blitiri/08-mx-resolution-limits/mx-resolution-11-terms": (11, 0),
    "blitiri/09-nxdomain-tests/all-mx-not-found": (1, 0),
    "blitiri/09-nxdomain-tests/include-not-found": (1, 1),
}


@pytest.fixture(scope="module")
def pool() -> Iterator[ServerPool]:
    with ServerPool() as servers:
        yield servers


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case, pool: ServerPool) -> None:
    check = run_case(case, pool)
    problem = verdict(case, check)
    assert problem is None, problem
    if case.deviation is not None:
        assert deviation_still_needed(case, check), f"{case.id}: deviation no longer needed"
    if case.id in EXPECTED_COUNTS:
        assert (check.lookups, check.void_lookups) == EXPECTED_COUNTS[case.id]
    if case.id == SILENT_CASE:  # most TIMEOUT names answer SERVFAIL; this one is really dropped
        assert check.problem is not None and "timeout" in check.problem


def test_every_case_of_every_suite_is_loaded() -> None:
    counts = Counter(case.suite for case in CASES)
    assert counts == {"rfc7208": 203, "rfc4408": 191, "pyspf": 16, "blitiri": 21, "stalwart": 163}
    assert len({case.id for case in CASES}) == len(CASES)


def test_every_expected_count_names_a_case() -> None:
    assert set(EXPECTED_COUNTS) | {SILENT_CASE} <= {case.id for case in CASES}


def test_every_deviation_names_a_case() -> None:
    used = {(case.suite, case.name) for case in CASES if case.suite != "stalwart"}
    used |= {(case.suite, f"{case.scenario.key}/{case.name}") for case in CASES if case.suite == "stalwart"}
    assert set(DEVIATIONS) <= used

"""The §4.6.4 arithmetic of the audit's SPF walk, pure: ordered steps in, counts and the limit out.

The audit reports one pair of counts per domain: what an RFC 7208 check_host() reaches for a
client address that matches no term but `all` (the path every unauthorised sender, and so the
worst case a receiver meets, takes). The walker in `auditor.collect.dns.spf` records, per SPF
record, the ordered *steps* that evaluation takes: a DNS-querying term reached (a lookup) and a
term whose own query came back empty (a void lookup). Includes and redirects splice their
target's steps in where they are evaluated, so a memoised sub-tree (`include:mailgun.org`, walked
once per run) is reused by concatenation; the limits are applied to the whole sequence here, as
check_host() applies them as it goes: the 11th lookup or the 3rd void lookup is a permerror, and
the counts then read 11 or 3, exactly as `auditor.protocol.spf_eval` reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from auditor.protocol.spf_eval import SpfLimits


class StepKind(StrEnum):
    """What one step costs under §4.6.4."""

    LOOKUP = "lookup"  # a DNS-querying term (include, a, mx, ptr, exists, applied redirect)
    VOID = "void"  # that term's own query answered NXDOMAIN or with no records


@dataclass(frozen=True, slots=True)
class WalkStep:
    """One counted step, with the record and term it belongs to (for the problem text)."""

    kind: StepKind
    domain: str
    term: str


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts over a step sequence, up to and including the step that broke a limit (if any)."""

    lookups: int
    void_lookups: int
    violation: WalkStep | None = None

    def problem(self, limits: SpfLimits) -> str | None:
        """Why evaluation stops with permerror at `violation`, in the words of §4.6.4."""
        step = self.violation
        if step is None:
            return None
        if step.kind is StepKind.LOOKUP:
            return (
                f"{step.term} in {step.domain} is DNS-querying term {self.lookups}; "
                f"RFC 7208 §4.6.4 allows {limits.lookups} (permerror)"
            )
        return (
            f"{step.term} in {step.domain} is void lookup {self.void_lookups}; "
            f"RFC 7208 §4.6.4 allows {limits.void_lookups} (permerror)"
        )


def tally(steps: Iterable[WalkStep], limits: SpfLimits) -> Tally:
    """Count `steps` in order, stopping at the first that exceeds a limit (as check_host() does)."""
    lookups = void = 0
    for step in steps:
        if step.kind is StepKind.LOOKUP:
            lookups += 1
            if lookups > limits.lookups:
                return Tally(lookups, void, step)
        else:
            void += 1
            if void > limits.void_lookups:
                return Tally(lookups, void, step)
    return Tally(lookups, void)


def within_limits(steps: Sequence[WalkStep], limits: SpfLimits) -> tuple[tuple[WalkStep, ...], Tally]:
    """`steps` cut just after the first step that breaks a limit, and their tally.

    Steps after a violation can never be reached, whatever comes before them, so a sub-tree keeps
    at most limit + 1 steps of each kind: memoised sub-trees stay small however big the tree is.
    """
    counted = tally(steps, limits)
    if counted.violation is None:
        return tuple(steps), counted
    return tuple(steps[: counted.lookups + counted.void_lookups]), counted

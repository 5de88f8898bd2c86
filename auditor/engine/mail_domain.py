"""How rules see MTA-STS, TLS-RPT and BIMI facts (`mta_sts`, `tlsrpt`, `bimi`).

A policy fetch that got no answer is a `Failure` inside `MtaStsFacts`; here it becomes the engine's
`Unavailable` stand-in, so any rule that reads `mta_sts.policy` (or `mta_sts.mode`) is `unknown`
with the fetch's reason, while rules about the TXT record alone still decide.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from auditor.engine.expressions import Unavailable
from auditor.model.facts import DomainFacts, Failure
from auditor.model.mail_domain import MtaStsFacts

_NOT_COLLECTED = "not collected"


def mail_domain_namespace(facts: DomainFacts) -> dict[str, Any]:
    """`mta_sts`, `tlsrpt` and `bimi` for the rule namespace (failed areas as `Unavailable`)."""
    out: dict[str, Any] = {}
    for area in ("mta_sts", "tlsrpt", "bimi"):
        value = getattr(facts, area)
        if value is None:
            out[area] = Unavailable(area, _NOT_COLLECTED)
        elif isinstance(value, Failure):
            out[area] = Unavailable(area, value.detail)
        else:
            out[area] = value
    mta_sts = facts.mta_sts
    if isinstance(mta_sts, MtaStsFacts) and isinstance(mta_sts.policy, Failure):
        stand_in: Any = Unavailable("mta_sts", f"policy fetch: {mta_sts.policy.detail}")
        out["mta_sts"] = dataclasses.replace(mta_sts, policy=stand_in)
    return out

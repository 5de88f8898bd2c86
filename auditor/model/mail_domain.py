"""Facts about the domain's own mail service: MTA-STS (RFC 8461), TLS-RPT (RFC 8460) and BIMI.

Each area is these facts or a `Failure` (the TXT lookup failed). Inside `MtaStsFacts`, the HTTPS
policy is itself facts or a `Failure`: an HTTP answer that shows a broken policy (404, a redirect,
the wrong media type, too large, bad syntax, an untrusted certificate) is a fact (`problem` is
set), whereas no answer at all (timeout, connection refused, 5xx, fetch turned off) is a
`Failure`, which the engine turns into `unknown` for every rule that reads the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.model.facts import Failure


@dataclass(frozen=True, slots=True)
class MtaStsPolicyFacts:
    """What `https://mta-sts.<domain>/.well-known/mta-sts.txt` answered."""

    url: str
    problem: str | None
    """Why senders would not use this policy (HTTP status, redirect, media type, size, syntax)."""
    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    """Syntax errors in the body (RFC 8461 §3.2); `problem` summarises them."""


@dataclass(frozen=True, slots=True)
class MtaStsFacts:
    """The `_mta-sts` TXT records and, when there is exactly one, the policy it announces."""

    name: str
    records: tuple[str, ...]
    """The records starting with `v=STSv1` (others are discarded by senders, §3.1)."""
    record: str | None
    policy_id: str | None
    errors: tuple[str, ...]
    policy: MtaStsPolicyFacts | Failure | None = None
    """None when there is no usable TXT record (nothing to fetch)."""

    @property
    def present(self) -> bool:
        return bool(self.records)

    @property
    def valid(self) -> bool:
        """Exactly one syntactically valid record (senders otherwise assume no MTA-STS)."""
        return self.record is not None and not self.errors

    @property
    def mode(self) -> str | None:
        """The policy's mode; None without a usable policy.

        Rules see the engine's stand-in for a failed fetch in `policy`, so reading the mode of a
        policy that could not be fetched makes the rule `unknown`, never a pass or a fail.
        """
        policy = self.policy
        if policy is None or isinstance(policy, Failure):
            return None
        return policy.mode if policy.problem is None else None


@dataclass(frozen=True, slots=True)
class TlsRptFacts:
    """The `_smtp._tls` TXT records (RFC 8460 §3)."""

    name: str
    records: tuple[str, ...]
    """The records starting with `v=TLSRPTv1`."""
    rua: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def present(self) -> bool:
        return bool(self.records)

    @property
    def valid(self) -> bool:
        return len(self.records) == 1 and not self.errors


@dataclass(frozen=True, slots=True)
class BimiFacts:
    """The `default._bimi` TXT records (draft-brand-indicators-for-message-identification)."""

    name: str
    records: tuple[str, ...]
    logo_url: str | None
    authority_url: str | None
    declined: bool
    errors: tuple[str, ...]

    @property
    def present(self) -> bool:
        return bool(self.records)

    @property
    def valid(self) -> bool:
        return len(self.records) == 1 and not self.errors

"""Run many submission probes politely: identical probes once, and few at a time per host.

Why: thousands of domains usually share one submission host (`smtp.mailgun.org`). Probing each
domain separately would open thousands of logins against the same server, get the audit
rate-limited (a `421` that then looks like a finding), and can trip the provider's abuse
detection. So (STYLE §2.6):

* probes that would be identical — same host, port, TLS mode, login, password *reference*,
  from/recipient and depth — run once, and every caller gets the same facts;
* at most `per_host` probes talk to one host at a time, and `overall` in total.

The scheduler is run-scoped (create one per audit; no module-level state) and resolves each
password reference only right before its probe starts, so a secret lives in memory no longer
than one probe.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from auditor.collect.smtp.probe import (
    ProbeSettings,
    probe_submission,
    unavailable_credential_facts,
)
from auditor.collect.smtp.secrets import Secret, SecretUnavailable, resolve_secret
from auditor.model.inventory import SecretRef
from auditor.model.smtp import SmtpProbeFacts

__all__ = ["ProbeFunction", "ProbeScheduler"]


class ProbeFunction(Protocol):
    """The signature of `probe_submission`, so tests or benchmarks can substitute a driver."""

    def __call__(
        self,
        settings: ProbeSettings,
        username: str,
        password: Secret,
        from_address: str | None,
        recipient: str | None,
        *,
        deep_data: bool = False,
    ) -> Awaitable[SmtpProbeFacts]: ...


_Key = tuple[ProbeSettings, str, str, str | None, str | None, bool]


class ProbeScheduler:
    """De-duplicates identical probes and caps concurrency per host and overall.

    `environ` is where `env:` references are looked up (pass `os.environ` from the CLI, a dict
    in tests). Results are cached for the scheduler's lifetime: one audit run.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        per_host: int = 2,
        overall: int = 10,
        probe: ProbeFunction | Callable[..., Awaitable[SmtpProbeFacts]] = probe_submission,
    ) -> None:
        if per_host < 1 or overall < 1:
            raise ValueError("per_host and overall must be at least 1")
        self._environ = environ
        self._per_host = per_host
        self._overall = asyncio.Semaphore(overall)
        self._host_limits: dict[str, asyncio.Semaphore] = {}
        self._tasks: dict[_Key, asyncio.Task[SmtpProbeFacts]] = {}
        self._probe = probe
        self.probes_started = 0
        """How many probes really ran (identical requests count once)."""

    async def probe(
        self,
        settings: ProbeSettings,
        username: str,
        password: SecretRef,
        from_address: str | None = None,
        recipient: str | None = None,
        *,
        deep_data: bool = False,
    ) -> SmtpProbeFacts:
        """The facts of this probe, running it only if no identical probe ran or is running.

        Cancelling one caller does not cancel a probe other callers are waiting for.
        """
        settings = _normalise(settings)
        key: _Key = (settings, username, str(password), from_address, recipient, deep_data)
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._run(settings, username, password, from_address, recipient, deep_data),
                name=f"smtp-probe {settings.host}:{settings.port}",
            )
            self._tasks[key] = task
        return await asyncio.shield(task)

    async def _run(
        self,
        settings: ProbeSettings,
        username: str,
        password: SecretRef,
        from_address: str | None,
        recipient: str | None,
        deep_data: bool,
    ) -> SmtpProbeFacts:
        # Host first, then the global slot: a probe waiting for its host holds no global slot,
        # so a busy host cannot starve the others.
        host_limit = self._host_limits.setdefault(settings.host, asyncio.Semaphore(self._per_host))
        async with host_limit, self._overall:
            try:
                secret = resolve_secret(password, self._environ)
            except SecretUnavailable as exc:
                return unavailable_credential_facts(
                    settings, username, from_address, recipient, str(exc), deep_data=deep_data
                )
            self.probes_started += 1
            return await self._probe(settings, username, secret, from_address, recipient, deep_data=deep_data)


def _normalise(settings: ProbeSettings) -> ProbeSettings:
    """Make equivalent settings equal: host case and trailing dot, the derived TLS mode."""
    host = settings.host.strip().rstrip(".").lower()
    return dataclasses.replace(settings, host=host, tls_mode=settings.effective_tls_mode)

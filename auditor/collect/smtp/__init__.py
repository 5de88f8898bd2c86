"""SMTP submission probe: log in with the real credentials, record every reply, send nothing.

Public API:

* `probe_submission(settings, username, password, from_address, recipient, *, deep_data)` —
  one probe, returning `auditor.model.smtp.SmtpProbeFacts`; never raises.
* `ProbeScheduler` — run-scoped de-duplication and per-host/overall caps; takes a `SecretRef`
  and resolves it at the last moment.
* `ProbeSettings` — host, port, TLS mode, certificate name, CA file, timeouts.
* `Secret`, `resolve_secret`, `SecretUnavailable` — secrets by reference, never printable.
"""

from __future__ import annotations

from auditor.collect.smtp.probe import (
    IMPLICIT_TLS_PORTS,
    ProbeSettings,
    classify_reply,
    credential_shape,
    probe_submission,
    unavailable_credential_facts,
    username_domain,
)
from auditor.collect.smtp.scheduler import ProbeFunction, ProbeScheduler
from auditor.collect.smtp.secrets import Secret, SecretUnavailable, resolve_secret
from auditor.collect.smtp.transcript import REDACTED, Scrubber, Transcript

__all__ = [
    "IMPLICIT_TLS_PORTS",
    "REDACTED",
    "ProbeFunction",
    "ProbeScheduler",
    "ProbeSettings",
    "Scrubber",
    "Secret",
    "SecretUnavailable",
    "Transcript",
    "classify_reply",
    "credential_shape",
    "probe_submission",
    "resolve_secret",
    "unavailable_credential_facts",
    "username_domain",
]

"""sendready: is every domain you send email from ready to send?

The public surface is small and locked by a test; everything else is internal.
"""

from auditor._version import __version__
from auditor.audit import AuditSettings, run_audit
from auditor.errors import AuditorError, InputError, ReporterError, RuleFileError

__all__ = [
    "AuditSettings",
    "AuditorError",
    "InputError",
    "ReporterError",
    "RuleFileError",
    "__version__",
    "run_audit",
]

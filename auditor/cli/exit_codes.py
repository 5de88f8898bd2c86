"""Documented exit codes (README, `sendready --help`)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Audit complete; nothing failed at or above --fail-on."""
    FINDINGS = 1
    """At least one check failed at or above --fail-on (with --strict: or could not be verified)."""
    USAGE = 2
    """Bad command line, inventory, zone file or rule file: one line names file, line and field."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C); any report written is marked incomplete."""

"""Documented exit codes (README, `sendready --help`)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Audit complete; nothing failed at or above --fail-on."""
    FINDINGS = 1
    """At least one check failed at or above --fail-on (with --strict: or could not be verified)."""
    USAGE = 2
    """Bad command line, inventory, zone file or rule file: one line names file, line and field."""
    INCOMPLETE = 3
    """The results are incomplete for another reason than Ctrl-C: a worker process died, or `merge`
    was given a shard that was not complete. Reports written are marked incomplete."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C); any report written is marked incomplete."""

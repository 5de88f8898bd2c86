"""Exceptions that stop a run, kept apart from per-domain collection problems.

Collection problems (a SERVFAIL, a timeout) are *data* (`auditor.model.facts.Failure`), never
exceptions: one broken domain must never stop the batch. The exceptions below are for input the
user must fix before any audit makes sense, and each one renders as a single line naming the file,
the line and the field::

    AuditorError
    ├── InputError          inventory or command-line input (file, line, field)
    │   └── RuleFileError   a rule or catalogue file that does not load
    └── ReporterError       a report that could not be rendered or written
"""

from __future__ import annotations

from pathlib import Path


class AuditorError(Exception):
    """Base class of every error sendready raises on purpose."""


class InputError(AuditorError):
    """Bad user input, located as precisely as the input allows."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class RuleFileError(InputError):
    """A rule file, rule directory or provider catalogue that cannot be used."""


class ReporterError(AuditorError):
    """A report that could not be rendered or written."""

"""Compliance profiles chosen per run (`--profile NAME`) and per domain (inventory `profiles:`).

A profile is a rule file under `<rules dir>/profiles/<name>.yaml`; `load_rules` loads every one and
marks its rules with the name, and the evaluator applies them only to targets that carry the name.
This module checks the names users give and puts the run-wide ones on every target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from auditor.errors import InputError
from auditor.model.inventory import DomainTarget


def check_profile_names(names: Iterable[str], known: Sequence[str], *, field: str = "--profile") -> None:
    """Raise a one-line `InputError` for the first name that is not a loaded profile."""
    for name in names:
        if name not in known:
            raise InputError(f"unknown profile {name!r} (known: {_listed(known)})", field=field)


def with_profiles(
    targets: Sequence[DomainTarget], run: Sequence[str], known: Sequence[str]
) -> list[DomainTarget]:
    """`targets` with the run's profiles added to each; every name checked against `known`.

    A name from the inventory is reported at the domain's own `file:line` (its `origin`).
    """
    check_profile_names(run, known)
    out = []
    for target in targets:
        for name in target.profiles:
            if name not in known:
                file, _, line = (target.origin or "").rpartition(":")
                raise InputError(
                    f"unknown profile {name!r} (known: {_listed(known)})",
                    path=file or None,
                    line=int(line) if line.isdigit() else None,
                    field="profiles",
                )
        merged = tuple(dict.fromkeys((*target.profiles, *run)))
        out.append(dataclasses.replace(target, profiles=merged) if merged != target.profiles else target)
    return out


def _listed(known: Sequence[str]) -> str:
    return ", ".join(known) if known else "none installed"

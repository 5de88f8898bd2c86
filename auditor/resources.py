"""Where the built-in rules and report templates live, installed or in a source checkout.

A wheel carries them inside the package (`auditor/_data/`, mapped by hatchling's force-include);
an editable install or a plain checkout uses the top-level `rules/` and `reports/` folders.
"""

from __future__ import annotations

from pathlib import Path


def _data_dir(name: str) -> Path:
    packaged = Path(__file__).resolve().parent / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"built-in {name}/ not found (looked in {packaged} and {checkout})")


def rules_dir() -> Path:
    """The built-in rule files (`rules/`)."""
    return _data_dir("rules")


def reports_dir() -> Path:
    """The built-in report templates (`reports/`)."""
    return _data_dir("reports")

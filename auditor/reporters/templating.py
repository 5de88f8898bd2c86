"""The jinja2 environments for reports: HTML autoescaped, Markdown escaped by default too.

DNS content is attacker-controlled. In HTML, jinja2's autoescape escapes every interpolation. In
Markdown every interpolation passes through `finalize`, which escapes it unless a filter already
made it safe (`code`, `fence`); nothing is escaped by hand per field.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jinja2

from auditor.resources import reports_dir

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:^$@%])")


def strip_controls(text: str) -> str:
    """Remove C0 controls and bidi overrides, which could hide or reorder text."""
    return _CONTROL.sub("", text)


class MarkdownSafe(str):
    """Text already made safe for Markdown; `finalize` leaves it alone."""


def md_escape(value: Any) -> str:
    if isinstance(value, MarkdownSafe):
        return value
    if value is None:
        return ""
    text = strip_controls(str(value)).replace("\r", " ").replace("\n", " ")
    return MarkdownSafe(_MD_SPECIAL.sub(r"\\\1", text))


def md_code(value: Any) -> MarkdownSafe:
    """An inline code span whose fence is longer than any run of backticks inside."""
    text = strip_controls(str(value)).replace("\r", " ").replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return MarkdownSafe(f"{fence}{pad}{text}{pad}{fence}")


def md_fence(value: Any, info: str = "") -> MarkdownSafe:
    """A fenced code block (for records to paste) that the content cannot close early."""
    text = strip_controls(str(value))
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return MarkdownSafe(f"{fence}{info}\n{text}\n{fence}")


def _strip_if_text(value: Any) -> Any:
    return strip_controls(value) if isinstance(value, str) else value


def _base_filters(env: jinja2.Environment) -> None:
    env.filters["clean"] = strip_controls


@cache
def html_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir() / "html")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_strip_if_text,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    _base_filters(env)
    return env


@cache
def markdown_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir() / "markdown")),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=md_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    _base_filters(env)
    env.filters["code"] = md_code
    env.filters["fence"] = md_fence
    return env

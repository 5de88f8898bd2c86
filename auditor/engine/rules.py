"""Loads rule files, validates them against the schema and compiles them once.

A broken rule file stops the run with `file:line: field: message`; it is never skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor.engine.catalogue import catalogue_files
from auditor.engine.expressions import (
    ROOTS,
    SELECTOR_ROOTS,
    CompileError,
    Expression,
    TextTemplate,
    compile_condition,
    compile_template,
)
from auditor.engine.schema import RecordSpec, RuleFile, RuleSpec
from auditor.errors import RuleFileError
from auditor.yamlsource import dotted, line_of, load_located

PROFILES = "profiles"
"""The folder, inside a rule directory, that holds compliance profiles (`--profile NAME`)."""


@dataclass(frozen=True, slots=True)
class CompiledRecord:
    spec: RecordSpec
    name: TextTemplate
    value: TextTemplate
    priority: TextTemplate | None
    each: Expression | None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule with its expressions and templates compiled."""

    spec: RuleSpec
    source: str
    when: Expression | None
    condition: Expression
    message: TextTemplate
    pass_message: TextTemplate | None
    evidence: tuple[tuple[str, Expression], ...]
    summary: TextTemplate
    records: tuple[CompiledRecord, ...]
    steps: tuple[TextTemplate, ...]
    profile: str | None = None
    """The compliance profile (`profiles/<name>.yaml`) this rule belongs to; None: always applies."""

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    sources: tuple[str, ...]
    profiles: tuple[str, ...] = ()
    """Names of the compliance profiles loaded (`<rules dir>/profiles/<name>.yaml`)."""

    def by_id(self, rule_id: str) -> CompiledRule | None:
        return next((r for r in self.rules if r.id == rule_id.upper()), None)


def rule_files(directory: Path) -> list[Path]:
    """Rule files in `directory` and below, except the provider catalogue and profile folders."""
    if not directory.is_dir():
        raise RuleFileError("not a directory", path=directory, field="--rules")
    return sorted(
        p
        for p in directory.rglob("*.y*ml")
        if p.suffix in (".yaml", ".yml")
        and not {"providers", PROFILES}.intersection(p.relative_to(directory).parts)
    )


def profile_files(directory: Path) -> dict[str, Path]:
    """Compliance profiles in `directory/profiles/`: name (the file's stem) to file."""
    folder = directory / PROFILES
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def load_rules(directories: list[Path]) -> RuleSet:
    """Load and compile every rule file in `directories`; ids must be unique across them.

    Every profile found under `<dir>/profiles/` is loaded too, its rules marked with the profile's
    name: the evaluator applies them only to domains that select the profile, so worker processes
    that load the same directories see the same rules.
    """
    compiled: list[CompiledRule] = []
    seen: dict[str, str] = {}
    sources: list[str] = []
    profiles: list[str] = []
    for directory in directories:
        files = rule_files(directory)
        packed_profiles = profile_files(directory)
        if not (files or packed_profiles or catalogue_files([directory])):
            message = "no rule files, profiles/ or providers/ catalogue (*.yaml) found"
            raise RuleFileError(message, path=directory, field="--rules")
        sources.append(str(directory))
        named = [(path, None) for path in files]
        for name, path in packed_profiles.items():
            if name in profiles:
                raise RuleFileError(f"profile {name} is defined twice", path=path, field="profile")
            profiles.append(name)
            named.append((path, name))
        for path, profile in named:
            for rule in load_rule_file(path, profile):
                if rule.id in seen:
                    line = rule.source.rpartition(":")[2]
                    raise RuleFileError(
                        f"duplicate rule id {rule.id} (also in {seen[rule.id]})",
                        path=path,
                        line=int(line) if line.isdigit() else None,
                        field="id",
                    )
                seen[rule.id] = rule.source
                compiled.append(rule)
    return RuleSet(tuple(compiled), tuple(sources), tuple(profiles))


def load_rule_file(path: Path, profile: str | None = None) -> list[CompiledRule]:
    data = load_located(path, RuleFileError)
    if not isinstance(data, dict):
        raise RuleFileError("expected a mapping with 'schema' and 'rules'", path=path, line=1)
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        location = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required field is missing"
        raise RuleFileError(
            message, path=path, line=line_of(data, location), field=dotted(location)
        ) from None
    rules = [_compile(rule, path, data, index) for index, rule in enumerate(parsed.rules)]
    return [dataclasses.replace(rule, profile=profile) for rule in rules] if profile else rules


def _compile(spec: RuleSpec, path: Path, data: Any, index: int) -> CompiledRule:
    roots = SELECTOR_ROOTS if spec.scope == "dkim_selector" else ROOTS
    item_roots = {**roots, "item": None}

    def fail(location: tuple[Any, ...], exc: CompileError) -> RuleFileError:
        full = ("rules", index, *location)
        return RuleFileError(str(exc), path=path, line=line_of(data, full), field=dotted(full))

    def expr(text: str, location: tuple[Any, ...]) -> Expression:
        try:
            return compile_condition(text, roots)
        except CompileError as exc:
            raise fail(location, exc) from None

    def template(text: str, location: tuple[Any, ...], with_item: bool = False) -> TextTemplate:
        try:
            return compile_template(text, item_roots if with_item else roots)
        except CompileError as exc:
            raise fail(location, exc) from None

    records = []
    for i, record in enumerate(spec.remediation.records):
        where = ("remediation", "records", i)
        each = expr(record.each, (*where, "each")) if record.each else None
        with_item = each is not None
        priority = None
        if record.priority is not None:
            priority = template(str(record.priority), (*where, "priority"), with_item)
        records.append(
            CompiledRecord(
                record,
                template(record.name, (*where, "name"), with_item),
                template(record.value, (*where, "value"), with_item),
                priority,
                each,
            )
        )
    line = line_of(data, ("rules", index))
    return CompiledRule(
        spec=spec,
        source=f"{path}:{line}",
        when=expr(spec.when, ("when",)) if spec.when else None,
        condition=expr(spec.condition, ("condition",)),
        message=template(spec.message, ("message",)),
        pass_message=template(spec.pass_message, ("pass_message",)) if spec.pass_message else None,
        evidence=tuple((label, expr(text, ("evidence", label))) for label, text in spec.evidence.items()),
        summary=template(spec.remediation.summary, ("remediation", "summary")),
        records=tuple(records),
        steps=tuple(template(s, ("remediation", "steps", i)) for i, s in enumerate(spec.remediation.steps)),
    )

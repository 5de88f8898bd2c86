"""Load an inventory into `DomainTarget`s; every error names file, line and field.

Provider and region names are checked against the provider catalogue (the built-in one unless a
caller passes its own): a provider added to the catalogue is accepted here without any code change.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from auditor.engine.catalogue import AUTO_REGION, Catalogue, load_catalogue
from auditor.errors import InputError
from auditor.inventory.schema import DefaultsSpec, DomainSpec, InventorySpec
from auditor.model.inventory import DomainTarget, SecretRef, SmtpSettings
from auditor.names import normalise_domain
from auditor.resources import rules_dir
from auditor.yamlsource import dotted, line_of, load_located

_CSV_FIELDS = (
    "name",
    "provider",
    "region",
    "dkim_selectors",
    "receiving",
    "tracking",
    "return_path_host",
    "tracking_host",
    "profiles",
)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}


def builtin_catalogue() -> Catalogue:
    """The provider catalogue shipped with sendready (`rules/providers/catalogue.yaml`)."""
    return load_catalogue(rules_dir() / "providers" / "catalogue.yaml")


def load_inventory(path: Path, catalogue: Catalogue | None = None) -> list[DomainTarget]:
    """Read a YAML (`.yaml`/`.yml`) or CSV (`.csv`) inventory; providers and regions must be known."""
    catalogue = catalogue or builtin_catalogue()
    if path.suffix.lower() == ".csv":
        return _load_csv(path, catalogue)
    return _load_yaml(path, catalogue)


def targets_from_names(
    names: list[str],
    *,
    provider: str = "mailgun",
    region: str = AUTO_REGION,
    catalogue: Catalogue | None = None,
) -> list[DomainTarget]:
    """Targets for domains typed on the command line, with the given provider and region."""
    catalogue = catalogue or builtin_catalogue()
    problem = provider_problem(catalogue, provider, region)
    if problem is not None:
        field, message = problem
        raise InputError(message, path="<command line>", field=f"--{field}")
    targets: list[DomainTarget] = []
    for raw in names:
        try:
            name = normalise_domain(raw)
        except ValueError as exc:
            raise InputError(str(exc), path="<command line>", field="DOMAIN") from None
        targets.append(
            _with_provider_defaults(
                DomainTarget(name=name, provider=provider, region=region, origin="<command line>"),
                catalogue,
                receiving=None,
                tracking=None,
            )
        )
    return _reject_duplicates(targets, Path("<command line>"))


def provider_problem(catalogue: Catalogue, provider: str, region: str) -> tuple[str, str] | None:
    """`(field, message)` when the catalogue does not know the provider or its region, else None."""
    spec = catalogue.providers.get(provider)
    if spec is None:
        known = ", ".join(sorted(catalogue.providers))
        return "provider", f"unknown provider {provider!r} (known: {known})"
    if region != AUTO_REGION and region not in spec.regions:
        choices = [repr(r) for r in (*spec.regions, AUTO_REGION)]
        expected = ", ".join(choices[:-1]) + " or " + choices[-1]
        return "region", f"{region!r} is not a region of {spec.title}: expected {expected}"
    return None


def _load_yaml(path: Path, catalogue: Catalogue) -> list[DomainTarget]:
    data = load_located(path)
    if not isinstance(data, dict):
        raise InputError("expected a mapping with a 'domains' list", path=path, line=1)
    try:
        spec = InventorySpec.model_validate(data)
    except ValidationError as exc:
        raise _located_error(exc, data, path) from None
    targets = []
    for i, domain in enumerate(spec.domains):
        target = _target(domain, spec.defaults, catalogue, origin=f"{path}:{line_of(data, ('domains', i))}")
        problem = provider_problem(catalogue, target.provider, target.region)
        if problem is not None:
            field, message = problem
            given_here = getattr(domain, field) is not None
            location = ("domains", i, field) if given_here else ("defaults", field)
            raise InputError(message, path=path, line=line_of(data, location), field=dotted(location))
        targets.append(target)
    return _reject_duplicates(targets, path)


def _located_error(exc: ValidationError, data: Any, path: Path) -> InputError:
    """The first validation error, as one line with file, line and dotted field."""
    error = exc.errors(include_url=False, include_input=False)[0]
    location = tuple(step for step in error["loc"] if not str(step).startswith("function-"))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required field is missing"
    return InputError(message, path=path, line=line_of(data, location), field=dotted(location))


def _target(spec: DomainSpec, defaults: DefaultsSpec, catalogue: Catalogue, *, origin: str) -> DomainTarget:
    smtp = None
    if spec.smtp is not None:
        scheme, _, where = spec.smtp.password.partition(":")
        smtp = SmtpSettings(
            username=spec.smtp.username,
            password=SecretRef(scheme, where),
            from_address=spec.smtp.from_address,
            recipient=spec.smtp.recipient,
            host=spec.smtp.host,
            port=spec.smtp.port,
            tls_name=spec.smtp.tls_name,
        )
    labels = {**defaults.labels, **(spec.labels or {})}
    target = DomainTarget(
        name=spec.name,
        provider=spec.provider or defaults.provider,
        region=spec.region or defaults.region,
        dkim_selectors=tuple(
            spec.dkim_selectors if spec.dkim_selectors is not None else defaults.dkim_selectors
        ),
        smtp=smtp,
        return_path_host=_under(spec.return_path_host, spec.name),
        tracking_host=_under(spec.tracking_host, spec.name),
        labels=tuple(sorted(labels.items())),
        origin=origin,
        profiles=tuple(dict.fromkeys(spec.profiles if spec.profiles is not None else defaults.profiles)),
    )
    return _with_provider_defaults(
        target,
        catalogue,
        receiving=defaults.receiving if spec.receiving is None else spec.receiving,
        tracking=defaults.tracking if spec.tracking is None else spec.tracking,
    )


def _with_provider_defaults(
    target: DomainTarget, catalogue: Catalogue, *, receiving: bool | None, tracking: bool | None
) -> DomainTarget:
    """`receiving`/`tracking` the inventory left open take the provider's catalogue defaults."""
    views = catalogue.provider_regions(target.provider)
    if receiving is None:
        receiving = views[0].receiving_default if views else True
    if tracking is None:
        tracking = views[0].tracking_default if views else True
    return dataclasses.replace(target, receiving=receiving, tracking=tracking)


def _under(host: str | None, domain: str) -> str | None:
    """A host named relative to the domain (`em1234`) or in full, as a full name."""
    if host is None:
        return None
    if host == domain or host.endswith("." + domain):
        return host
    return f"{host}.{domain}"


def _load_csv(path: Path, catalogue: Catalogue) -> list[DomainTarget]:
    """CSV with a header row; columns as in `_CSV_FIELDS`, only `name` required."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.__class__.__name__}", path=path) from None
    with handle:
        try:
            return _read_csv(handle, path, catalogue)
        except UnicodeDecodeError:
            raise InputError("invalid CSV: not UTF-8 text", path=path, line=_first_bad_line(path)) from None
        except csv.Error as exc:
            raise InputError(f"invalid CSV: {exc}", path=path) from None


def _first_bad_line(path: Path) -> int | None:
    """The 1-based line holding the first byte sequence that is not UTF-8."""
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


def _read_csv(handle: TextIO, path: Path, catalogue: Catalogue) -> list[DomainTarget]:
    reader = csv.DictReader(handle)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "name" not in header:
        raise InputError("header row must have a 'name' column", path=path, line=1)
    unknown = [h for h in header if h not in _CSV_FIELDS]
    if unknown:
        raise InputError("unknown column", path=path, line=1, field=unknown[0])
    reader.fieldnames = header
    targets: list[DomainTarget] = []
    for row in reader:
        if not any((v or "").strip() for v in row.values()):
            continue
        targets.append(_csv_target(row, path, reader.line_num, catalogue))
    if not targets:
        raise InputError("no domains in inventory", path=path)
    return _reject_duplicates(targets, path)


def _csv_target(row: dict[str, str | None], path: Path, line: int, catalogue: Catalogue) -> DomainTarget:
    values: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None:
            raise InputError("more cells than header columns", path=path, line=line)
        text = (raw or "").strip()
        if not text:
            continue
        if key in ("receiving", "tracking"):
            if text.lower() not in _TRUE | _FALSE:
                raise InputError("expected true or false", path=path, line=line, field=key)
            values[key] = text.lower() in _TRUE
        elif key in ("dkim_selectors", "profiles"):
            values[key] = [s for s in text.replace(";", " ").replace(",", " ").split() if s]
        else:
            values[key] = text
    try:
        spec = DomainSpec.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = str(error["loc"][0]) if error["loc"] else None
        message = error["msg"].removeprefix("Value error, ")
        raise InputError(message, path=path, line=line, field=field) from None
    target = _target(spec, DefaultsSpec(), catalogue, origin=f"{path}:{line}")
    problem = provider_problem(catalogue, target.provider, target.region)
    if problem is not None:
        raise InputError(problem[1], path=path, line=line, field=problem[0])
    return target


def _reject_duplicates(targets: list[DomainTarget], path: Path) -> list[DomainTarget]:
    seen: dict[str, str | None] = {}
    for target in targets:
        if target.name in seen:
            where = target.origin or str(path)
            file, _, line = where.rpartition(":")
            raise InputError(
                f"duplicate domain {target.name} (first at {seen[target.name]})",
                path=file or where,
                line=int(line) if line.isdigit() else None,
                field="name",
            )
        seen[target.name] = target.origin
    return targets

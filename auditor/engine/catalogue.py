"""The provider catalogue: hosts, includes, selectors and region tells, loaded from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditor.errors import RuleFileError
from auditor.yamlsource import dotted, line_of, load_located


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionSpec(_Strict):
    smtp_host: str
    api_base: str
    dashboard: str
    spf_includes: list[str] = Field(min_length=1)
    mx_hosts: list[str] = Field(min_length=1)
    mx_preference: int = 10
    tracking_target: str


class VerificationSpec(_Strict):
    required: Literal["always", "when_receiving", "when_tracking"]


class ProviderSpec(_Strict):
    title: str
    tracking_prefix: str
    dkim_selectors: list[str]
    verification: dict[Literal["spf", "dkim", "mx", "tracking"], VerificationSpec]
    regions: dict[str, RegionSpec] = Field(min_length=1)


class CatalogueFile(_Strict):
    schema_: Literal["sendready.providers/v1"] = Field(alias="schema")
    providers: dict[str, ProviderSpec]


@dataclass(frozen=True, slots=True)
class ProviderRegion:
    """One provider in one region, as rules see it (`provider.mx_hosts`, ...)."""

    name: str
    title: str
    region: str
    smtp_host: str
    api_base: str
    dashboard: str
    spf_includes: tuple[str, ...]
    spf_include: str
    mx_hosts: tuple[str, ...]
    mx_preference: int
    tracking_target: str
    tracking_prefix: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every provider known to this run, with its per-region views built once at load."""

    providers: dict[str, ProviderSpec]
    _views: dict[str, tuple[ProviderRegion, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        views = {
            name: tuple(_view(name, spec, r) for r in spec.regions) for name, spec in self.providers.items()
        }
        object.__setattr__(self, "_views", views)

    def provider_regions(self, provider: str) -> tuple[ProviderRegion, ...]:
        """The provider in each of its regions, in catalogue order (empty if unknown)."""
        return self._views.get(provider, ())

    def region(self, provider: str, region: str) -> ProviderRegion | None:
        return next((v for v in self.provider_regions(provider) if v.region == region), None)

    def regions(self, provider: str) -> tuple[str, ...]:
        return tuple(v.region for v in self.provider_regions(provider))


def _view(provider: str, spec: ProviderSpec, region: str) -> ProviderRegion:
    r = spec.regions[region]
    return ProviderRegion(
        name=provider,
        title=spec.title,
        region=region,
        smtp_host=r.smtp_host,
        api_base=r.api_base,
        dashboard=r.dashboard,
        spf_includes=tuple(r.spf_includes),
        spf_include=r.spf_includes[0],
        mx_hosts=tuple(h.lower() for h in r.mx_hosts),
        mx_preference=r.mx_preference,
        tracking_target=r.tracking_target.lower(),
        tracking_prefix=spec.tracking_prefix,
    )


def load_catalogue(path: Path) -> Catalogue:
    data = load_located(path, RuleFileError)
    try:
        parsed = CatalogueFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        location = tuple(error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise RuleFileError(
            message, path=path, line=line_of(data, location), field=dotted(location)
        ) from None
    return Catalogue(dict(parsed.providers))

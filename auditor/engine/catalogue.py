"""The provider catalogue (`sendready.providers/v2`): what each provider expects, per region, as data.

One YAML file (`rules/providers/catalogue.yaml`) describes every provider: submission hosts with
ports and TLS modes, SPF includes, DKIM selectors and record types (TXT key or CNAME to a provider
host, with the target pattern), MX, tracking and return-path hosts, ownership tokens, which DNS
records reveal the region, and what the provider checks before it calls a domain verified. Rules
read it as `provider.*`; the DNS collector reads the selectors and host labels; the SMTP plan reads
the submission hosts; the inventory loader reads provider and region names. Adding a provider is
an edit of that file, never of Python.

Provider-level values hold for every region; a region may override some of them. Text values may
use `{region}` and the region's own `vars` (`smtp.zoho.{dc}`), substituted at load, and the
per-domain holes of `auditor.engine.patterns` (`{domain_dashed}`, `<tenant>`), filled at evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from auditor.engine.patterns import RUNTIME_FIELDS
from auditor.errors import RuleFileError
from auditor.yamlsource import dotted, line_of, load_located

CATALOGUE_SCHEMA = "sendready.providers/v2"
AUTO_REGION = "auto"
TELL_KINDS = ("mx", "tracking", "return_path", "dkim", "spf")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_NAME = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PortSpec(_Strict):
    port: int = Field(ge=1, le=65535)
    tls: Literal["starttls", "implicit"] = Field(
        description="starttls: plain connect, then STARTTLS (RFC 3207); implicit: TLS from the first byte."
    )


class SubmissionHostSpec(_Strict):
    host: str = Field(min_length=3)
    ports: list[PortSpec] = Field(min_length=1, description="The first port is the one probed by default.")
    note: str | None = None


class SmtpSpec(_Strict):
    login: Literal["domain_address", "mailbox", "api_key", "fixed", "access_key", "server_token"] = Field(
        description="What the SMTP username is: a login@<sending domain> credential (Mailgun), a mailbox "
        "address, the API key, a fixed string, an access key id, or a server token."
    )
    username: str | None = Field(default=None, description="The fixed username, when login is 'fixed'.")
    hosts: list[SubmissionHostSpec] = Field(min_length=1)
    note: str | None = None


class SpfSpec(_Strict):
    includes: list[str] = Field(
        default_factory=list, description="The first is the one to publish; the others are accepted."
    )
    required: bool = Field(description="Whether the sending domain itself must publish the include.")


class DkimKeySpec(_Strict):
    selectors: list[str] = Field(min_length=1, description="Glob patterns (fnmatch) of selector names.")
    type: Literal["TXT", "CNAME"]
    targets: list[str] = Field(
        default_factory=list, description="CNAME targets; the first is the one to publish."
    )
    txt_allowed: bool = Field(
        default=False, description="A TXT key published directly is accepted too (SES BYODKIM)."
    )

    @model_validator(mode="after")
    def _cname_needs_targets(self) -> DkimKeySpec:
        if self.type == "CNAME" and not self.targets:
            raise ValueError("a CNAME key needs at least one target")
        return self


class DkimSpec(_Strict):
    discover: list[str] = Field(
        default_factory=list,
        description="Selectors tried, in order, when the inventory names none (empty: not discoverable).",
    )
    keys: list[DkimKeySpec] = Field(
        default_factory=list, description="The first entry whose selectors match decides; default TXT."
    )
    hint: str = Field(min_length=1, description="Where the provider's console shows the DKIM records.")


class MxEntrySpec(_Strict):
    host: str
    preference: int = Field(ge=0, le=65535)


class MxSpec(_Strict):
    expected_by_default: bool = Field(
        description="The inventory's `receiving` when it says nothing: does this provider receive mail?"
    )
    sets: list[list[MxEntrySpec]] = Field(
        default_factory=list, description="Accepted MX sets; the first is the one to publish."
    )


class TrackingSpec(_Strict):
    label: str | None = Field(description="Host label under the domain (None: chosen per account).")
    expected_by_default: bool
    targets: list[str] = Field(min_length=1, description="CNAME targets; the first is the one to publish.")
    hint: str = Field(min_length=1)


class ReturnPathSpec(_Strict):
    label: str | None = Field(description="Default host label (None: chosen per account, name it).")
    required: bool = Field(description="False: an optional feature (SES custom MAIL FROM).")
    hint: str = Field(min_length=1, description="Where the console shows this record.")
    cname_targets: list[str] = Field(default_factory=list)
    mx: list[MxEntrySpec] = Field(default_factory=list)
    spf_include: str | None = None

    @model_validator(mode="after")
    def _some_form(self) -> ReturnPathSpec:
        if not self.cname_targets and not self.mx:
            raise ValueError("give cname_targets or mx")
        return self


class MailFromSpec(_Strict):
    """Which domain the provider puts in the envelope sender (MAIL FROM), for DMARC SPF alignment.

    SPF authenticates the MAIL FROM domain (RFC 7208 §2.4); DMARC counts it only when it aligns
    with the From domain (RFC 7489 §3.1.2). `sending_domain`: the audited domain itself (Mailgun's
    `bounce+…@<domain>`, a mailbox provider's user address); `return_path`: the domain's own
    return-path host when it is set up (the `return_path` record), else `bounce_domain`;
    `provider`: always the provider's own bounce domain, so SPF never aligns.
    """

    uses: Literal["sending_domain", "return_path", "provider"]
    bounce_domain: str | None = Field(
        default=None, description="The provider's own MAIL FROM domain, when documented."
    )
    note: str | None = None


class OwnershipSpec(_Strict):
    txt_prefix: str = Field(min_length=2, description="Start of the token's TXT value at the domain.")
    required: bool
    hint: str = Field(min_length=1)


class VerificationSpec(_Strict):
    required: Literal["always", "when_receiving", "when_tracking", "optional"]


VerifiedRecord = Literal["spf", "dkim", "mx", "tracking", "return_path", "ownership", "dmarc"]


class RegionSpec(_Strict):
    """One region or data centre; every field but `label` overrides the provider-level value."""

    label: str = Field(min_length=1, description="How messages name the region: 'US', 'eu-west-1'.")
    vars: dict[str, str] = Field(default_factory=dict, description="Extra `{name}` values for templates.")
    dashboard: str | None = None
    api_base: str | None = None
    smtp_hosts: list[SubmissionHostSpec] | None = None
    spf_includes: list[str] | None = None
    dkim_keys: list[DkimKeySpec] | None = None
    mx_sets: list[list[MxEntrySpec]] | None = None
    tracking_targets: list[str] | None = None
    return_path_cname_targets: list[str] | None = None
    return_path_mx: list[MxEntrySpec] | None = None
    note: str | None = None


class ProviderSpec(_Strict):
    title: str = Field(min_length=2)
    docs: str = Field(pattern=r"^https://")
    dashboard: str = Field(pattern=r"^https://")
    api_base: str | None = None
    default_region: str | None = Field(
        default=None, description="Used when the inventory says auto and DNS reveals nothing."
    )
    region_tells: list[Literal["mx", "tracking", "return_path", "dkim", "spf"]] = Field(
        default_factory=list,
        description="DNS evidence that reveals the region, strongest first (it wins a conflict).",
    )
    smtp: SmtpSpec
    spf: SpfSpec
    dkim: DkimSpec
    mx: MxSpec
    tracking: TrackingSpec | None = None
    return_path: ReturnPathSpec | None = None
    ownership: OwnershipSpec | None = None
    verification: dict[VerifiedRecord, VerificationSpec]
    regions: dict[str, RegionSpec] = Field(min_length=1)
    mail_from: MailFromSpec | None = Field(
        default=None, description="The envelope sender domain (DMARC SPF alignment); None: not known."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ProviderSpec:
        for region in self.regions:
            if region == AUTO_REGION or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", region):
                raise ValueError(f"invalid region name {region!r}")
        if self.default_region is not None and self.default_region not in self.regions:
            raise ValueError(f"default_region {self.default_region!r} is not one of the regions")
        for name, region in self.regions.items():
            known = RUNTIME_FIELDS | {"region"} | set(region.vars)
            for text in _strings(self.model_dump(exclude={"regions"})) + _strings(region.model_dump()):
                for hole in _PLACEHOLDER.findall(text):
                    if hole not in known:
                        raise ValueError(f"unknown placeholder {{{hole}}} (region {name})")
        return self


class CatalogueFile(_Strict):
    schema_: Literal["sendready.providers/v2"] = Field(alias="schema")
    providers: dict[str, ProviderSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> CatalogueFile:
        for name in self.providers:
            if not re.fullmatch(_NAME, name):
                raise ValueError(f"provider name {name!r} must be lower-case words joined by '-'")
        return self


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@dataclass(frozen=True, slots=True)
class DkimKind:
    """How the provider publishes keys for the selectors that match `selectors`."""

    selectors: tuple[str, ...]
    type: str
    targets: tuple[str, ...] = ()
    txt_allowed: bool = False

    def covers(self, selector: str) -> bool:
        return any(fnmatchcase(selector.lower(), pattern.lower()) for pattern in self.selectors)


@dataclass(frozen=True, slots=True)
class MxEntry:
    """One MX record to publish or accept (the host may hold `{domain_dashed}` / `<...>` holes)."""

    host: str
    preference: int


@dataclass(frozen=True, slots=True)
class SubmissionPort:
    port: int
    tls: str


@dataclass(frozen=True, slots=True)
class ProviderRegion:
    """One provider in one region, as rules see it (`provider.mx_hosts`, ...).

    Every field is plain data; per-domain patterns are rendered by the rule helpers in
    `auditor.engine.provider_helpers`.
    """

    name: str
    title: str
    region: str
    region_label: str
    regions: tuple[str, ...]
    """Every region of the provider, in catalogue order."""
    multi_region: bool
    docs: str
    dashboard: str
    api_base: str | None
    # Submission
    smtp_host: str
    smtp_hosts: tuple[str, ...]
    smtp_port: int
    smtp_ports: tuple[SubmissionPort, ...]
    smtp_ports_text: str
    """The ports to suggest, e.g. `587 (STARTTLS), 2525 (STARTTLS) or 465 (TLS)` (see `_ports_text`)."""
    smtp_login: str
    smtp_username: str | None
    # SPF at the sending domain
    spf_include: str | None
    spf_includes: tuple[str, ...]
    spf_required: bool
    # DKIM
    dkim_selectors: tuple[str, ...]
    dkim_discoverable: bool
    dkim_kinds: tuple[DkimKind, ...]
    dkim_hint: str
    # MX
    receiving_default: bool
    mx_sets: tuple[tuple[MxEntry, ...], ...]
    mx_hosts: tuple[str, ...]
    mx_preference: int | None
    # Tracking
    tracking_prefix: str | None
    tracking_target: str | None
    tracking_targets: tuple[str, ...]
    tracking_default: bool
    tracking_hint: str | None
    # Return path / bounce domain
    return_path_type: str | None
    return_path_label: str | None
    return_path_required: bool
    return_path_targets: tuple[str, ...]
    return_path_mx: tuple[MxEntry, ...]
    return_path_spf_include: str | None
    return_path_hint: str | None
    # Ownership token
    ownership_prefix: str | None
    ownership_required: bool
    ownership_hint: str | None
    region_tells: tuple[str, ...]
    # Envelope sender (MAIL FROM) for DMARC SPF alignment; None when the catalogue does not say
    mail_from: str | None = None
    bounce_domain: str | None = None


_TXT_KEY = DkimKind(("*",), "TXT")


def dkim_kind(kinds: Iterable[DkimKind], selector: str) -> DkimKind:
    """The first key kind whose selector patterns match `selector`; a plain TXT key otherwise."""
    return next((k for k in kinds if k.covers(selector)), _TXT_KEY)


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

    def default_region(self, provider: str) -> str | None:
        """The region to assume when nothing reveals one: the declared default, or the only region."""
        spec = self.providers.get(provider)
        if spec is None:
            return None
        if spec.default_region is not None:
            return spec.default_region
        return next(iter(spec.regions)) if len(spec.regions) == 1 else None


def common_attributes(regions: Iterable[ProviderRegion]) -> dict[str, Any]:
    """What a provider says regardless of region: the fields equal in every region.

    `spf_includes` is the union instead (every region's accepted include is accepted when the region
    is unknown: Mailgun documents include:mailgun.org for both regions, provider-facts §1.3).
    Region-specific fields are left out, so a rule reading them while the region is unknown becomes
    `unknown` rather than guessing.
    """
    views = list(regions)
    if not views:
        return {}
    first = views[0]
    out: dict[str, Any] = {}
    for name in ProviderRegion.__dataclass_fields__:
        value = getattr(first, name)
        if all(getattr(v, name) == value for v in views[1:]):
            out[name] = value
    out["spf_includes"] = tuple(dict.fromkeys(i for v in views for i in v.spf_includes))
    out.pop("region", None)
    out.pop("region_label", None)
    return out


def _ports_text(ports: Iterable[PortSpec]) -> str:
    """`587 (STARTTLS), 2525 (STARTTLS) or 465 (TLS)`; port 25 is left out, as the port most
    networks block (provider-facts §1.2)."""
    words = [f"{p.port} ({'TLS' if p.tls == 'implicit' else 'STARTTLS'})" for p in ports if p.port != 25]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _substitute(value: str, variables: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), value)


def _mx(entries: Iterable[MxEntrySpec], variables: dict[str, str]) -> tuple[MxEntry, ...]:
    return tuple(MxEntry(_substitute(e.host, variables).lower(), e.preference) for e in entries)


def _view(provider: str, spec: ProviderSpec, region: str) -> ProviderRegion:
    r = spec.regions[region]
    variables = {"region": region, **r.vars}

    def sub(value: str) -> str:
        return _substitute(value, variables)

    def subs(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(sub(v).lower() for v in values)

    hosts = r.smtp_hosts if r.smtp_hosts is not None else spec.smtp.hosts
    includes = subs(r.spf_includes if r.spf_includes is not None else spec.spf.includes)
    key_specs = r.dkim_keys if r.dkim_keys is not None else spec.dkim.keys
    kinds = tuple(DkimKind(tuple(k.selectors), k.type, subs(k.targets), k.txt_allowed) for k in key_specs)
    mx_sets = tuple(_mx(s, variables) for s in (r.mx_sets if r.mx_sets is not None else spec.mx.sets))
    tracking = spec.tracking
    tracking_targets: tuple[str, ...] = ()
    if tracking is not None:
        tracking_targets = subs(r.tracking_targets if r.tracking_targets is not None else tracking.targets)
    rp = spec.return_path
    rp_targets: tuple[str, ...] = ()
    rp_mx: tuple[MxEntry, ...] = ()
    rp_type = None
    if rp is not None:
        rp_targets = subs(r.return_path_cname_targets or rp.cname_targets)
        rp_mx = _mx(r.return_path_mx if r.return_path_mx is not None else rp.mx, variables)
        rp_type = "CNAME" if rp_targets else "MX"
    first_set = mx_sets[0] if mx_sets else ()
    return ProviderRegion(
        name=provider,
        title=spec.title,
        region=region,
        region_label=r.label,
        regions=tuple(spec.regions),
        multi_region=len(spec.regions) > 1,
        docs=spec.docs,
        dashboard=sub(r.dashboard or spec.dashboard),
        api_base=sub(r.api_base or spec.api_base) if (r.api_base or spec.api_base) else None,
        smtp_host=sub(hosts[0].host).lower(),
        smtp_hosts=tuple(sub(h.host).lower() for h in hosts),
        smtp_port=hosts[0].ports[0].port,
        smtp_ports=tuple(SubmissionPort(p.port, p.tls) for p in hosts[0].ports),
        smtp_ports_text=_ports_text(hosts[0].ports),
        smtp_login=spec.smtp.login,
        smtp_username=spec.smtp.username,
        spf_include=includes[0] if includes else None,
        spf_includes=includes,
        spf_required=spec.spf.required,
        dkim_selectors=tuple(s.lower() for s in spec.dkim.discover),
        dkim_discoverable=bool(spec.dkim.discover),
        dkim_kinds=kinds,
        dkim_hint=sub(spec.dkim.hint),
        receiving_default=spec.mx.expected_by_default,
        mx_sets=mx_sets,
        mx_hosts=tuple(e.host for e in first_set),
        mx_preference=first_set[0].preference if first_set else None,
        tracking_prefix=tracking.label if tracking else None,
        tracking_target=tracking_targets[0] if tracking_targets else None,
        tracking_targets=tracking_targets,
        tracking_default=tracking.expected_by_default if tracking else False,
        tracking_hint=sub(tracking.hint) if tracking else None,
        return_path_type=rp_type,
        return_path_label=rp.label if rp else None,
        return_path_required=rp.required if rp else False,
        return_path_targets=rp_targets,
        return_path_mx=rp_mx,
        return_path_spf_include=rp.spf_include if rp else None,
        return_path_hint=sub(rp.hint) if rp else None,
        ownership_prefix=spec.ownership.txt_prefix if spec.ownership else None,
        ownership_required=spec.ownership.required if spec.ownership else False,
        ownership_hint=sub(spec.ownership.hint) if spec.ownership else None,
        region_tells=tuple(spec.region_tells),
        mail_from=spec.mail_from.uses if spec.mail_from else None,
        bounce_domain=sub(spec.mail_from.bounce_domain).lower()
        if spec.mail_from and spec.mail_from.bounce_domain
        else None,
    )


def iter_errors(exc: ValidationError) -> Iterator[tuple[tuple[Any, ...], str]]:
    for error in exc.errors(include_url=False, include_input=False):
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        yield tuple(error["loc"]), message.removeprefix("Value error, ")


CATALOGUE_FOLDER = "providers"
"""The folder, inside a rule directory, whose YAML files are provider catalogues."""


def load_catalogue(path: Path) -> Catalogue:
    """Load and validate a catalogue file; a problem stops the run with `file:line: field: message`."""
    return Catalogue(_providers(path))


def catalogue_files(rule_dirs: Sequence[Path]) -> tuple[Path, ...]:
    """The catalogue files of `rule_dirs` in order: each directory's `providers/*.yaml`, sorted.

    The built-in rule directory comes first, so its `providers/catalogue.yaml` is the base that a
    rule pack's own catalogue extends (`--rules DIR` with `DIR/providers/*.yaml`).
    """
    return tuple(
        path
        for directory in rule_dirs
        for path in sorted((directory / CATALOGUE_FOLDER).glob("*.y*ml"))
        if path.suffix in (".yaml", ".yml")
    )


def load_catalogues(paths: Sequence[Path]) -> Catalogue:
    """The providers of every file in `paths`; a later file's provider replaces an earlier one's.

    That is how a user adds a provider, or overrides a built-in one (a new region, a host that
    moved), with YAML only: a file validated against the same schema as the built-in catalogue.
    """
    providers: dict[str, ProviderSpec] = {}
    for path in paths:
        providers.update(_providers(path))
    if not providers:
        raise RuleFileError("no provider catalogue found", field=CATALOGUE_FOLDER)
    return Catalogue(providers)


def _providers(path: Path) -> dict[str, ProviderSpec]:
    data = load_located(path, RuleFileError)
    try:
        parsed = CatalogueFile.model_validate(data)
    except ValidationError as exc:
        location, message = next(iter_errors(exc))
        raise RuleFileError(
            message, path=path, line=line_of(data, location), field=dotted(location)
        ) from None
    return dict(parsed.providers)

"""`sendready`: audit sending domains, list and check rules.

Every error the user can fix is one line on stderr naming file, line and field, with exit code 2;
tracebacks never reach the terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import dns.resolver
import typer
from rich.console import Console
from rich.text import Text

from auditor._version import __version__
from auditor.audit import AuditSettings
from auditor.cli.console import INTERRUPTED, print_totals
from auditor.cli.exit_codes import ExitCode
from auditor.cli.scaled import JSONL, Finished, run_merge, run_scaled, scale_options
from auditor.collect.dns.network import Nameserver
from auditor.collect.mailgun_api import api_base_urls
from auditor.collect.mta_sts_fetch import parse_connect_to
from auditor.collect.smtp.secrets import SecretUnavailable, resolve_secret
from auditor.engine.catalogue import Catalogue, catalogue_files, load_catalogues
from auditor.engine.profiles import check_profile_names, with_profiles
from auditor.engine.rules import RuleSet, load_rules
from auditor.errors import AuditorError, InputError
from auditor.inventory import load_inventory, targets_from_names
from auditor.model.findings import Severity
from auditor.model.inventory import SecretRef
from auditor.protocol.dnssec import load_trust_anchors
from auditor.reporters import REPORTERS, SUFFIX_FORMATS
from auditor.resources import rules_dir
from auditor.scale.backends import BackendSpec
from auditor.scale.jsonl import JSONL_SUFFIX
from auditor.scale.session import Engine

app = typer.Typer(
    name="sendready",
    help="Is every domain you send email from ready to send?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
rules_app = typer.Typer(help="List, show and check audit rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


class FailOn(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    NEVER = "never"


class Format(StrEnum):
    HTML = "html"
    MD = "md"
    JSON = "json"
    JSONL = "jsonl"


# Options that `audit` and `merge` share, declared once so their names and help stay the same.
FormatsOption = Annotated[
    list[Format] | None,
    typer.Option("--format", help="Report format (repeatable). Default: from --output's suffix."),
]
FailOnOption = Annotated[
    FailOn, typer.Option("--fail-on", help="Exit 1 when a check fails at or above this severity.")
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Also exit 1 when such a check could not be verified.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No terminal summary.")]


AUDIT_EPILOG = """Examples:

  sendready audit examples/inventory.yaml --zone-dir examples/zones --output report.html

  sendready audit mg.example.com --region eu --format json --output -

  sendready audit domains.csv --nameserver 127.0.0.1:5353 --format html --format json --output out/report

  sendready audit domains.csv --nameserver 127.0.0.1:5353 --format jsonl --output audit.jsonl --resume

  sendready audit domains.csv --shard 2/8 --format jsonl --output shard-2.jsonl

Exit codes: 0 nothing failed at or above --fail-on; 1 something did; 2 bad input (one line names
file, line and field); 3 incomplete (a worker died; --resume continues); 130 interrupted (reports
written are marked incomplete)."""


@app.command(epilog=AUDIT_EPILOG)
def audit(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INVENTORY|DOMAIN...",
            help="An inventory file (.yaml, .yml or .csv) or one or more domain names.",
            show_default=False,
        ),
    ],
    zone_dir: Annotated[
        Path | None,
        typer.Option("--zone-dir", help="Answer every DNS lookup from the BIND zone files (*.zone) here."),
    ] = None,
    nameserver: Annotated[
        list[str] | None,
        typer.Option(
            "--nameserver",
            metavar="HOST[:PORT]",
            help="Resolver to ask (repeatable). Default: the system's resolvers.",
        ),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            metavar="DIR",
            help="Extra rule directory (repeatable), added to the built-in rules.",
        ),
    ] = None,
    formats: FormatsOption = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            metavar="PATH",
            help="Report file; with several formats, the suffix is set per format. '-' for stdout.",
        ),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            help="Compliance profile for every domain (repeatable): gmail-yahoo-2024, strict, parked.",
        ),
    ] = None,
    fail_on: FailOnOption = FailOn.ERROR,
    strict: StrictOption = False,
    provider: Annotated[
        str, typer.Option("--provider", help="Provider for domains named on the command line.")
    ] = "mailgun",
    region: Annotated[
        str,
        typer.Option(
            "--region",
            help="Region for domains named on the command line (us, eu, eu-west-1, ...; auto: from DNS).",
        ),
    ] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", min=0.05, help="Seconds per DNS attempt.")] = 2.0,
    attempts: Annotated[
        int, typer.Option("--attempts", min=1, max=10, help="DNS attempts per question.")
    ] = 3,
    max_in_flight: Annotated[
        int,
        typer.Option("--max-in-flight", min=1, max=20000, help="DNS questions in flight at once."),
    ] = 200,
    qps: Annotated[
        float | None,
        typer.Option("--qps", min=1, help="Cap on DNS questions per second (be kind to public resolvers)."),
    ] = None,
    quiet: QuietOption = False,
    no_smtp: Annotated[
        bool, typer.Option("--no-smtp", help="Skip SMTP submission probes (DNS only).")
    ] = False,
    smtp_ca_file: Annotated[
        Path | None,
        typer.Option("--smtp-ca-file", metavar="PEM", help="CA bundle for a private relay's certificate."),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify SMTP certificates (reported as such).")
    ] = False,
    smtp_timeout: Annotated[
        float, typer.Option("--smtp-timeout", min=0.1, help="Seconds per SMTP step.")
    ] = 10.0,
    smtp_data: Annotated[
        bool,
        typer.Option(
            "--smtp-data",
            help="Also send DATA and hang up at 354 (no message is ever sent); finds sandbox refusals.",
        ),
    ] = False,
    smtp_per_host: Annotated[
        int, typer.Option("--smtp-per-host", min=1, max=50, help="Probes at once per SMTP host.")
    ] = 2,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the --format jsonl output of an interrupted audit of the same inventory.",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Audit only shard I of N (by a hash of the domain name); merge with `sendready merge`.",
        ),
    ] = None,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            metavar="K|auto",
            help="Worker processes (1: this process only). auto: 1 below 1,000 domains, "
            "else one per CPU, at most 4.",
        ),
    ] = "auto",
    mailgun_api_key: Annotated[
        str | None,
        typer.Option(
            "--mailgun-api-key",
            metavar="env:NAME|file:PATH",
            help="Cross-check each Mailgun domain with the account's domains API (key by reference only).",
        ),
    ] = None,
    mailgun_api_url: Annotated[
        list[str] | None,
        typer.Option(
            "--mailgun-api-url",
            metavar="REGION=URL",
            help="Domains API base URL for a region (repeatable; private gateways and tests).",
        ),
    ] = None,
    api_ca_file: Annotated[
        Path | None,
        typer.Option("--api-ca-file", metavar="PEM", help="CA bundle for the API's certificate."),
    ] = None,
    no_mta_sts_fetch: Annotated[
        bool,
        typer.Option("--no-mta-sts-fetch", help="Do not fetch MTA-STS policies over HTTPS (rules: unknown)."),
    ] = False,
    mta_sts_ca_file: Annotated[
        Path | None,
        typer.Option("--mta-sts-ca-file", metavar="PEM", help="CA bundle for MTA-STS policy hosts."),
    ] = None,
    mta_sts_connect: Annotated[
        list[str] | None,
        typer.Option(
            "--mta-sts-connect",
            metavar="HOST=ADDRESS:PORT",
            help="Fetch the policy of mta-sts HOST (or *) from ADDRESS:PORT, keeping the name for TLS "
            "(repeatable; private networks and tests).",
        ),
    ] = None,
    dnssec: Annotated[
        bool,
        typer.Option(
            "--dnssec",
            help="Validate each domain's DNSSEC chain from the root trust anchor (~3 more queries a domain).",
        ),
    ] = False,
    trust_anchor: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchor",
            metavar="FILE",
            help="DS or DNSKEY records (zone format) to validate from instead of the IANA root KSKs.",
        ),
    ] = None,
) -> None:
    """Audit domains: DNS facts, provider rules, and a report with the records to publish."""
    stdout = Console(highlight=False, soft_wrap=False)
    stderr = Console(stderr=True, highlight=False)
    try:
        rule_dirs = _rule_dirs(rules)
        catalogue_paths = catalogue_files(rule_dirs)
        catalogue = load_catalogues(catalogue_paths)
        targets, inventory = _targets(inputs, provider, region.strip().lower(), catalogue)
        outputs = _outputs(formats, output)
        ruleset = load_rules(rule_dirs)
        targets = with_profiles(targets, profile or [], ruleset.profiles)
        backend_spec = _backend(zone_dir, nameserver, timeout, attempts)
        backend = backend_spec.build()
        scale = scale_options(outputs, shard=shard, resume=resume, workers=workers, domains=len(targets))
    except AuditorError as exc:
        _fail(stderr, exc)
    if smtp_ca_file is not None and not smtp_ca_file.is_file():
        _fail(stderr, InputError("file not found", path=smtp_ca_file, field="--smtp-ca-file"))
    if api_ca_file is not None and not api_ca_file.is_file():
        _fail(stderr, InputError("file not found", path=api_ca_file, field="--api-ca-file"))
    if mta_sts_ca_file is not None and not mta_sts_ca_file.is_file():
        _fail(stderr, InputError("file not found", path=mta_sts_ca_file, field="--mta-sts-ca-file"))
    try:
        api_key = _api_key(mailgun_api_key, os.environ)
        api_urls = _api_urls(mailgun_api_url or [], catalogue)
        connect_to = _connect_to(mta_sts_connect or [])
        if trust_anchor is not None:
            load_trust_anchors(trust_anchor)  # a bad file stops the run here, with its line
        if (dnssec or trust_anchor is not None) and zone_dir is not None:
            # Every domain would be "could not verify": say so once, before any query.
            raise InputError("zone files carry no signatures to validate; use --nameserver", field="--dnssec")
    except AuditorError as exc:
        _fail(stderr, exc)
    settings = AuditSettings(
        max_in_flight=max_in_flight,
        queries_per_second=qps,
        inventory=inventory,
        smtp_probes=not no_smtp,
        smtp_ca_file=str(smtp_ca_file) if smtp_ca_file else None,
        smtp_insecure=insecure,
        smtp_timeout=smtp_timeout,
        smtp_deep_data=smtp_data,
        smtp_per_host=smtp_per_host,
        environ=dict(os.environ),
        mailgun_api_key=api_key,
        mailgun_api_urls=api_urls,
        api_ca_file=str(api_ca_file) if api_ca_file else None,
        mta_sts_fetch=not no_mta_sts_fetch,
        mta_sts_ca_file=str(mta_sts_ca_file) if mta_sts_ca_file else None,
        mta_sts_connect=connect_to,
        dnssec=dnssec or trust_anchor is not None,
        trust_anchor=str(trust_anchor) if trust_anchor else None,
    )
    # Every audit takes the same path: reports are streamed to disk as domains finish and the
    # JSON/HTML/Markdown reports are rendered from there, so memory stays flat at any size.
    engine = Engine(ruleset, catalogue, backend, backend_spec, tuple(rule_dirs), catalogue_paths, settings)
    try:
        finished = run_scaled(targets, inventory, outputs, scale, engine, stderr)
    except AuditorError as exc:
        _fail(stderr, exc)
    _finish(finished, outputs, fail_on, strict, quiet, stdout, stderr)


MERGE_EPILOG = """Examples:

  sendready merge shard-*.jsonl --format html --output report.html

  sendready merge shard-1.jsonl shard-2.jsonl --format jsonl --format json --output out/audit

The files must be shards 1..N of one audit (same inventory, same rules, each shard once), or one
unsharded stream. The report says complete only if every shard was complete. Exit codes as for
audit; 3 when a shard was incomplete."""


@app.command("merge", epilog=MERGE_EPILOG)
def merge(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="JSON Lines streams written by `audit --format jsonl`."),
    ],
    formats: FormatsOption = None,
    output: Annotated[
        str | None,
        typer.Option("--output", metavar="PATH", help="Report file (as for audit). '-' for stdout."),
    ] = None,
    fail_on: FailOnOption = FailOn.ERROR,
    strict: StrictOption = False,
    quiet: QuietOption = False,
) -> None:
    """Merge the JSON Lines streams of a sharded audit into one report (any format)."""
    stdout = Console(highlight=False, soft_wrap=False)
    stderr = Console(stderr=True, highlight=False)
    try:
        outputs = _outputs(formats, output)
        if not outputs:
            raise InputError("merge needs --output PATH (or '-' with one --format)", field="--output")
        finished = run_merge(files, outputs)
    except AuditorError as exc:
        _fail(stderr, exc)
    _finish(finished, outputs, fail_on, strict, quiet, stdout, stderr)


def _finish(
    finished: Finished,
    outputs: list[tuple[str, Path | None]],
    fail_on: FailOn,
    strict: bool,
    quiet: bool,
    stdout: Console,
    stderr: Console,
) -> None:
    """Terminal summary and exit code, the same for every path (single process, streamed, merge)."""
    if finished.failure:
        message = f"sendready: error: {finished.failure}; the report is marked incomplete"
        stderr.print(Text(message), soft_wrap=True)
    if not quiet:
        summary_console = stderr if any(p is None for _, p in outputs) else stdout
        warning = None
        if finished.failure:
            warning = "AUDIT INCOMPLETE: the results below are incomplete (--resume continues an audit)."
        elif not finished.complete:
            warning = INTERRUPTED
        print_totals(finished.summary, warning, finished.table, summary_console)
        for fmt, path in outputs:
            if path is not None:
                summary_console.print(Text(f"Wrote {fmt} report: {path}"))
    raise typer.Exit(int(_exit_code(finished, fail_on, strict)))


def _api_key(text: str | None, environ: Mapping[str, str]) -> SecretRef | None:
    """The key's reference, checked now so that a typo is a usage error, not 2,000 unknowns."""
    if text is None:
        return None
    try:
        ref = SecretRef.parse(text)
    except ValueError as exc:
        raise InputError(str(exc), field="--mailgun-api-key") from None
    try:
        resolve_secret(ref, environ)  # only to check it can be read; resolved again in the run
    except SecretUnavailable as exc:
        raise InputError(f"{exc.ref}: {exc.reason}", field="--mailgun-api-key") from None
    return ref


def _api_urls(given: list[str], catalogue: Catalogue) -> dict[str, str] | None:
    """`REGION=URL` pairs over the catalogue's base URLs; None when nothing was given."""
    if not given:
        return None
    urls = api_base_urls(catalogue)
    for item in given:
        region, equals, url = item.partition("=")
        region = region.strip().lower()
        if not equals or region not in urls:
            raise InputError(
                f"expected REGION=URL with REGION one of {', '.join(urls)}, got {item!r}",
                field="--mailgun-api-url",
            )
        if not url.startswith(("https://", "http://")):
            raise InputError(f"not an http(s) URL: {url!r}", field="--mailgun-api-url")
        urls[region] = url
    return urls


def _connect_to(given: list[str]) -> dict[str, tuple[str, int]] | None:
    """`HOST=ADDRESS:PORT` pairs for MTA-STS policy fetches; None when nothing was given."""
    out: dict[str, tuple[str, int]] = {}
    for item in given:
        try:
            host, target = parse_connect_to(item)
        except ValueError as exc:
            raise InputError(str(exc), field="--mta-sts-connect") from None
        out[host] = target
    return out or None


def _fail(console: Console, exc: AuditorError) -> None:
    console.print(Text(f"sendready: error: {exc}"), soft_wrap=True)
    raise typer.Exit(int(ExitCode.USAGE))


def _targets(inputs: list[str], provider: str, region: str, catalogue: Catalogue) -> tuple[list, str | None]:
    if len(inputs) == 1:
        candidate = Path(inputs[0])
        looks_like_file = candidate.suffix.lower() in (".yaml", ".yml", ".csv")
        if candidate.is_file() or looks_like_file:
            return load_inventory(candidate, catalogue), str(candidate)
    return targets_from_names(inputs, provider=provider, region=region, catalogue=catalogue), None


def _suffix(fmt: str) -> str:
    return JSONL_SUFFIX if fmt == JSONL else REPORTERS[fmt][1]


def _outputs(formats: list[Format] | None, output: str | None) -> list[tuple[str, Path | None]]:
    chosen = [f.value for f in formats or []]
    chosen = list(dict.fromkeys(chosen))
    if output is None:
        if chosen:
            raise InputError("--format needs --output PATH (or '-' for stdout)", field="--output")
        return []
    if output == "-":
        if len(chosen) != 1:
            raise InputError("--output - needs exactly one --format", field="--output")
        return [(chosen[0], None)]
    path = Path(output)
    if not chosen:
        fmt = {**SUFFIX_FORMATS, JSONL_SUFFIX: JSONL}.get(path.suffix.lower())
        if fmt is None:
            raise InputError(
                f"cannot tell the format from {path.name!r}; add --format html|md|json|jsonl",
                field="--output",
            )
        return [(fmt, path)]
    if len(chosen) == 1:
        return [(chosen[0], path)]
    known = (*SUFFIX_FORMATS, JSONL_SUFFIX)
    stem = path.with_suffix("") if path.suffix.lower() in known else path
    return [(f, stem.with_name(stem.name + _suffix(f))) for f in chosen]


def _rule_dirs(extra: list[Path] | None) -> list[Path]:
    return [rules_dir(), *(extra or [])]


def _ruleset(extra: list[Path] | None) -> RuleSet:
    return load_rules(_rule_dirs(extra))


def _backend(
    zone_dir: Path | None, nameservers: list[str] | None, timeout: float, attempts: int
) -> BackendSpec:
    """How to build the DNS backend (worker processes build their own from it)."""
    if zone_dir is not None:
        if nameservers:
            raise InputError("use either --zone-dir or --nameserver, not both", field="--zone-dir")
        return BackendSpec(zone_dir=zone_dir)
    servers = []
    for text in nameservers or []:
        try:
            servers.append(Nameserver.parse(text))
        except ValueError as exc:
            raise InputError(str(exc), field="--nameserver") from None
    if not servers:
        servers = _system_nameservers()
    return BackendSpec(nameservers=tuple(servers), timeout=timeout, attempts=attempts)


def _system_nameservers() -> list[Nameserver]:
    try:
        system = dns.resolver.Resolver(configure=True)
    except (dns.resolver.NoResolverConfiguration, OSError):
        raise InputError(
            "no system resolver configured; give --nameserver HOST[:PORT]", field="--nameserver"
        ) from None
    servers = []
    for entry in system.nameservers:
        try:
            servers.append(Nameserver.parse(str(entry)))
        except ValueError:
            continue
    if not servers:
        raise InputError("no usable system resolver; give --nameserver HOST[:PORT]", field="--nameserver")
    return servers


def _exit_code(finished: Finished, fail_on: FailOn, strict: bool) -> ExitCode:
    if finished.failure:
        return ExitCode.INCOMPLETE
    if not finished.complete:
        return ExitCode.INTERRUPTED if finished.interrupted else ExitCode.INCOMPLETE
    if fail_on is FailOn.NEVER:
        return ExitCode.OK
    if finished.tally.fails(Severity(fail_on.value), strict=strict):
        return ExitCode.FINDINGS
    return ExitCode.OK


@rules_app.command(
    "list",
    epilog="Examples:\n\n  sendready rules list --rules ./my-rules\n\n"
    "  sendready rules list --profile strict",
)
def rules_list(
    rules: Annotated[
        list[Path] | None, typer.Option("--rules", metavar="DIR", help="Extra rule directory.")
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", metavar="NAME", help="List this compliance profile's rules (repeatable)."),
    ] = None,
) -> None:
    """List every rule: id, severity, category and title (with --profile: that profile's rules)."""
    console = Console(highlight=False)
    try:
        ruleset = _ruleset(rules)
        check_profile_names(profile or [], ruleset.profiles)
    except AuditorError as exc:
        _fail(Console(stderr=True), exc)
    wanted = set(profile or [])
    for rule in ruleset.rules:
        if (rule.profile in wanted) if wanted else rule.profile is None:
            s = rule.spec
            console.print(Text(f"{s.id:<10} {s.severity:<9} {s.category:<9} {s.title}"))
    if not wanted and ruleset.profiles:
        console.print(Text(f"Profiles (--profile NAME): {', '.join(ruleset.profiles)}"))


@rules_app.command("show", epilog="Example:\n\n  sendready rules show SPF004")
def rules_show(
    rule_id: Annotated[str, typer.Argument(metavar="ID", help="Rule id, e.g. SPF004.")],
    rules: Annotated[list[Path] | None, typer.Option("--rules", metavar="DIR")] = None,
) -> None:
    """Show one rule's purpose, rationale, remediation and references."""
    console = Console(highlight=False)
    try:
        ruleset = _ruleset(rules)
    except AuditorError as exc:
        _fail(Console(stderr=True), exc)
    rule = ruleset.by_id(rule_id)
    if rule is None:
        _fail(Console(stderr=True), InputError(f"no rule with id {rule_id!r}", field="ID"))
    s = rule.spec
    lines = [
        f"{s.id} {s.name}: {s.title}",
        f"severity: {s.severity}   category: {s.category}",
        f"applies to: {', '.join(s.applies_to.providers) or 'every provider'}"
        + (f"   profile: {rule.profile} (--profile {rule.profile})" if rule.profile else ""),
        "",
        f"Why: {s.rationale}",
        "",
        f"Checks: {s.condition}",
        "",
        f"Fix: {s.remediation.summary}",
    ]
    lines += [f"  {r.type} {r.name} {r.value}" for r in s.remediation.records]
    lines += ["", "References:"]
    lines += [f"  {ref.title}" + (f" <{ref.url}>" if ref.url else "") for ref in s.references]
    lines += ["", f"Defined in {rule.source}"]
    for line in lines:
        console.print(Text(line))


@rules_app.command("check", epilog="Example:\n\n  sendready rules check ./my-rules")
def rules_check(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Rule directory to validate.")],
) -> None:
    """Validate rule files and provider catalogues (schema, expressions, unique ids); exit 2 on an error."""
    builtin = directory.resolve() == rules_dir().resolve()
    directories = [rules_dir()] if builtin else [rules_dir(), directory]
    try:
        ruleset = load_rules(directories)
        catalogue = load_catalogues(catalogue_files(directories))
    except AuditorError as exc:
        _fail(Console(stderr=True), exc)
    own = [r for r in ruleset.rules if builtin or r.source.startswith(str(directory))]
    providers = len(catalogue.providers) if builtin else len(catalogue_files([directory]))
    what = "providers" if builtin else "catalogue files"
    Console(highlight=False).print(Text(f"{len(own)} rules OK in {directory}; {providers} {what} OK"))


@app.command(
    "schema",
    epilog="Examples:\n\n  sendready schema > report.schema.json\n\n"
    "  sendready schema --jsonl > jsonl.schema.json",
)
def schema(
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="The schema of one line of a --format jsonl stream instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of the JSON report (or of a JSON Lines stream's records)."""
    from auditor.reporters.json_reporter import report_json_schema
    from auditor.scale.jsonl import stream_json_schema

    document = stream_json_schema() if jsonl else report_json_schema()
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"sendready {__version__}")
        raise typer.Exit()


def main() -> None:
    """Console-script entry point; keeps tracebacks away from users."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("sendready: interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED))

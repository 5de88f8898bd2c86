"""Every credential problem sendready tells apart, against servers this script starts on 127.0.0.1.

    python examples/credentials/demo.py [--output credentials-report.html]

It starts real SMTP submission servers (aiosmtpd with STARTTLS; certificates from a throw-away
trustme CA) and a stand-in for Mailgun's domains API, all on loopback, then runs
`sendready audit` on an inventory with one domain per problem. DNS comes from `examples/zones`
(each demo domain is a copy of the correct US example domain). Passwords are set in this process's
environment and given to the inventory by reference (`env:NAME`), as a real inventory does.
Nothing leaves the machine and no message is sent: the probe stops before DATA, and with
`--smtp-data` it hangs up as soon as the server answers DATA.

Needs the test extras (`pip install '.[test]'`): aiosmtpd and trustme. Run from a checkout: the
servers are the test suite's own (`tests/servers/`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from typer.main import get_command  # noqa: E402

from auditor.cli.app import app  # noqa: E402
from tests.servers.mailgun_api_server import FakeDomainsApi, as_json, domain_body, start, stop  # noqa: E402
from tests.servers.smtp_server import (  # noqa: E402
    FREE_ACCOUNT_421,
    MAILGUN_535,
    TLS_NAME,
    SmtpPolicy,
    SmtpTestServers,
)

TEMPLATE = "mg.acme-shop.example"  # the example's correct US domain
PASSWORD = "demo password, not a secret"
API_KEY = "0123456789abcdef0123456789abcdef-0a1b2c3d-4e5f6a7b"  # the shape of a Mailgun private key


@dataclass(frozen=True)
class Problem:
    """One demo domain: how its server behaves and what its inventory entry says."""

    domain: str
    what: str
    finds: tuple[str, ...]
    """The rules the report fails (or cannot verify) for it; the demo's test checks these."""
    server: str = "starttls"
    """`starttls` (a server with `policy`), `banner_421` or `refused`."""
    policy: dict[str, Any] = field(default_factory=dict)
    smtp: dict[str, Any] = field(default_factory=dict)
    password: str | None = PASSWORD
    """What the password's environment variable holds; None leaves it unset."""
    account: dict[str, Any] = field(default_factory=dict)
    """How the domains API describes the domain (`domain_body` keywords)."""


OTHER = "mg.other-shop.example"

PROBLEMS = [
    Problem("mg.creds-ok.example", "everything works", ()),
    Problem("mg.api-key-password.example", "the API key pasted as the SMTP password", ("SMTP001",),
            password=API_KEY),
    Problem("mg.other-login.example", "another domain's SMTP login", ("SMTP002",),
            policy={"username": f"postmaster@{OTHER}", "allowed_sender_domains": (OTHER,)},
            smtp={"username": f"postmaster@{OTHER}"}),
    Problem("mg.reset-password.example", "a password that was reset since", ("SMTP003",),
            password="the old password"),
    Problem("mg.no-auth.example", "a server that offers no AUTH", ("SMTP004",), policy={"offer_auth": False}),
    Problem("mg.wrong-from.example", "a From address on an unverified domain", ("SMTP005",),
            smtp={"from": "news@shop.example.org"}),
    Problem("mg.sandbox-rcpt.example", "a test recipient the sandbox has not authorised", ("SMTP006",),
            policy={"allowed_recipients": ("owner@example.org",)}),
    Problem("mg.free-account.example", "a free account refused at DATA", ("ACCT003", "SMTP012"),
            policy={"data_reply": FREE_ACCOUNT_421}, account={"kind": "sandbox"}),
    Problem("mg.busy.example", "a server that is throttling (421)", ("SMTP007",), server="banner_421"),
    Problem("mg.closed-port.example", "a port nothing listens on", ("SMTP008",), server="refused"),
    Problem("mg.vanity-name.example", "a certificate for another name (vanity CNAME)", ("SMTP009",),
            smtp={"tls_name": "smtp.mg.vanity-name.example"}),
    Problem("mg.unset-secret.example", "a password variable that is not set", ("SMTP013",), password=None),
]  # fmt: skip


def env_name(problem: Problem) -> str:
    return "SENDREADY_DEMO_" + problem.domain.split(".")[1].replace("-", "_").upper()


def write_zones(directory: Path) -> Path:
    """The example zones plus a copy of the correct US domain for each demo domain."""
    zones = directory / "zones"
    shutil.copytree(ROOT / "examples" / "zones", zones)
    template = (zones / f"{TEMPLATE}.zone").read_text(encoding="utf-8")
    for problem in PROBLEMS:
        text = template.replace(TEMPLATE, problem.domain)
        (zones / f"{problem.domain}.zone").write_text(text, encoding="utf-8")
    return zones


def account_answer(problem: Problem) -> dict[str, Any]:
    """The domains API's answer for a demo domain: the records its (copied) zone publishes."""
    zone = (ROOT / "examples" / "zones" / f"{TEMPLATE}.zone").read_text(encoding="utf-8")
    dkim = next(line for line in zone.splitlines() if line.startswith("k1._domainkey"))
    key = "".join(dkim.split('"')[1::2])
    d = problem.domain
    sending = [
        {"record_type": "TXT", "valid": "valid", "name": d, "value": "v=spf1 include:mailgun.org ~all"},
        {"record_type": "TXT", "valid": "valid", "name": f"k1._domainkey.{d}", "value": key},
        {"record_type": "CNAME", "valid": "valid", "name": f"email.{d}", "value": "mailgun.org"},
    ]
    receiving = [
        {"record_type": "MX", "valid": "valid", "priority": "10", "value": "mxa.mailgun.org"},
        {"record_type": "MX", "valid": "valid", "priority": "10", "value": "mxb.mailgun.org"},
    ]
    return domain_body(d, sending=sending, receiving=receiving, **problem.account)


@contextmanager
def running_servers() -> Iterator[tuple[SmtpTestServers, dict[str, int], FakeDomainsApi]]:
    """One submission listener per problem, and the US domains API (plain HTTP on loopback)."""
    api = FakeDomainsApi("us")
    for problem in PROBLEMS:
        api.replies[problem.domain] = as_json(account_answer(problem))
    start(api)
    try:
        with SmtpTestServers() as servers:
            ports: dict[str, int] = {}
            for problem in PROBLEMS:
                if problem.server == "refused":
                    ports[problem.domain] = servers.refused_port()
                    continue
                if problem.server == "banner_421":
                    ports[problem.domain] = servers.banner_421().port
                    continue
                policy: dict[str, Any] = {
                    "username": f"postmaster@{problem.domain}",
                    "password": PASSWORD,
                    "auth_failure_reply": MAILGUN_535,
                    "allowed_sender_domains": (problem.domain,),
                    **problem.policy,
                }
                ports[problem.domain] = servers.starttls(SmtpPolicy(**policy)).port
            yield servers, ports, api
    finally:
        stop(api)


def write_inventory(path: Path, ports: dict[str, int]) -> None:
    domains = []
    for problem in PROBLEMS:
        smtp = {
            "username": f"postmaster@{problem.domain}",
            "password": f"env:{env_name(problem)}",
            "from": f"alerts@{problem.domain}",
            "recipient": "ops@example.org",
            "host": "127.0.0.1",
            "port": ports[problem.domain],
            "tls_name": TLS_NAME,
            **problem.smtp,
        }
        domains.append({"name": problem.domain, "region": "us", "smtp": smtp})
    path.write_text(yaml.safe_dump({"domains": domains}, sort_keys=False), encoding="utf-8")


def explain(report: dict[str, Any]) -> list[str]:
    """One line per domain: the problem planted, and what the report says about it."""
    lines = []
    by_name = {d["domain"]: d for d in report["domains"]}
    for problem in PROBLEMS:
        domain = by_name[problem.domain]
        failed = [f for f in domain["findings"] if f["status"] in ("fail", "unknown")]
        said = "; ".join(f"{f['rule_id']} {f['title']}" for f in failed) or "ready to send"
        lines.append(f"{problem.domain}: {problem.what}\n  → {said}")
        lines.extend(f"    {f['message']}" for f in failed[:1])
    return lines


def run(output: Path) -> tuple[dict[str, Any], int]:
    """Start the servers, audit the demo inventory, copy the HTML report to `output`.

    Returns the JSON report and sendready's exit code. The passwords are put in this process's
    environment for the audit only, and taken out again.
    """
    saved = dict(os.environ)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="sendready-demo-") as tmp,
            running_servers() as (servers, ports, api),
        ):
            work = Path(tmp)
            zones = write_zones(work)
            inventory = work / "inventory.yaml"
            write_inventory(inventory, ports)
            for problem in PROBLEMS:
                if problem.password is None:
                    os.environ.pop(env_name(problem), None)
                else:
                    os.environ[env_name(problem)] = problem.password
            os.environ["SENDREADY_DEMO_API_KEY"] = API_KEY
            code = get_command(app).main(
                ["audit", str(inventory), "--zone-dir", str(zones),
                 "--smtp-ca-file", servers.ca_file, "--smtp-timeout", "2", "--smtp-data",
                 "--smtp-per-host", "16",
                 "--mailgun-api-key", "env:SENDREADY_DEMO_API_KEY", "--mailgun-api-url", f"us={api.base_url}",
                 "--format", "json", "--format", "html", "--output", str(work / "report"), "-q"],
                standalone_mode=False,
            )  # fmt: skip
            shutil.copyfile(work / "report.html", output)
            return json.loads((work / "report.json").read_text(encoding="utf-8")), int(code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="credentials-report.html", help="HTML report to write")
    args = parser.parse_args(argv)
    # aiosmtpd logs the TLS handshake the vanity-name case fails on purpose; that is the point.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    report, code = run(Path(args.output))
    print("\n".join(explain(report)))
    print(f"\nWrote {args.output} (sendready exit code {code}: some domains are not ready).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

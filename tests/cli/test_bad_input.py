"""Bad input never crashes: exit code 2 and one line on stderr, `sendready: error: file:line: field: ...`.

Each case writes its small inputs into a fresh directory, changes into it (so messages name short
relative paths) and runs `sendready audit` through typer's CliRunner; a few also run the real
entry point (`python -m auditor`) in a subprocess to prove no traceback escapes. Every error here
is raised before any DNS question is asked, so nothing touches the network.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app

PREFIX = "sendready: error: "
SECRET = "hunter2-Sup3rSecret"

GOOD_ZONE = """\
$ORIGIN example.com.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 600 604800 300
@    IN NS  ns1
ns1  IN A   192.0.2.53
"""
BROKEN_RULE = """\
schema: sendready.rules/v1
rules:
  - id: CUST001
    name: custom-rule
    title: A custom rule with a typo
    severity: info
    category: spf
    requires: [dns.spf]
    condition: "spff.present"
    message: "{{ domain }}"
    rationale: "Typo in the condition."
    remediation:
      summary: "None."
    references:
      - {rfc: 7208, title: "RFC 7208"}
"""


@dataclass(frozen=True)
class Case:
    """Files to write (path → text or bytes), the audit arguments and the expected error line."""

    files: dict[str, str | bytes]
    args: list[str]
    expected: str
    """The error line after `sendready: error: ` starts with this (file:line: field: ...)."""
    contains: str = ""
    absent: tuple[str, ...] = field(default=())


CASES: dict[str, Case] = {
    "yaml-unknown-key": Case(
        {"inv.yaml": "domains:\n  - name: a.example.com\n  - name: b.example.com\n    regoin: eu\n"},
        ["inv.yaml"],
        "inv.yaml:4: domains[1].regoin: unknown key",
    ),
    "yaml-unknown-key-in-defaults": Case(
        {"inv.yaml": "defaults:\n  regoin: us\ndomains:\n  - name: a.example.com\n"},
        ["inv.yaml"],
        "inv.yaml:2: defaults.regoin: unknown key",
    ),
    "yaml-wrong-type": Case(
        {"inv.yaml": 'domains:\n  - name: a.example.com\n    receiving: "maybe"\n'},
        ["inv.yaml"],
        "inv.yaml:3: domains[0].receiving: ",
        contains="boolean",
    ),
    "yaml-invalid-region": Case(
        {"inv.yaml": "domains:\n  - name: a.example.com\n    region: mars\n"},
        ["inv.yaml"],
        "inv.yaml:3: domains[0].region: ",
        contains="'us', 'eu' or 'auto'",
    ),
    "yaml-unknown-provider": Case(
        {"inv.yaml": "domains:\n  - name: a.example.com\n    provider: sendgird\n"},
        ["inv.yaml"],
        "inv.yaml:3: domains[0].provider: unknown provider 'sendgird' (known: amazon-ses, brevo, ",
        contains="sendgrid",
    ),
    "yaml-unknown-provider-in-defaults": Case(
        {"inv.yaml": "defaults:\n  provider: sparkpots\ndomains:\n  - name: a.example.com\n"},
        ["inv.yaml"],
        "inv.yaml:2: defaults.provider: unknown provider 'sparkpots'",
    ),
    "yaml-region-of-another-provider": Case(
        {"inv.yaml": "domains:\n  - name: a.example.com\n    provider: amazon-ses\n    region: eu\n"},
        ["inv.yaml"],
        "inv.yaml:4: domains[0].region: 'eu' is not a region of Amazon SES: expected 'us-east-1', ",
        contains="'eu-west-1'",
    ),
    "yaml-default-region-wrong-for-domain-provider": Case(
        {
            "inv.yaml": "defaults:\n  region: us\ndomains:\n  - name: a.example.com\n    provider: zoho\n"
            "  - name: b.example.com\n    provider: resend\n"
        },
        ["inv.yaml"],
        "inv.yaml:2: defaults.region: 'us' is not a region of Resend: expected 'us-east-1', ",
    ),
    "csv-unknown-region": Case(
        {"inv.csv": "name,provider,region\na.example.com,zoho,eu\nb.example.com,zoho,uk\n"},
        ["inv.csv"],
        "inv.csv:3: region: 'uk' is not a region of Zoho Mail: expected 'us', 'eu', 'in', 'au', 'jp' or "
        "'auto'",
    ),
    "yaml-invalid-domain-empty-label": Case(
        {"inv.yaml": "domains:\n  - name: a.example.com\n  - name: bad..name\n"},
        ["inv.yaml"],
        "inv.yaml:3: domains[1].name: 'bad..name' is not a valid domain name",
    ),
    "yaml-invalid-domain-leading-hyphen": Case(
        {"inv.yaml": "domains:\n  - name: -x.example\n"},
        ["inv.yaml"],
        "inv.yaml:2: domains[0].name: '-x.example' is not a valid domain name",
    ),
    "yaml-duplicate-domain": Case(
        {
            "inv.yaml": "domains:\n  - name: a.example.com\n  - name: b.example.com\n"
            "  - name: A.Example.COM.\n"
        },
        ["inv.yaml"],
        "inv.yaml:4: name: duplicate domain a.example.com (first at inv.yaml:2)",
    ),
    "yaml-missing-domains": Case(
        {"inv.yaml": "defaults:\n  region: us\n"},
        ["inv.yaml"],
        "inv.yaml:1: domains: required field is missing",
    ),
    "yaml-syntax-error": Case(
        {"inv.yaml": "domains:\n  - name: a.example.com\n    region: [us\n"},
        ["inv.yaml"],
        "inv.yaml:4: invalid YAML",
    ),
    "yaml-literal-smtp-password": Case(
        {
            "inv.yaml": "domains:\n  - name: a.example.com\n    smtp:\n"
            f"      username: postmaster@a.example.com\n      password: {SECRET}\n"
        },
        ["inv.yaml"],
        "inv.yaml:5: domains[0].smtp.password: must be a reference such as env:NAME or file:PATH",
        absent=(SECRET,),
    ),
    "yaml-literal-smtp-password-number": Case(
        {
            "inv.yaml": "domains:\n  - name: a.example.com\n    smtp:\n"
            "      username: postmaster@a.example.com\n      password: 987654321\n"
        },
        ["inv.yaml"],
        "inv.yaml:5: domains[0].smtp.password: ",
        absent=("987654321",),
    ),
    "csv-unknown-column": Case(
        {"inv.csv": "name,regoin\na.example.com,us\n"},
        ["inv.csv"],
        "inv.csv:1: regoin: unknown column",
    ),
    "csv-bad-boolean": Case(
        {"inv.csv": "name,receiving\na.example.com,true\nb.example.com,maybe\n"},
        ["inv.csv"],
        "inv.csv:3: receiving: expected true or false",
    ),
    "csv-bad-domain": Case(
        {"inv.csv": "name,region\na.example.com,us\nbad..name,eu\n"},
        ["inv.csv"],
        "inv.csv:3: name: 'bad..name' is not a valid domain name",
    ),
    "inventory-does-not-exist": Case({}, ["missing.yaml"], "missing.yaml: file not found"),
    "csv-inventory-does-not-exist": Case({}, ["missing.csv"], "missing.csv: file not found"),
    "zone-dir-does-not-exist": Case(
        {}, ["a.example.com", "--zone-dir", "nozones"], "nozones: --zone-dir: not a directory"
    ),
    "zone-file-syntax-error": Case(
        {"zones/example.com.zone": GOOD_ZONE + "www  IN BOGUS 192.0.2.80\nmail IN A 192.0.2.25\n"},
        ["a.example.com", "--zone-dir", "zones"],
        "zones/example.com.zone:6: invalid zone file: ",
        contains="BOGUS",
    ),
    "nameserver-not-an-ip": Case(
        {},
        ["a.example.com", "--nameserver", "notanip"],
        "--nameserver: 'notanip': nameserver must be an IP address",
    ),
    "nameserver-port-out-of-range": Case(
        {},
        ["a.example.com", "--nameserver", "127.0.0.1:99999"],
        "--nameserver: '127.0.0.1:99999': port must be 1-65535",
    ),
    "format-without-output": Case(
        {}, ["a.example.com", "--format", "html"], "--output: --format needs --output PATH"
    ),
    "output-unknown-suffix": Case(
        {},
        ["a.example.com", "--output", "report.xyz"],
        "--output: cannot tell the format from 'report.xyz'",
    ),
    "zone-dir-and-nameserver": Case(
        {"zones/example.com.zone": GOOD_ZONE},
        ["a.example.com", "--zone-dir", "zones", "--nameserver", "127.0.0.1"],
        "--zone-dir: use either --zone-dir or --nameserver, not both",
    ),
    "broken-rules-dir": Case(
        {"my-rules/custom.yaml": BROKEN_RULE},
        ["a.example.com", "--rules", "my-rules"],
        "my-rules/custom.yaml:9: rules[0].condition: unknown name 'spff'",
    ),
    "rules-dir-does-not-exist": Case(
        {}, ["a.example.com", "--rules", "no-rules"], "no-rules: --rules: not a directory"
    ),
    "api-key-literal": Case(
        {},
        ["a.example.com", "--mailgun-api-key", SECRET],
        "--mailgun-api-key: must be a reference such as env:NAME or file:PATH",
        absent=(SECRET,),
    ),
    "api-key-unset-variable": Case(
        {},
        ["a.example.com", "--mailgun-api-key", "env:SENDREADY_TEST_UNSET_KEY"],
        "--mailgun-api-key: env:SENDREADY_TEST_UNSET_KEY: environment variable is not set",
    ),
    "api-key-missing-file": Case(
        {},
        ["a.example.com", "--mailgun-api-key", "file:no-such-key.txt"],
        "--mailgun-api-key: file:no-such-key.txt: file does not exist",
    ),
    "api-url-unknown-region": Case(
        {"key.txt": "k"},
        ["a.example.com", "--mailgun-api-key", "file:key.txt", "--mailgun-api-url", "ap=https://127.0.0.1:1"],
        "--mailgun-api-url: expected REGION=URL with REGION one of us, eu, got 'ap=https://127.0.0.1:1'",
    ),
    "api-url-not-http": Case(
        {"key.txt": "k"},
        ["a.example.com", "--mailgun-api-key", "file:key.txt", "--mailgun-api-url", "us=ftp://x"],
        "--mailgun-api-url: not an http(s) URL: 'ftp://x'",
    ),
    "api-ca-file-missing": Case(
        {},
        ["a.example.com", "--api-ca-file", "nope.pem"],
        "nope.pem: --api-ca-file: file not found",
    ),
    "shard-index-above-count": Case(
        {},
        ["a.example.com", "--shard", "5/4", "--output", "s.jsonl"],
        "--shard: expected I/N with 1 <= I <= N (e.g. 2/8), got '5/4'",
    ),
    "shard-zero": Case(
        {},
        ["a.example.com", "--shard", "0/4", "--output", "s.jsonl"],
        "--shard: expected I/N with 1 <= I <= N",
    ),
    "shard-not-a-fraction": Case(
        {}, ["a.example.com", "--shard", "half", "--output", "s.jsonl"], "--shard: expected I/N"
    ),
    "shard-with-html-output": Case(
        {},
        ["a.example.com", "--shard", "1/2", "--output", "report.html"],
        "--shard: a shard writes JSON Lines only (--format jsonl --output FILE); "
        "render shards with `sendready merge`",
    ),
    "workers-zero": Case(
        {}, ["a.example.com", "--workers", "0"], "--workers: expected auto or a number from 1 to 64, got '0'"
    ),
    "workers-not-a-number": Case(
        {}, ["a.example.com", "--workers", "many"], "--workers: expected auto or a number from 1 to 64"
    ),
    "resume-without-a-stream-output": Case(
        {},
        ["a.example.com", "--resume", "--output", "report.html"],
        "--resume: needs the JSON Lines file to continue: --format jsonl --output FILE",
    ),
    "resume-to-stdout": Case(
        {},
        ["a.example.com", "--resume", "--format", "jsonl", "--output", "-"],
        "--resume: needs the JSON Lines",
    ),
    "resume-a-file-that-is-not-a-stream": Case(
        {"zones/example.com.zone": GOOD_ZONE, "audit.jsonl": "<html>not a stream</html>\n"},
        ["a.example.com", "--zone-dir", "zones", "--resume", "--output", "audit.jsonl"],
        "audit.jsonl:1: not a sendready JSON Lines stream (no header line)",
    ),
}


def _write(base: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _check_one_line(stderr: str, case: Case) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(PREFIX + case.expected), line
    assert case.contains in line, line
    for secret in case.absent:
        assert secret not in line, f"secret echoed: {line}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CliRunner: exit 2, one `sendready: error:` line on stderr, nothing on stdout, no traceback."""
    case = CASES[name]
    _write(tmp_path, case.files)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["audit", *case.args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    _check_one_line(result.stderr, case)
    for secret in case.absent:
        assert secret not in result.output


@pytest.mark.parametrize(
    "name", ["yaml-unknown-key", "yaml-literal-smtp-password", "zone-file-syntax-error", "broken-rules-dir"]
)
def test_real_entry_point_prints_no_traceback(name: str, tmp_path: Path) -> None:
    """`python -m auditor audit ...` in a subprocess: exit 2, exactly the one line, no traceback."""
    case = CASES[name]
    _write(tmp_path, case.files)
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", *case.args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    _check_one_line(done.stderr, case)


def test_csv_with_invalid_utf8_is_one_line(tmp_path: Path) -> None:
    """A CSV that is not UTF-8 is bad input like any other: exit 2, one line."""
    (tmp_path / "inv.csv").write_bytes(b"name\na.example.com\n\xff.example.com\n")
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", "inv.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 2
    assert done.stderr.startswith(PREFIX + "inv.csv")


def test_zone_file_bad_rdata_names_its_own_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid address on line 6 is reported at line 6, not at the next line."""
    _write(tmp_path, {"zones/example.com.zone": GOOD_ZONE + "www  IN A 999.0.2.80\nmail IN A 192.0.2.25\n"})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["audit", "a.example.com", "--zone-dir", "zones"])
    assert result.exit_code == 2
    assert result.stderr.startswith(PREFIX + "zones/example.com.zone:6: "), result.stderr

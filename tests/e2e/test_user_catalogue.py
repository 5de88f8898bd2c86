"""A provider added with YAML only: `--rules DIR` whose `providers/*.yaml` extends the catalogue.

The built-in catalogue is the base; a rule pack's catalogue adds providers (or replaces one of the
same name). The new provider is accepted in the inventory and on the command line, drives the
built-in rules (SPF include, DKIM selector), and reaches worker processes too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.engine.catalogue import catalogue_files, load_catalogues
from auditor.resources import rules_dir
from tests.e2e.test_audit_dns import audit_json, problems_of
from tests.protocol.test_dkim_key_parser import rsa_key

ACME_CATALOGUE = """\
schema: sendready.providers/v2
providers:
  acme-mail:
    title: Acme Mail
    docs: https://docs.acme-mail.example/dns
    dashboard: https://console.acme-mail.example/domains
    smtp:
      login: api_key
      hosts:
        - host: smtp.acme-mail.example
          ports: [{port: 587, tls: starttls}]
    spf:
      includes: [spf.acme-mail.example]
      required: true
    dkim:
      discover: [acme1]
      keys:
        - selectors: [acme1]
          type: TXT
      hint: "Acme console -> Domains -> DKIM"
    mx:
      expected_by_default: false
      sets: []
    verification:
      spf: {required: always}
      dkim: {required: always}
    mail_from: {uses: sending_domain}
    regions:
      global: {label: global}
"""

# A 2048-bit key, as DKIM006 asks, split into the 255-byte strings of one TXT record.
_KEY = "v=DKIM1; k=rsa; p=" + rsa_key(2048, serialization.PublicFormat.SubjectPublicKeyInfo)
DKIM_TXT = " ".join(f'"{_KEY[i : i + 250]}"' for i in range(0, len(_KEY), 250))


def _zone(origin: str, records: str) -> str:
    return (
        f"$ORIGIN {origin}.\n$TTL 300\n"
        f"@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 300\n@ IN NS ns.{origin}.\n" + records
    )


@pytest.fixture
def pack(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(rules dir with the Acme catalogue, zone dir, inventory): one good and one broken domain."""
    rules = tmp_path / "acme-rules"
    (rules / "providers").mkdir(parents=True)
    (rules / "providers" / "acme.yaml").write_text(ACME_CATALOGUE)
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "acme-mail.example.zone").write_text(
        _zone("acme-mail.example", 'spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n')
    )
    dmarc = '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:d@{d}"\n'
    (zones / "good-shop.example.zone").write_text(
        _zone(
            "good-shop.example",
            '@ IN TXT "v=spf1 include:spf.acme-mail.example ~all"\n'
            f"acme1._domainkey IN TXT {DKIM_TXT}\n" + dmarc.format(d="good-shop.example"),
        )
    )
    (zones / "bad-shop.example.zone").write_text(
        _zone(
            "bad-shop.example",
            '@ IN TXT "v=spf1 include:_spf.google.com ~all"\n' + dmarc.format(d="bad-shop.example"),
        )
    )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "defaults:\n  provider: acme-mail\n"
        "domains:\n  - name: good-shop.example\n  - name: bad-shop.example\n"
    )
    return rules, zones, inventory


def test_catalogue_files_put_the_builtin_first_and_the_pack_after(pack: tuple[Path, Path, Path]) -> None:
    rules, _, _ = pack
    files = catalogue_files([rules_dir(), rules])
    assert files == (rules_dir() / "providers" / "catalogue.yaml", rules / "providers" / "acme.yaml")
    catalogue = load_catalogues(files)
    assert "acme-mail" in catalogue.providers and "mailgun" in catalogue.providers


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_provider_added_by_yaml_is_audited_like_a_builtin_one(
    tmp_path: Path, pack: tuple[Path, Path, Path], workers: str
) -> None:
    rules, zones, inventory = pack
    code, document = audit_json(
        tmp_path, str(inventory), "--rules", str(rules), "--zone-dir", str(zones), "--workers", workers
    )
    assert code == 1
    problems = problems_of(document)
    assert problems["good-shop.example"] == set()
    assert {"SPF003", "DKIM001"} <= problems["bad-shop.example"]
    bad = next(d for d in document["domains"] if d["domain"] == "bad-shop.example")
    spf003 = next(f for f in bad["findings"] if f["rule_id"] == "SPF003")
    assert "include:spf.acme-mail.example" in spf003["remediation"]["records"][0]["value"]
    assert bad["provider"] == "acme-mail"


def test_the_new_provider_is_accepted_on_the_command_line(
    tmp_path: Path, pack: tuple[Path, Path, Path]
) -> None:
    rules, zones, _ = pack
    code, document = audit_json(
        tmp_path,
        "good-shop.example",
        "--provider",
        "acme-mail",
        "--rules",
        str(rules),
        "--zone-dir",
        str(zones),
    )
    assert code == 0, document
    assert document["domains"][0]["provider"] == "acme-mail"


def test_without_the_pack_the_provider_is_unknown(tmp_path: Path, pack: tuple[Path, Path, Path]) -> None:
    _, zones, inventory = pack
    result = CliRunner().invoke(app, ["audit", str(inventory), "--zone-dir", str(zones), "-q"])
    assert result.exit_code == 2
    assert "acme-mail" in result.output and "Traceback" not in result.output


def test_a_broken_pack_catalogue_is_a_one_line_error_with_file_and_line(
    tmp_path: Path, pack: tuple[Path, Path, Path]
) -> None:
    rules, zones, inventory = pack
    broken = rules / "providers" / "acme.yaml"
    broken.write_text(ACME_CATALOGUE.replace("      required: true\n", "      required: maybe\n", 1))
    result = CliRunner().invoke(
        app, ["audit", str(inventory), "--rules", str(rules), "--zone-dir", str(zones)]
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{broken}:14" in lines[0] and "spf.required" in lines[0], result.output


def test_rules_check_validates_a_pack_catalogue(pack: tuple[Path, Path, Path]) -> None:
    rules, _, _ = pack
    ok = CliRunner().invoke(app, ["rules", "check", str(rules)])
    assert ok.exit_code == 0, ok.output
    assert "0 rules OK" in ok.output and "1 catalogue files OK" in ok.output
    broken = rules / "providers" / "acme.yaml"
    broken.write_text(ACME_CATALOGUE.replace("title: Acme Mail", "titel: Acme Mail"))
    bad = CliRunner().invoke(app, ["rules", "check", str(rules)])
    assert bad.exit_code == 2
    assert f"{broken}:3: providers.acme-mail.title" in bad.output, bad.output

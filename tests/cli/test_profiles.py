"""Compliance profiles through the CLI: `--profile`, inventory `profiles:`, `rules list --profile`.

The audits run against the bundled example zones (`--zone-dir`), so nothing touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES

runner = CliRunner()
PREFIX = "sendready: error: "
ZONES = EXAMPLES / "zones"

INVENTORY = """\
defaults:
  provider: mailgun
domains:
  - name: mg.acme-shop.example
    region: us
    dkim_selectors: [k1]
  - name: mg.kestrel-news.example
    region: us
    profiles: [parked]
"""


def _audit(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["audit", *args, "--zone-dir", str(ZONES), "--format", "json", "--output", str(out), "-q"]
    )
    assert "Traceback" not in result.output
    document = json.loads(out.read_text()) if out.exists() else {}
    return result.exit_code, document, result.output


def _rule_ids(document: dict[str, Any], domain: str) -> set[str]:
    report = next(d for d in document["domains"] if d["domain"] == domain)
    return {f["rule_id"] for f in report["findings"]}


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith(PREFIX), output
    return lines[0]


def test_profile_for_every_domain_adds_its_rules_and_is_reported(tmp_path: Path) -> None:
    # Given the example's healthy US domain (DMARC is not p=reject there)
    code, document, _ = _audit(tmp_path, "mg.acme-shop.example", "--region", "us", "--profile", "strict")
    # Then the strict rules ran for it, and the report says strict was applied
    ids = _rule_ids(document, "mg.acme-shop.example")
    assert {"STRICT001", "STRICT003", "STRICT004"} <= ids
    assert document["summary"]["profiles"] == ["strict"]
    assert document["domains"][0]["profiles"] == ["strict"]
    assert code == 1  # a strict rule fails at severity error


def test_without_a_profile_no_profile_rule_runs(tmp_path: Path) -> None:
    code, document, _ = _audit(tmp_path, "mg.acme-shop.example", "--region", "us")
    ids = _rule_ids(document, "mg.acme-shop.example")
    assert not {i for i in ids if i.startswith(("GY", "STRICT", "PARKED"))}
    assert document["summary"]["profiles"] == []
    assert code == 0


def test_inventory_profiles_apply_per_domain_and_add_to_run_profiles(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    _, document, _ = _audit(tmp_path, str(inventory), "--profile", "gmail-yahoo-2024")
    acme = _rule_ids(document, "mg.acme-shop.example")
    kestrel = _rule_ids(document, "mg.kestrel-news.example")
    assert "GY001" in acme and "GY001" in kestrel
    assert not {i for i in acme if i.startswith("PARKED")}
    assert {"PARKED001", "PARKED002", "PARKED003", "PARKED004"} <= kestrel
    by_domain = {d["domain"]: d["profiles"] for d in document["domains"]}
    assert by_domain == {
        "mg.acme-shop.example": ["gmail-yahoo-2024"],
        "mg.kestrel-news.example": ["parked", "gmail-yahoo-2024"],
    }
    assert document["summary"]["profiles"] == ["gmail-yahoo-2024", "parked"]
    # The parked domain's sending set-up fails the parked rules
    findings = next(d for d in document["domains"] if d["domain"] == "mg.kestrel-news.example")["findings"]
    statuses = {f["rule_id"]: f["status"] for f in findings}
    assert statuses["PARKED001"] == "fail" and statuses["PARKED003"] == "fail"


def test_profiles_are_named_in_the_markdown_header(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    result = runner.invoke(
        app,
        [
            "audit",
            "mg.acme-shop.example",
            "--zone-dir",
            str(ZONES),
            "--profile",
            "parked",
            "--output",
            str(out),
        ],
    )
    assert "Traceback" not in result.output
    header = out.read_text().splitlines()[:5]
    assert any("Profiles: `parked`" in line for line in header), header


def test_unknown_profile_option_is_one_line_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["audit", "mg.acme-shop.example", "--zone-dir", str(ZONES), "--profile", "nope"]
    )
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert "--profile: unknown profile 'nope'" in line and "strict" in line


def test_unknown_inventory_profile_names_file_and_line(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inventory.yaml").write_text(INVENTORY.replace("[parked]", "[parkd]"))
    result = runner.invoke(app, ["audit", "inventory.yaml", "--zone-dir", str(ZONES)])
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert line.startswith(f"{PREFIX}inventory.yaml:7: profiles: unknown profile 'parkd'"), line


def test_malformed_inventory_profile_is_located(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inventory.yaml").write_text(INVENTORY.replace("[parked]", "[Parked Domain]"))
    result = runner.invoke(app, ["audit", "inventory.yaml", "--zone-dir", str(ZONES)])
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert line.startswith(f"{PREFIX}inventory.yaml:9: domains[1].profiles[0]:"), line


def test_csv_inventory_takes_a_profiles_column(tmp_path: Path) -> None:
    inventory = tmp_path / "domains.csv"
    inventory.write_text("name,region,profiles\nmg.acme-shop.example,us,parked;strict\n")
    _, document, _ = _audit(tmp_path, str(inventory))
    assert document["domains"][0]["profiles"] == ["parked", "strict"]


def test_rules_list_profile_lists_only_its_rules() -> None:
    result = runner.invoke(app, ["rules", "list", "--profile", "parked"])
    assert result.exit_code == 0
    ids = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert ids == ["PARKED001", "PARKED002", "PARKED003", "PARKED004"]
    base = runner.invoke(app, ["rules", "list"])
    assert "SPF001" in base.output and "PARKED001" not in base.output
    assert "gmail-yahoo-2024, parked, strict" in base.output


def test_rules_list_unknown_profile_is_exit_2() -> None:
    result = runner.invoke(app, ["rules", "list", "--profile", "nope"])
    assert result.exit_code == 2
    _one_line_error(result.output)

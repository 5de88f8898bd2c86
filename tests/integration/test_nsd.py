"""Integration tier: the bundled example served by a real authoritative server (NSD, Debian).

CI installs NSD (`.ci/run`), and there a missing `nsd` is a failure, not a skip (tests/integration/nsd.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES
from tests.e2e.test_audit_dns import EXPECTED_PROBLEMS, findings_of, problems_of
from tests.e2e.test_provider_examples import EXAMPLES_BY_PROVIDER
from tests.integration.nsd import require_nsd, running_nsd

require_nsd()

runner = CliRunner()


@pytest.fixture(scope="module")
def nsd_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    zones = [(z.name.removesuffix(".zone"), z) for z in sorted((EXAMPLES / "zones").glob("*.zone"))]
    with running_nsd(tmp_path_factory.mktemp("nsd"), zones, ("mailgun.org", "TXT")) as address:
        yield address


def _audit(tmp_path: Path, name: str, *args: str) -> tuple[int, dict]:
    out = tmp_path / name
    result = runner.invoke(
        app,
        ["audit", str(EXAMPLES / "inventory.yaml"), *args, "--format", "json", "--output", str(out), "-q"],
    )
    assert out.exists(), result.output
    return result.exit_code, json.loads(out.read_text())


def test_example_through_nsd_matches_zone_files(tmp_path: Path, nsd_address: str) -> None:
    code, over_nsd = _audit(tmp_path, "nsd.json", "--nameserver", nsd_address)
    _, from_zones = _audit(tmp_path, "zones.json", "--zone-dir", str(EXAMPLES / "zones"))
    assert code == 1
    assert problems_of(over_nsd) == EXPECTED_PROBLEMS
    assert findings_of(over_nsd) == findings_of(from_zones)


def test_provider_examples_through_nsd_match_zone_files(tmp_path: Path, nsd_address: str) -> None:
    """The twelve providers' examples (examples/providers.yaml) give the same findings via NSD."""
    inventory = str(EXAMPLES / "providers.yaml")

    def audit(name: str, *args: str) -> dict:
        out = tmp_path / name
        runner.invoke(app, ["audit", inventory, *args, "--format", "json", "--output", str(out), "-q"])
        return json.loads(out.read_text())

    over_nsd = audit("nsd.json", "--nameserver", nsd_address)
    from_zones = audit("zones.json", "--zone-dir", str(EXAMPLES / "zones"))
    expected = {bad: planted for _, bad, planted in EXAMPLES_BY_PROVIDER.values()}
    expected |= {good: set() for good, _, _ in EXAMPLES_BY_PROVIDER.values()}
    assert problems_of(over_nsd) == expected
    assert findings_of(over_nsd) == findings_of(from_zones)

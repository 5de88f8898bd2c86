"""Integration tier: the bundled example served by a real authoritative server (NSD, Debian).

CI installs NSD (`.ci/run`), and there a missing `nsd` is a failure, not a skip. NSD binds a
random high port on 127.0.0.1 with its config, pid and logs in a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES
from tests.e2e.test_audit_dns import EXPECTED_PROBLEMS, findings_of, problems_of
from tests.e2e.test_provider_examples import EXAMPLES_BY_PROVIDER

NSD = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)

if NSD is None:
    if os.environ.get("CI"):
        pytest.fail("nsd is not installed; .ci/run should have installed it", pytrace=False)
    pytest.skip("nsd not installed (apt-get install nsd)", allow_module_level=True)

runner = CliRunner()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def _config(workdir: Path, port: int) -> Path:
    zones = sorted((EXAMPLES / "zones").glob("*.zone"))
    zone_blocks = "".join(
        f'zone:\n\tname: "{z.name.removesuffix(".zone")}"\n\tzonefile: "{z}"\n\n' for z in zones
    )
    conf = workdir / "nsd.conf"
    conf.write_text(
        "server:\n"
        f"\tip-address: 127.0.0.1@{port}\n\tport: {port}\n\tdo-ip6: no\n\tserver-count: 1\n"
        '\tusername: ""\n\tchroot: ""\n\tdatabase: ""\n'
        f'\tzonelistfile: "{workdir}/zone.list"\n\tpidfile: "{workdir}/nsd.pid"\n'
        f'\txfrdfile: "{workdir}/xfrd.state"\n\txfrdir: "{workdir}"\n'
        f'\tlogfile: "{workdir}/nsd.log"\n\tverbosity: 1\n\tzonefiles-write: 0\n'
        "\trrl-ratelimit: 0\n\trrl-whitelist-ratelimit: 0\n"
        "remote-control:\n\tcontrol-enable: no\n\n" + zone_blocks
    )
    return conf


def _wait_ready(port: int) -> None:
    query = dns.message.make_query("mailgun.org", "TXT")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.3)
            if response.answer:
                return
        except (dns.exception.Timeout, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("NSD did not answer within 20 s")


@pytest.fixture(scope="module")
def nsd_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("nsd")
    port = _free_port()
    conf = _config(workdir, port)
    assert NSD is not None
    started = subprocess.run([NSD, "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr + (workdir / "nsd.log").read_text(errors="replace")
    try:
        _wait_ready(port)
        yield f"127.0.0.1:{port}"
    finally:
        pid_file = workdir / "nsd.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)


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

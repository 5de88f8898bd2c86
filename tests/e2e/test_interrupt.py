"""Ctrl-C writes a report marked incomplete and exits 130; it never looks complete."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import EXAMPLES, REPO
from tests.servers.dns_server import LoopbackDnsServer


def test_sigint_mid_audit_writes_incomplete_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        # One domain's DMARC lookup never answers, so the run is still going when we interrupt it.
        server.set_fault("_dmarc.mg.acme-shop.example", "timeout")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "auditor",
                "audit",
                str(EXAMPLES / "inventory.yaml"),
                "--nameserver",
                server.address,
                "--timeout",
                "30",
                "--attempts",
                "1",
                "--format",
                "json",
                "--output",
                str(out),
                "-q",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(300):  # wait until the stalled query has been sent
                if server.query_count("_dmarc.mg.acme-shop.example", "TXT"):
                    break
                time.sleep(0.05)
            time.sleep(0.3)  # let the other domains finish
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    document = json.loads(out.read_text())
    assert document["complete"] is False
    audited = {d["domain"] for d in document["domains"]}
    assert "mg.acme-shop.example" not in audited
    assert "mg.example-eu.example" in audited

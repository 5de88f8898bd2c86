"""End to end: `examples/dmarc.yaml` shows the DMARC depth rules through the CLI, served by the
loopback DNS server from the example zones (wildcard authorisation included)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EXAMPLES
from tests.e2e.test_audit_dns import audit_json, problems_of
from tests.servers.dns_server import LoopbackDnsServer


def test_dmarc_example_names_each_planted_mistake(tmp_path: Path) -> None:
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        code, document = audit_json(tmp_path, str(EXAMPLES / "dmarc.yaml"), "--nameserver", server.address)
    assert code == 0  # warnings and an info note only: the domain is ready to send
    assert problems_of(document)["saffron-tea.example"] == {
        "DMARC004",
        "DMARC005",
        "DMARC007",
        "DMARC009",
    }  # problems_of leaves out info-level findings; DMARC011 (ruf present) is one

    findings = {f["rule_id"]: f for f in document["domains"][0]["findings"]}
    records = findings["DMARC007"]["remediation"]["records"]
    # Only the service without an authorisation is named; the wildcard one is accepted.
    assert [(r["type"], r["name"], r["value"]) for r in records] == [
        ("TXT", "saffron-tea.example._report._dmarc.dmarc-vendor.example", "v=DMARC1")
    ]
    assert "wild-reports" not in findings["DMARC007"]["message"]
    assert findings["DMARC011"]["status"] == "fail"
    assert findings["DMARC010"]["status"] == "pass"  # DKIM aligns: DMARC can pass

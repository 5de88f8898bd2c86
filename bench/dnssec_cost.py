"""What `--dnssec` costs: DNS queries and client CPU per domain, with and without it.

Builds N signed Mailgun-style domains, each its own zone under a signed `test.` below a signed
test root (Ed25519), plus `examples/zones` (mailgun.org, unsigned), and serves them with the
loopback DNS server in a separate process. Then runs `sendready audit` on them twice per mode
(alternating), and prints queries per domain and CPU seconds (user + sys of the sendready process)
per domain. `--shared-zone` puts every domain in one zone instead (`mg.cNNNN.test`), the case of
thousands of domains under one parent; `--unsigned` leaves the children unsigned (no DS: insecure,
the common case on the internet).

    python bench/dnssec_cost.py --domains 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.dnssec
import dns.zone

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers.signed_zones import _ds, _sign, _zone, make_key  # noqa: E402

RECORDS = (
    '@ IN TXT "v=spf1 include:mailgun.org ~all"\n'
    "@ IN MX 10 mxa.mailgun.org.\n@ IN MX 10 mxb.mailgun.org.\n"
    '_dmarc IN TXT "v=DMARC1; p=quarantine"\n'
    'k1._domainkey IN TXT "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC7"\n'
    "email IN CNAME mailgun.org.\n"
)


def _write(zone: dns.zone.Zone, directory: Path, name: str) -> None:
    text = f"$ORIGIN {zone.origin}\n" + zone.to_text(relativize=False)
    (directory / f"{name}.zone").write_text(text)


def build(n: int, directory: Path, shared: bool, unsigned: bool = False) -> tuple[list[str], str]:
    root_key, tld_key = make_key(), make_key()
    names: list[str] = []
    delegations = ""
    if shared:
        names = [f"mg.c{i:05d}.test" for i in range(n)]
        tld = _zone("test.", _shared_records(n))
    else:
        for i in range(n):
            origin = f"c{i:05d}.test."
            delegations += f"c{i:05d} IN NS ns.c{i:05d}\nns.c{i:05d} IN A 127.0.0.1\n"
            if unsigned:
                _write(_zone(origin, RECORDS), directory, origin.rstrip("."))
            else:
                key = make_key()
                delegations += f"c{i:05d} IN DS {_ds(origin, key)}\n"
                _write(_sign(_zone(origin, RECORDS), key), directory, origin.rstrip("."))
            names.append(origin.rstrip("."))
        tld = _zone("test.", delegations)
    _write(_sign(tld, tld_key), directory, "test")
    root = _zone(".", f"test. IN NS ns.test.\nns.test. IN A 127.0.0.1\ntest. IN DS {_ds('test.', tld_key)}\n")
    _write(_sign(root, root_key), directory, "root")
    for path in (REPO / "examples" / "zones").glob("*.zone"):
        shutil.copyfile(path, directory / path.name)
    return names, f". IN DS {_ds('.', root_key)}\n"


def _shared_records(n: int) -> str:
    lines = []
    for i in range(n):
        owner = f"mg.c{i:05d}"
        for line in RECORDS.strip().splitlines():
            label, rest = line.split(" ", 1)
            lines.append(f"{owner if label == '@' else f'{label}.{owner}'} {rest}")
    return "\n".join(lines) + "\n"


def run(names: list[str], address: str, anchor: Path | None, out: Path) -> tuple[float, int, dict[str, int]]:
    command = [sys.executable, "-m", "auditor", "audit", *names, "--nameserver", address, "--no-smtp"]
    command += ["--workers", "1", "--format", "json", "--output", str(out), "-q"]
    if anchor is not None:
        command += ["--dnssec", "--trust-anchor", str(anchor)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=False, cwd=REPO, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(out.read_text())
    tally: dict[str, int] = {}
    for domain in report["domains"]:
        for finding in domain["findings"]:
            if finding["rule_id"].startswith("DNSSEC"):
                key = f"{finding['rule_id']} {finding['status']}"
                tally[key] = tally.get(key, 0) + 1
    return cpu, report["run"]["dns_queries"], tally


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--shared-zone", action="store_true")
    parser.add_argument("--unsigned", action="store_true", help="children unsigned (no DS): insecure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "zones").mkdir()
        started = time.monotonic()
        names, anchor_text = build(args.domains, work / "zones", args.shared_zone, args.unsigned)
        print(f"built {len(names)} domains in {time.monotonic() - started:.1f} s", flush=True)
        anchor = work / "anchor.txt"
        anchor.write_text(anchor_text)
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.dns_server", "--zone-dir", str(work / "zones")],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert server.stdout is not None
            address = server.stdout.readline().strip().rpartition(" ")[2]
            results: dict[str, list[tuple[float, int]]] = {"off": [], "on": []}
            for _ in range(args.repeat):
                for mode in ("off", "on"):
                    cpu, queries, tally = run(
                        names, address, anchor if mode == "on" else None, work / "r.json"
                    )
                    results[mode].append((cpu, queries))
                    print(f"dnssec {mode}: cpu {cpu:.2f} s, {queries} queries, {tally}", flush=True)
        finally:
            server.terminate()
            server.wait()
    n = len(names)
    for mode, runs in results.items():
        cpu = min(c for c, _ in runs)
        queries = runs[0][1]
        print(
            f"{mode:>3}: {queries / n:.2f} queries/domain, {1000 * cpu / n:.2f} ms CPU/domain "
            f"(best of {len(runs)})"
        )
    off_cpu = min(c for c, _ in results["off"])
    on_cpu = min(c for c, _ in results["on"])
    print(
        f"--dnssec costs +{100 * (on_cpu - off_cpu) / off_cpu:.0f}% CPU, "
        f"+{results['on'][0][1] / n - results['off'][0][1] / n:.2f} queries/domain"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

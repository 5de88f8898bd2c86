#!/usr/bin/env python3
"""SMTP probe throughput against a real Postfix with Cyrus SASL on loopback (benchmark, not a test).

    python bench/smtp_probe_bench.py                       # 200 probes at concurrency 1, 4, 16
    python bench/smtp_probe_bench.py --probes 500 --concurrency 1,8,32 --mode scheduler
    python bench/smtp_probe_bench.py --service submissions # implicit TLS instead of STARTTLS

Needs root and Debian's postfix, sasl2-bin and libsasl2-modules. Starts the private Postfix
instance of `ci/postfix/setup.sh` in a temporary directory (trustme certificate, 127.0.0.1 high
ports, every message discarded), runs N full probes per concurrency level — connect, EHLO,
STARTTLS, EHLO, AUTH PLAIN, MAIL FROM, RCPT TO, RSET, QUIT; no DATA, nothing is ever sent — and
prints probes/s and the median and p95 latency of one probe. Postfix is stopped at the end, also
on error, Ctrl-C or SIGTERM.

`--mode direct` (default) calls `probe_submission` under a semaphore of the given size.
`--mode scheduler` goes through `ProbeScheduler` with per_host = overall = the concurrency; every
probe uses a distinct from address, so the scheduler's de-duplication does not collapse them.
Latency is measured around the probe itself (not the wait for a slot); probes/s is N divided by
the wall time of the whole level. A warm-up round (not counted) lets Postfix spawn its smtpd
processes first. Any probe whose outcome is not `ok` is counted and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import trustme  # noqa: E402

from auditor.collect.smtp.probe import ProbeSettings, probe_submission  # noqa: E402
from auditor.collect.smtp.scheduler import ProbeScheduler  # noqa: E402
from auditor.collect.smtp.secrets import Secret  # noqa: E402
from auditor.model.inventory import SecretRef  # noqa: E402
from auditor.model.smtp import SmtpOutcome, SmtpProbeFacts, TlsMode  # noqa: E402

SETUP = REPO / "ci" / "postfix" / "setup.sh"
STOP = REPO / "ci" / "postfix" / "stop.sh"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TLS_NAME = "smtp.test.example"
USERNAME = "postmaster@mg.acme-shop.example"
RECIPIENT = "ops@acme-shop.example"  # the one recipient the instance accepts


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Instance:
    dir: Path
    ca_file: str
    ports: dict[str, int]
    password: str


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_postfix(workdir: Path) -> Instance:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", TLS_NAME)
    certs = workdir / "certs"
    certs.mkdir(mode=0o700)
    leaf.private_key_pem.write_to_path(str(certs / "key.pem"))
    (certs / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    password = secrets.token_urlsafe(18)
    ports = free_ports(3)
    env = {**os.environ, "PATH": SBIN_PATH, "SENDREADY_PF_ACME_PASSWORD": password}
    args = [
        "bash", str(SETUP), str(workdir),
        "--cert", str(certs / "cert.pem"), "--key", str(certs / "key.pem"),
        "--submission-port", str(ports[0]), "--submissions-port", str(ports[1]),
        "--login-only-port", str(ports[2]),
    ]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ci/postfix/setup.sh failed:\n{done.stdout}{done.stderr}")
    services = dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)
    return Instance(
        dir=workdir,
        ca_file=str(certs / "ca.pem"),
        ports={name: int(address.rpartition(":")[2]) for name, address in services.items()},
        password=password,
    )


def stop_postfix(workdir: Path) -> None:
    subprocess.run(
        ["bash", str(STOP), str(workdir)], env={**os.environ, "PATH": SBIN_PATH}, timeout=60, check=False
    )


def queue_is_empty(instance: Instance) -> bool:
    shown = subprocess.run(
        ["postqueue", "-c", str(instance.dir / "etc"), "-p"],
        env={**os.environ, "PATH": SBIN_PATH},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "Mail queue is empty" in shown.stdout


@dataclass
class LevelResult:
    concurrency: int
    probes: int
    wall_s: float
    latencies_ms: list[float]
    outcomes: Counter[str]

    @property
    def rate(self) -> float:
        return self.probes / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "probes": self.probes,
            "wall_s": round(self.wall_s, 3),
            "probes_per_s": round(self.rate, 1),
            "median_ms": round(statistics.median(self.latencies_ms), 1),
            "p95_ms": round(self.percentile(0.95), 1),
            "outcomes": dict(self.outcomes),
        }


async def run_level(
    instance: Instance, settings: ProbeSettings, probes: int, concurrency: int, mode: str, tag: str
) -> LevelResult:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    async def timed(
        settings: ProbeSettings,
        username: str,
        password: Secret,
        from_address: str | None,
        recipient: str | None,
        *,
        deep_data: bool = False,
    ) -> SmtpProbeFacts:
        start = time.perf_counter()
        facts = await probe_submission(
            settings, username, password, from_address, recipient, deep_data=deep_data
        )
        latencies.append((time.perf_counter() - start) * 1000.0)
        outcomes[facts.outcome.value] += 1
        return facts

    def sender(i: int) -> str:
        return f"bench-{tag}-c{concurrency}-{i}@mg.acme-shop.example"

    start = time.perf_counter()
    if mode == "scheduler":
        scheduler = ProbeScheduler(
            environ={"SENDREADY_BENCH_PASSWORD": instance.password},
            per_host=concurrency,
            overall=concurrency,
            probe=timed,
        )
        ref = SecretRef("env", "SENDREADY_BENCH_PASSWORD")
        await asyncio.gather(
            *(scheduler.probe(settings, USERNAME, ref, sender(i), RECIPIENT) for i in range(probes))
        )
        assert scheduler.probes_started == probes, "the scheduler de-duplicated probes"
    else:
        gate = asyncio.Semaphore(concurrency)
        password = Secret(instance.password)

        async def one(i: int) -> None:
            async with gate:
                await timed(settings, USERNAME, password, sender(i), RECIPIENT)

        await asyncio.gather(*(one(i) for i in range(probes)))
    wall = time.perf_counter() - start
    return LevelResult(concurrency, probes, wall, latencies, outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--probes", type=int, default=200, help="probes per concurrency level (200)")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels (1,4,16)")
    parser.add_argument("--mode", choices=("direct", "scheduler"), default="direct")
    parser.add_argument("--service", choices=("submission", "submissions"), default="submission")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted probes before the first level")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.concurrency.split(",") if level.strip()]
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark starts a private Postfix instance")
    if shutil.which("postfix", path=SBIN_PATH) is None:
        raise SystemExit("postfix is not installed (apt-get install postfix sasl2-bin libsasl2-modules)")

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    workdir = Path(tempfile.mkdtemp(prefix="sendready-postfix-bench-"))
    workdir.chmod(0o755)  # the postfix user must reach the sasldb inside
    results: list[LevelResult] = []
    try:
        log(f"starting Postfix in {workdir}")
        instance = start_postfix(workdir)
        port = instance.ports[args.service]
        settings = ProbeSettings(
            host="127.0.0.1",
            port=port,
            tls_mode=TlsMode.IMPLICIT if args.service == "submissions" else TlsMode.STARTTLS,
            server_hostname=TLS_NAME,
            ca_file=instance.ca_file,
            connect_timeout=10.0,
            command_timeout=20.0,
        )
        log(f"probing {args.service} 127.0.0.1:{port}, mode {args.mode}, {args.probes} probes per level")
        if args.warmup:
            asyncio.run(run_level(instance, settings, args.warmup, max(levels), args.mode, "warmup"))
        for level in levels:
            result = asyncio.run(run_level(instance, settings, args.probes, level, args.mode, "run"))
            results.append(result)
            log(f"  concurrency {level}: done in {result.wall_s:.2f} s")
        empty = queue_is_empty(instance)
    finally:
        stop_postfix(workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"SMTP probe vs Postfix {args.service} (Cyrus SASL, TLS), mode={args.mode}, {os.cpu_count()} CPUs")
    header = ("concurrency", "probes", "wall s", "probes/s", "median ms", "p95 ms")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (11, 6, 7, 9, 10, 7), strict=True)) + "  outcomes")
    failed = 0
    for r in results:
        d = r.as_dict()
        failed += sum(count for outcome, count in r.outcomes.items() if outcome != SmtpOutcome.OK.value)
        print(
            f"{r.concurrency:>11} {r.probes:>6} {d['wall_s']:>7.2f} {d['probes_per_s']:>9.1f} "
            f"{d['median_ms']:>10.1f} {d['p95_ms']:>7.1f}  {dict(r.outcomes)}"
        )
    print(f"Postfix queue empty afterwards: {'yes' if empty else 'NO'}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "service": args.service,
                    "mode": args.mode,
                    "cpus": os.cpu_count(),
                    "levels": [r.as_dict() for r in results],
                    "queue_empty": empty,
                },
                indent=2,
            )
        )
    return 0 if failed == 0 and empty else 1


if __name__ == "__main__":
    sys.exit(main())

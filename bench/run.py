#!/usr/bin/env python3
"""sendready DNS benchmark: sendready vs checkdmarc vs a naive dnspython loop, against a local NSD.

    python bench/run.py --domains 10000 --repeat 3
    python bench/run.py --smoke            # CI: 200 domains, 1 repeat, well under a minute

Generates the synthetic population (cached in bench/.work/), starts NSD on 127.0.0.1:PORT
(bench/nsd.sh), runs every runner --repeat times, each run in its own subprocess (so RSS and CPU
belong to that runner alone), prints the medians and the ratios, measures the server's own
capacity with dnsperf on the same query set, and stops NSD at the end, also on error or Ctrl-C.
See bench/README.md for what every figure means.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RUNNERS = BENCH / "runners"
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402

RUNNER_NAMES = ("sendready", "checkdmarc", "naive")


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_population(n: int, seed: int, work: Path) -> Path:
    out = work / f"n{n}-s{seed}"
    stamp = out / "stamp.json"
    if stamp.exists():
        try:
            data = json.loads(stamp.read_text())
            if (data.get("generator"), data.get("domains"), data.get("seed")) == (
                generate.GENERATOR_VERSION,
                n,
                seed,
            ):
                log(f"using cached population {out}")
                return out
        except (OSError, ValueError):
            pass
    log(f"generating {n} domains (seed {seed}) into {out} ...")
    t0 = time.perf_counter()
    generate.build(n, seed, out)
    log(f"generated in {time.perf_counter() - t0:.1f} s")
    return out


def nsd_version() -> str:
    try:
        p = subprocess.run(["nsd", "-v"], capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "NSD"


def port_is_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def nsd(action: str, pop: Path, port: int) -> None:
    env = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(["sh", str(BENCH / "nsd.sh"), action, str(pop), str(port)], check=True, env=env)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def _descendants(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(_children(pid))
    return out


def _mem_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of one process in KiB; (0, 0) once it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
    except (OSError, ValueError):
        pass
    return rss, hwm


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_ticks(pid: int) -> int:
    """utime + stime of one process itself (not its children), in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def measured_run(cmd: list[str], *, cwd: Path, stdout: Path, stderr: Path, timeout: float) -> dict:
    """Run one child. Wall time; CPU (user+sys, including its reaped children) from os.wait4;
    peak RSS from the child's own VmHWM and the summed VmRSS of its process tree, sampled
    every 20 ms from /proc.

    ru_maxrss from wait4 is kept only as a cross-check: Linux carries the RSS high-water mark
    of the address space a child had *before* exec (here: a vfork/fork of run.py itself) into
    the child's ru_maxrss, so it is never below run.py's own RSS."""
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = {"tree": 0, "hwm": 0}
        cpu_seen: dict[int, int] = {}
        done = threading.Event()

        def sample() -> None:
            while True:
                tree = 0
                for i, pid in enumerate(_descendants(proc.pid)):
                    rss, hwm = _mem_kb(pid)
                    tree += rss
                    if i == 0:
                        peak["hwm"] = max(peak["hwm"], hwm)
                    cpu_seen[pid] = max(cpu_seen.get(pid, 0), _cpu_ticks(pid))
                peak["tree"] = max(peak["tree"], tree)
                if done.wait(0.02):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout, lambda: proc.kill())
        killer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
            done.set()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
    reaped_cpu = ru.ru_utime + ru.ru_stime
    sampled_cpu = sum(cpu_seen.values()) / _TICKS
    return {
        "rc": proc.returncode,
        "wall_s": wall,
        # wait4 counts the child and the descendants it reaped; a fork server's workers are reaped
        # by the fork server, which is never waited for, so the /proc samples of every process in
        # the tree are the better figure then. Both are lower bounds; take the larger.
        "cpu_s": max(reaped_cpu, sampled_cpu),
        "cpu_reaped_s": reaped_cpu,
        "cpu_sampled_s": sampled_cpu,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "maxrss_mb": peak["hwm"] / 1024.0,
        "tree_rss_mb": max(peak["tree"], peak["hwm"]) / 1024.0,
        "ru_maxrss_mb": ru.ru_maxrss / 1024.0,
        "timed_out": wall >= timeout,
    }


def last_json_line(path: Path) -> dict:
    for line in reversed(path.read_text(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON object on {path}")


_EXPECTED: dict[Path, dict] = {}


def expected(pop: Path) -> dict:
    if pop not in _EXPECTED:
        _EXPECTED[pop] = json.loads((pop / "expected.json").read_text())
    return _EXPECTED[pop]


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- runners


class Runner:
    name = "?"
    available = True
    why_unavailable = ""

    def command(self, pop: Path, port: int, out: Path) -> list[str]:
        raise NotImplementedError

    def parse(self, pop: Path, out: Path, stdout: Path) -> dict:
        raise NotImplementedError


class NaiveRunner(Runner):
    name = "naive"

    def __init__(self, concurrency: int):
        self.concurrency = concurrency

    def command(self, pop, port, out):
        return [
            sys.executable,
            str(RUNNERS / "naive_dnspython.py"),
            str(pop / "inventory.yaml"),
            "--port",
            str(port),
            "--concurrency",
            str(self.concurrency),
        ]

    def parse(self, pop, out, stdout):
        data = last_json_line(stdout)
        outcomes = data["outcomes"]
        bad = sum(v for k, v in outcomes.items() if k not in ("noerror", "nxdomain", "nodata"))
        # every planted NXDOMAIN / NODATA must come back as such, and nothing else may fail
        exp = expected(pop)["domains"].values()
        want_nx = sum(len(d["selectors"]) for d in exp if d["case"] == "dkim_missing") + sum(
            1 for d in exp if d["case"] == "no_dmarc"
        )
        # The population publishes no MTA-STS, TLS-RPT or BIMI record: 3 NXDOMAIN per domain.
        want_nx += 3 * len(exp)
        want_nodata = sum(1 for d in exp if d["case"] == "missing_mx")
        got_nx, got_nodata = outcomes.get("nxdomain", 0), outcomes.get("nodata", 0)
        valid = bad == 0 and (got_nx, got_nodata) == (want_nx, want_nodata)
        check = f"NXDOMAIN {got_nx}/{want_nx}, NODATA {got_nodata}/{want_nodata}, timeouts/errors {bad}"
        return {
            "domains": data["domains"],
            "queries": data["queries"],
            "queries_source": "measured",
            "audit_s": data["audit_seconds"],
            "lost_or_errors": bad,
            "valid": valid,
            "check": check,
            "detail": data,
        }


class CheckdmarcRunner(Runner):
    name = "checkdmarc"

    def __init__(self, limit: int, mode: str):
        self.limit, self.mode = limit, mode

    def command(self, pop, port, out):
        cmd = [
            sys.executable,
            str(RUNNERS / "checkdmarc_runner.py"),
            str(pop / "inventory.yaml"),
            "--port",
            str(port),
            "--mode",
            self.mode,
            "--output",
            str(out),
        ]
        if self.limit:
            cmd += ["--limit", str(self.limit)]
        return cmd

    def parse(self, pop, out, stdout):
        data = last_json_line(stdout)
        # SPF must be invalid exactly for the planted duplicate/too-many-lookups cases and
        # DMARC missing exactly for no_dmarc; anything else means lost answers or a broken set-up
        exp = expected(pop)["domains"]
        wrong = 0
        results = json.loads(out.read_text())
        for r in results:
            case = exp[r["domain"]]["case"]
            spf_ok = case not in ("duplicate_spf", "too_many_lookups")
            dmarc_ok = case != "no_dmarc"
            wrong += bool((r.get("spf") or {}).get("valid")) != spf_ok
            wrong += bool((r.get("dmarc") or {}).get("valid")) != dmarc_ok
        return {
            "domains": data["domains"],
            "queries": data["queries"],
            "queries_source": "measured",
            "audit_s": data["audit_seconds"],
            "lost_or_errors": None,
            "valid": wrong == 0 and len(results) == data["domains"],
            "check": f"SPF/DMARC verdicts that disagree with the planted cases: {wrong}",
            "detail": data,
        }


class SendreadyRunner(Runner):
    name = "sendready"

    def __init__(self, workers: str | None = None, fmt: str = "json", name: str = "sendready"):
        self.workers, self.fmt, self.name = workers, fmt, name
        exe = shutil.which("sendready")
        self.base = [exe] if exe else [sys.executable, "-m", "auditor"]
        try:
            probe = subprocess.run(
                [*self.base, "audit", "--help"],
                cwd=REPO,
                timeout=60,
                capture_output=True,
                text=True,
            )
            text = probe.stdout + probe.stderr
            if probe.returncode != 0:
                self.available = False
                self.why_unavailable = (
                    f"`{' '.join(self.base)} audit --help` exited "
                    f"{probe.returncode}: {text.strip().splitlines()[-1:]}"
                )
            elif "--nameserver" not in text:
                self.available = False
                self.why_unavailable = "`audit` has no --nameserver option yet"
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.available = False
            self.why_unavailable = str(exc)

    def command(self, pop, port, out):
        cmd = [
            *self.base,
            "audit",
            str(pop / "inventory.yaml"),
            "--nameserver",
            f"127.0.0.1:{port}",
            "--format",
            self.fmt,
            "--output",
            str(out),
            "--fail-on",
            "never",
        ]
        if self.workers is not None:
            cmd += ["--workers", self.workers]
        return cmd

    def parse(self, pop, out, stdout):
        text = out.read_text()
        try:
            docs = [json.loads(text)]
        except ValueError:  # JSON Lines
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        run: dict = {}
        per_domain: list[dict] = []
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            if isinstance(doc.get("run"), dict):
                run = doc["run"]
            if isinstance(doc.get("domains"), list):
                per_domain += [d for d in doc["domains"] if isinstance(d, dict)]
            elif doc.get("type") == "domain" and isinstance(doc.get("report"), dict):
                per_domain.append(doc["report"])  # a --format jsonl stream's domain line
            elif "domain" in doc and "readiness" in doc:
                per_domain.append(doc)
        complete = all(doc.get("complete", True) for doc in docs if isinstance(doc, dict))
        if any(isinstance(doc, dict) and doc.get("type") == "header" for doc in docs):
            complete = complete and any(isinstance(d, dict) and d.get("type") == "end" for d in docs)
        queries = run.get("dns_queries")
        # No planted case makes DNS unanswerable, so "could not verify" means the audit itself
        # failed (lost answers, a crashed collector); such a run's speed means nothing.
        exp = expected(pop)["domains"]
        readiness = {d.get("domain"): d.get("readiness") for d in per_domain}
        cnv = sum(1 for r in readiness.values() if r == "could_not_verify")
        ok_cases = {n for n, d in exp.items() if d["case"] == "ok"}
        agree = sum(1 for n, r in readiness.items() if (r == "ready") == (n in ok_cases) and r is not None)
        valid = complete and cnv == 0 and set(readiness) == set(exp)
        check = (
            f"{len(readiness)}/{len(exp)} domains, could_not_verify {cnv}, "
            f"ready-vs-planted agreement {agree}/{len(exp)}" + ("" if complete else ", INCOMPLETE")
        )
        return {
            "domains": len(per_domain),
            "queries": queries,
            "queries_source": "measured (report run.dns_queries)" if queries is not None else "derived",
            "audit_s": None,
            "lost_or_errors": None,
            "valid": valid,
            "check": check,
            "detail": {"complete": complete, "run": run},
        }


# --------------------------------------------------------------------------- dnsperf


def run_dnsperf(pop: Path, port: int, seconds: float) -> dict:
    exe = shutil.which("dnsperf")
    if not exe:
        return {"available": False, "why": "dnsperf not installed (apt-get install -y dnsperf)"}
    cmd = [
        exe,
        "-s",
        "127.0.0.1",
        "-p",
        str(port),
        "-d",
        str(pop / "queries.txt"),
        "-l",
        f"{seconds:g}",
        "-c",
        "4",
        "-T",
        "2",
        "-q",
        "500",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = p.stdout + p.stderr

    def grab(pattern: str) -> float | None:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else None

    return {
        "available": True,
        "command": " ".join(cmd),
        "qps": grab(r"Queries per second:\s+([\d.]+)"),
        "sent": grab(r"Queries sent:\s+(\d+)"),
        "lost": grab(r"Queries lost:\s+(\d+)"),
        "latency_avg_ms": (grab(r"Average Latency \(s\):\s+([\d.]+)") or 0) * 1000,
        "raw": out if p.returncode else None,
    }


# --------------------------------------------------------------------------- report


def med(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict]) -> dict:
    keys = (
        "domains",
        "wall_s",
        "dps",
        "queries",
        "qps",
        "maxrss_mb",
        "tree_rss_mb",
        "cpu_s",
        "cpu_ms_per_domain",
        "audit_s",
    )
    return {k: med([r.get(k) for r in runs]) for k in keys} | {
        "queries_source": runs[0].get("queries_source") if runs else None,
        "repeats": len(runs),
        "valid": all(r.get("valid") for r in runs),
        "checks": sorted({r.get("check", "") for r in runs}),
    }


def fmt(v, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(summary: dict[str, dict], skipped: dict[str, str]) -> None:
    head = (
        "runner",
        "domains",
        "wall s",
        "in-proc s",
        "domains/s",
        "DNS queries",
        "queries/s",
        "queries are",
        "RSS MB",
        "tree RSS MB",
        "CPU s",
        "CPU ms/dom",
        "results",
    )
    rows = []
    for name, s in summary.items():
        rows.append(
            (
                name,
                fmt(s["domains"]),
                fmt(s["wall_s"], ".2f"),
                fmt(s["audit_s"], ".2f"),
                fmt(s["dps"], ",.1f"),
                fmt(s["queries"]),
                fmt(s["qps"], ",.0f"),
                s["queries_source"] or "-",
                fmt(s["maxrss_mb"], ".1f"),
                fmt(s["tree_rss_mb"], ".1f"),
                fmt(s["cpu_s"], ".2f"),
                fmt(s["cpu_ms_per_domain"], ".3f"),
                "ok" if s["valid"] else "INVALID",
            )
        )
    for name, why in skipped.items():
        rows.append((name, "-", "-", "-", "-", "-", "-", f"skipped: {why}", "-", "-", "-", "-", "-"))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join(
        h.ljust(w) if i in (0, 7, 12) else h.rjust(w)
        for i, (h, w) in enumerate(zip(head, widths, strict=False))
    )
    print(line)
    print("-" * len(line))
    for r in rows:
        print(
            "  ".join(
                str(c).ljust(w) if i in (0, 7, 12) else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=False))
            )
        )


def ratio(a, b) -> float | None:
    return a / b if a and b else None


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="sendready DNS benchmark (see bench/README.md)")
    ap.add_argument("--domains", type=int, default=None, help="N (default 10000; 200 with --smoke)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=None, help="runs per runner (default 3; 1 with --smoke)")
    ap.add_argument("--port", type=int, default=53535)
    ap.add_argument("--work", type=Path, default=BENCH / ".work")
    ap.add_argument(
        "--runners",
        default=",".join(RUNNER_NAMES),
        help="comma-separated subset of: " + ",".join(RUNNER_NAMES),
    )
    ap.add_argument(
        "--checkdmarc-limit",
        type=int,
        default=1000,
        help="checkdmarc checks only the first K domains (0 = all; it is sequential)",
    )
    ap.add_argument("--checkdmarc-mode", choices=("limited", "full"), default="limited")
    ap.add_argument("--concurrency", type=int, default=100, help="naive runner's semaphore")
    ap.add_argument(
        "--workers",
        default=None,
        help="sendready --workers value(s), comma-separated (e.g. 1,2: one sendready runner per value,"
        " named sendready-w1, sendready-w2); default: sendready's own default",
    )
    ap.add_argument(
        "--sendready-format",
        choices=("json", "jsonl"),
        default="json",
        help="sendready's output: one JSON report (default) or a JSON Lines stream",
    )
    ap.add_argument("--dnsperf-seconds", type=float, default=None, help="default 5 (1 with --smoke)")
    ap.add_argument("--timeout", type=float, default=1800, help="per-run time limit, seconds")
    ap.add_argument("--json", type=Path, help="also write all raw and median figures here")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="small quick run for CI; exits non-zero if a runner fails",
    )
    args = ap.parse_args(argv)
    n = args.domains or (200 if args.smoke else 10000)
    repeat = args.repeat or (1 if args.smoke else 3)
    dnsperf_s = args.dnsperf_seconds if args.dnsperf_seconds is not None else (1 if args.smoke else 5)
    wanted = [r.strip() for r in args.runners.split(",") if r.strip()]
    unknown = set(wanted) - set(RUNNER_NAMES)
    if unknown:
        ap.error(f"unknown runner(s): {', '.join(sorted(unknown))}")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    args.work.mkdir(parents=True, exist_ok=True)
    pop = ensure_population(n, args.seed, args.work)
    stamp = json.loads((pop / "stamp.json").read_text())
    runs_dir = pop / "runs"
    runs_dir.mkdir(exist_ok=True)

    runners: list[Runner] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        if name == "sendready":
            counts = [w.strip() for w in (args.workers or "").split(",") if w.strip()] or [None]
            named = [(w, "sendready" if len(counts) == 1 else f"sendready-w{w}") for w in counts]
            variants = [SendreadyRunner(w, args.sendready_format, label) for w, label in named]
            if not variants[0].available:
                print(f"sendready: not available yet ({variants[0].why_unavailable})", flush=True)
                skipped[name] = "not available yet"
                continue
            runners += variants
            continue
        elif name == "checkdmarc":
            r = CheckdmarcRunner(
                args.checkdmarc_limit if args.checkdmarc_limit < n else 0, args.checkdmarc_mode
            )
        else:
            r = NaiveRunner(args.concurrency)
        runners.append(r)

    results: dict[str, list[dict]] = {r.name: [] for r in runners}
    failures: list[str] = []
    dnsperf: dict = {}
    nsd("stop", pop, args.port)  # a leftover server of ours from an interrupted run
    if not port_is_free(args.port):
        log(f"127.0.0.1:{args.port}/udp is in use by another program; choose --port")
        return 2
    started = False
    try:
        nsd("start", pop, args.port)
        started = True
        # round-robin over runners so that drift on the machine hits every runner alike
        for i in range(repeat):
            for r in runners:
                out = runs_dir / f"{r.name}-{i}.json"
                out.unlink(missing_ok=True)
                so, se = runs_dir / f"{r.name}-{i}.stdout", runs_dir / f"{r.name}-{i}.stderr"
                log(f"[{i + 1}/{repeat}] {r.name} ...")
                m = measured_run(
                    r.command(pop, args.port, out),
                    cwd=REPO,
                    stdout=so,
                    stderr=se,
                    timeout=args.timeout,
                )
                if m["rc"] != 0 or m["timed_out"]:
                    why = "timed out" if m["timed_out"] else f"exit {m['rc']}"
                    failures.append(f"{r.name} run {i + 1}: {why}\n{tail(se)}")
                    log(f"    FAILED ({why}); stderr tail:\n{tail(se)}")
                    continue
                try:
                    p = r.parse(pop, out, so)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    failures.append(f"{r.name} run {i + 1}: unreadable output ({exc})")
                    log(f"    FAILED: unreadable output ({exc})")
                    continue
                m.update(p)
                m["dps"] = m["domains"] / m["wall_s"] if m["domains"] else None
                m["cpu_ms_per_domain"] = 1000 * m["cpu_s"] / m["domains"] if m["domains"] else None
                results[r.name].append(m)
                log(
                    f"    {m['domains']} domains in {m['wall_s']:.2f} s = {fmt(m['dps'], ',.1f')}"
                    f" domains/s, {fmt(m['queries'])} queries, RSS {m['maxrss_mb']:.0f} MB,"
                    f" CPU {m['cpu_s']:.2f} s"
                )
        log(f"dnsperf for {dnsperf_s:g} s on {stamp['queries']} queries ...")
        dnsperf = run_dnsperf(pop, args.port, dnsperf_s)
    except KeyboardInterrupt:
        log("interrupted" + (": stopping NSD" if started else ""))
        return 130
    finally:
        if started:
            nsd("stop", pop, args.port)

    # sendready without a dns_queries field: use the naive runner's count for the same query set
    naive_q = med([m["queries"] for m in results.get("naive", [])])
    sendready_names = [name for name in results if name.startswith("sendready")]
    for m in (m for name in sendready_names for m in results[name]):
        if m["queries"] is None and naive_q is not None:
            m["queries"] = naive_q
            m["queries_source"] = "derived (= naive's count)"
        m["qps"] = m["queries"] / m["wall_s"] if m["queries"] else None
    for name, runs in results.items():
        if name not in sendready_names:
            for m in runs:
                m["qps"] = m["queries"] / m["wall_s"] if m["queries"] else None

    summary = {name: summarise(runs) for name, runs in results.items() if runs}

    # ---- print
    cd = results.get("checkdmarc") or []
    print()
    print(
        f"sendready DNS benchmark: {n} domains (seed {args.seed}), {repeat} repeat(s), medians;"
        f" {nsd_version()} on 127.0.0.1:{args.port}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}"
    )
    print(f"population mix: {json.dumps(stamp['mix'], sort_keys=True)}")
    if cd:
        d = cd[0]["detail"]
        note = (
            f"first {d['domains']} of {d['domains_in_inventory']} domains"
            if d["domains"] < d["domains_in_inventory"]
            else "all domains"
        )
        print(
            f"checkdmarc {d['checkdmarc_version']}: mode {d['mode']} ({note}; stubbed: "
            f"{', '.join(d['stubbed_checks']) or 'nothing'})"
        )
    print()
    print_table(summary, skipped)
    print()
    for name, sm in summary.items():
        print(f"results check, {name}: {'; '.join(sm['checks'])}")
    print()
    c, nv = summary.get("checkdmarc"), summary.get("naive")
    ratios: dict[str, float | None] = {}
    pairs = []
    for name in (n for n in summary if n.startswith("sendready")):
        s = summary[name]
        pairs += [
            (f"{name}/checkdmarc domains/s", s, c, "dps"),
            (f"{name}/naive domains/s", s, nv, "dps"),
            (f"{name}/naive queries/s", s, nv, "qps"),
        ]
    pairs.append(("naive/checkdmarc domains/s", nv, c, "dps"))
    for label, a, b, key in pairs:
        if not (a and b):
            continue
        bad = [n for n, x in summary.items() if x in (a, b) and not x["valid"]]
        if bad:
            print(f"ratio {label:37s} n/a ({', '.join(bad)}: results INVALID, see check above)")
            ratios[label] = None
        else:
            ratios[label] = ratio(a[key], b[key])
            print(f"ratio {label:37s} {fmt(ratios[label], '.1f')}x")
    if not any(n.startswith("sendready") for n in summary):
        print("ratio sendready/*: n/a (sendready did not run)")
    if dnsperf.get("available"):
        lost = dnsperf.get("lost")
        print(
            f"server capacity (dnsperf, {dnsperf_s:g} s, same query set): "
            f"{fmt(dnsperf.get('qps'), ',.0f')} queries/s, lost {fmt(lost)}, avg latency "
            f"{fmt(dnsperf.get('latency_avg_ms'), '.3f')} ms"
        )
        for name, sm in summary.items():
            if sm.get("qps") and dnsperf.get("qps"):
                print(f"  {name} uses {100 * sm['qps'] / dnsperf['qps']:.1f}% of it")
    else:
        print(f"server capacity: {dnsperf.get('why', 'not measured')}")
    for name, runs in results.items():
        lost = [m.get("lost_or_errors") for m in runs if m.get("lost_or_errors")]
        if lost:
            print(f"WARNING: {name} saw timeouts/errors ({lost}); is NSD rate limiting on?")
    for f in failures:
        print(f"FAILED: {f.splitlines()[0]}")

    record = {
        "when": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "domains": n,
        "seed": args.seed,
        "repeat": repeat,
        "port": args.port,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "population": stamp,
        "skipped": skipped,
        "runs": results,
        "medians": summary,
        "ratios": ratios,
        "dnsperf": dnsperf,
        "failures": failures,
        "sendready_workers": args.workers,
        "sendready_format": args.sendready_format,
    }
    path = args.json or runs_dir / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(f"raw figures: {path}")

    if args.smoke:
        problems = list(failures)
        for name in ("checkdmarc", "naive"):
            if name in wanted and not results.get(name):
                problems.append(f"{name} produced no result")
        problems += [f"{n} results INVALID" for n, sm in summary.items() if not sm["valid"]]
        if not dnsperf.get("qps") and shutil.which("dnsperf"):
            problems.append("dnsperf produced no figure")
        if problems:
            print("SMOKE FAILED: " + "; ".join(p.splitlines()[0] for p in problems))
            return 1
        print("SMOKE OK")
    return 1 if failures or any(not sm["valid"] for sm in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

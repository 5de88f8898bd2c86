"""Streams, resume, shards, merge and worker processes, end to end against real loopback DNS.

The interrupt tests stall one domain's DMARC lookup on the in-process DNS server, wait until every
other domain is in the stream, then interrupt or kill the real `python -m auditor` process. Only
then is the stall cleared and `--resume` run, so each test knows exactly which domains the first
run finished and can check, from the server's own query log, that the resume did not ask again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES, REPO
from tests.e2e.test_audit_dns import EXPECTED_PROBLEMS
from tests.servers.dns_server import LoopbackDnsServer

runner = CliRunner()
INVENTORY = str(EXAMPLES / "inventory.yaml")
STALLED = "mg.acme-shop.example"  # inventory position 0: with --workers 2, this process's share
STALLED_IN_WORKER = "mg.example-eu.example"  # position 1: the worker process's share

SMALL_INVENTORY = """\
domains:
  - name: mg.acme-shop.example
    region: us
    dkim_selectors: [k1]
  - name: mg.nowhere.example     # in no zone: could not verify (unknown findings, some critical)
    region: us
  - name: mg.kestrel-news.example  # no DMARC record: DMARC001 fails, severity error
    region: us
    dkim_selectors: [k1]
  - name: mg.example-eu.example
    region: eu
    dkim_selectors: [s1]
"""
# (options, exit code) for SMALL_INVENTORY: each option changes the outcome somewhere.
EXIT_CASES: list[tuple[tuple[str, ...], int]] = [
    ((), 1),
    (("--fail-on", "critical"), 0),
    (("--fail-on", "critical", "--strict"), 1),
    (("--fail-on", "never", "--strict"), 0),
]


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def domain_lines(path: Path) -> list[dict[str, Any]]:
    return [line for line in lines_of(path) if line["type"] == "domain"]


def problems_in(path: Path) -> dict[str, set[str]]:
    return {
        d["report"]["domain"]: {
            f["rule_id"]
            for f in d["report"]["findings"]
            if f["status"] in ("fail", "unknown") and f["severity"] != "info"
        }
        for d in domain_lines(path)
    }


def wait_for_domains(path: Path, count: int, process: subprocess.Popen[str]) -> None:
    """Until the stream holds `count` domain lines (whole lines only)."""
    for _ in range(600):
        if process.poll() is not None:
            raise AssertionError(f"audit ended early: {process.communicate()}")
        if path.exists():
            whole = path.read_bytes().rpartition(b"\n")[0]
            if whole.count(b'"type":"domain"') >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"the stream never reached {count} domains")


def start_audit(
    server: LoopbackDnsServer, out: Path, *extra: str, new_session: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "auditor", "audit", INVENTORY, "--nameserver", server.address),
            *("--timeout", "30", "--attempts", "1", "--format", "jsonl", "--output", str(out), "-q"),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def resume(server: LoopbackDnsServer, out: Path, *extra: str) -> Any:
    return runner.invoke(
        app,
        [
            *("audit", INVENTORY, "--nameserver", server.address, "--format", "jsonl"),
            *("--output", str(out), "--resume", "-q", *extra),
        ],
    )


@pytest.fixture
def stalled_server() -> Iterator[LoopbackDnsServer]:
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        server.set_fault(f"_dmarc.{STALLED}", "timeout")
        yield server


def _assert_resumed_completely(
    out: Path, finished_before: set[str], server: LoopbackDnsServer, stalled: tuple[str, ...] = (STALLED,)
) -> None:
    lines = lines_of(out)
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "header" and kinds[-1] == "end" and kinds.count("resume") == 1
    assert lines[-1]["complete"] is True
    assert lines[-1]["summary"]["domains"] == 12
    assert problems_in(out) == EXPECTED_PROBLEMS  # every domain exactly once (a dict would hide a twin)
    assert len(domain_lines(out)) == 12
    for domain in finished_before:  # reported before the interruption: not asked again
        assert server.query_count(domain, "TXT") == 0, domain
    for domain in stalled:  # unfinished before: audited (once) now
        assert server.query_count(domain, "TXT") == 1, domain


def test_ctrl_c_leaves_an_incomplete_stream_that_resume_completes(
    tmp_path: Path, stalled_server: LoopbackDnsServer
) -> None:
    out = tmp_path / "audit.jsonl"
    process = start_audit(stalled_server, out, "--workers", "1")
    try:
        wait_for_domains(out, 11, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = lines_of(out)[-1]
    assert last["type"] == "end" and last["complete"] is False
    finished_before = set(problems_in(out))
    assert len(finished_before) == 11 and STALLED not in finished_before

    stalled_server.clear_faults()
    stalled_server.reset_counters()
    result = resume(stalled_server, out)
    assert result.exit_code == 1, result.output  # complete now, with the example's planted failures
    _assert_resumed_completely(out, finished_before, stalled_server)

    again = resume(stalled_server, out)  # a complete stream: nothing to do, same verdict
    assert again.exit_code == 1
    assert [line["type"] for line in lines_of(out)].count("resume") == 1


def test_killed_audit_with_a_torn_last_line_is_resumed(
    tmp_path: Path, stalled_server: LoopbackDnsServer
) -> None:
    out = tmp_path / "audit.jsonl"
    process = start_audit(stalled_server, out, "--workers", "1")
    try:
        wait_for_domains(out, 11, process)
        process.kill()
        process.communicate(timeout=30)
    finally:
        process.kill()
    with out.open("ab") as handle:  # what a write cut short by the kill leaves behind
        handle.write(b'{"type":"domain","index":0,"report":{"domain":"mg.acme-sh')
    finished_before = set(problems_in_whole_lines(out))
    assert len(finished_before) == 11

    stalled_server.clear_faults()
    stalled_server.reset_counters()
    result = resume(stalled_server, out)
    assert result.exit_code == 1, result.output
    assert out.read_bytes().endswith(b"\n")
    _assert_resumed_completely(out, finished_before, stalled_server)


def problems_in_whole_lines(path: Path) -> dict[str, set[str]]:
    whole = path.read_bytes().rpartition(b"\n")[0].decode()
    lines = [json.loads(line) for line in whole.splitlines()]
    return {line["report"]["domain"]: set() for line in lines if line["type"] == "domain"}


def test_ctrl_c_with_workers_then_resume_with_workers(
    tmp_path: Path, stalled_server: LoopbackDnsServer
) -> None:
    """Ctrl-C as a terminal sends it: to the whole process group, workers included.

    One stalled domain is in this process's share and one in the worker's, so both ways of
    stopping (our own cancelled share, the worker's SIGTERM) are exercised.
    """
    stalled_server.set_fault(f"_dmarc.{STALLED_IN_WORKER}", "timeout")
    out = tmp_path / "audit.jsonl"
    process = start_audit(stalled_server, out, "--workers", "2", new_session=True)
    try:
        wait_for_domains(out, 10, process)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = lines_of(out)[-1]
    assert last["type"] == "end" and last["complete"] is False
    finished_before = set(problems_in(out))
    assert len(finished_before) == 10
    assert not {STALLED, STALLED_IN_WORKER} & finished_before

    stalled_server.clear_faults()
    stalled_server.reset_counters()
    result = resume(stalled_server, out, "--workers", "2")
    assert result.exit_code == 1, result.output
    _assert_resumed_completely(out, finished_before, stalled_server, (STALLED, STALLED_IN_WORKER))


def _worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_worker_that_dies_leaves_the_run_incomplete_with_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    with LoopbackDnsServer(zone_dir=EXAMPLES / "zones") as server:
        server.set_fault(f"_dmarc.{STALLED_IN_WORKER}", "timeout")
        process = start_audit(server, out, "--workers", "2")
        try:
            wait_for_domains(out, 11, process)  # all but the worker's stalled domain
            workers = _worker_pids(process.pid)
            assert len(workers) == 1
            os.kill(workers[0], signal.SIGKILL)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 3, stderr
    assert stderr.splitlines()[0] == (
        "sendready: error: worker 1 exited unexpectedly (exit code -9); the report is marked incomplete"
    )
    assert "Traceback" not in stderr
    assert lines_of(out)[-1]["complete"] is False
    assert STALLED_IN_WORKER not in problems_in(out)


# --------------------------------------------------------------------------- every path, same verdict


@pytest.fixture(scope="module")
def small_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inv") / "small.yaml"
    path.write_text(SMALL_INVENTORY)
    return path


def _audit(inventory: Path, *args: str) -> Any:
    return runner.invoke(app, ["audit", str(inventory), "--zone-dir", str(EXAMPLES / "zones"), "-q", *args])


@pytest.fixture(scope="module")
def small_shards(small_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("shards")
    paths = [str(out / f"s{i}.jsonl") for i in (1, 2)]
    for i, path in enumerate(paths, start=1):
        result = _audit(small_inventory, "--shard", f"{i}/2", "--output", path, "--fail-on", "never")
        assert result.exit_code == 0, result.output
    return paths


@pytest.mark.parametrize(("options", "expected"), EXIT_CASES)
def test_exit_codes_agree_on_the_classic_stream_and_merge_paths(
    small_inventory: Path, small_shards: list[str], tmp_path: Path, options: tuple[str, ...], expected: int
) -> None:
    classic = _audit(small_inventory, "--workers", "1", *options)
    assert classic.exit_code == expected, classic.output
    streamed = _audit(small_inventory, "--workers", "1", "--output", str(tmp_path / "a.jsonl"), *options)
    assert streamed.exit_code == expected, streamed.output
    merged = runner.invoke(
        app, ["merge", *small_shards, "--output", str(tmp_path / "m.json"), "-q", *options]
    )
    assert merged.exit_code == expected, merged.output


def test_workers_give_the_same_reports_and_exit_codes_as_one_process(
    small_inventory: Path, tmp_path: Path
) -> None:
    # Only the unverifiable domain's unknown findings are critical: exit 1 needs them to have come
    # back from a worker and been counted (without --strict the same run exits 0, see EXIT_CASES).
    strict = ("--fail-on", "critical", "--strict")
    one = _audit(small_inventory, "--workers", "1", "--output", str(tmp_path / "one.json"), *strict)
    two = _audit(
        small_inventory,
        *(
            "--workers",
            "2",
            "--format",
            "json",
            "--format",
            "jsonl",
            "--output",
            str(tmp_path / "two"),
            *strict,
        ),
    )
    assert (one.exit_code, two.exit_code) == (1, 1), two.output
    first, second = (json.loads((tmp_path / name).read_text()) for name in ("one.json", "two.json"))
    assert first["domains"] == second["domains"]  # same reports, same (inventory) order
    assert first["summary"] == second["summary"] and second["complete"] is True
    assert len(domain_lines(tmp_path / "two.jsonl")) == 4


def test_merge_of_every_shard_equals_one_run_and_refuses_a_partial_set(tmp_path: Path) -> None:
    zones = str(EXAMPLES / "zones")
    whole = runner.invoke(
        app, ["audit", INVENTORY, "--zone-dir", zones, "--output", str(tmp_path / "whole.json")]
    )
    assert whole.exit_code == 1
    shards = []
    for i in (1, 2, 3):
        shard = tmp_path / f"shard-{i}.jsonl"
        result = runner.invoke(
            app, ["audit", INVENTORY, "--zone-dir", zones, "--shard", f"{i}/3", "--output", str(shard)]
        )
        assert result.exit_code in (0, 1), result.output
        assert lines_of(shard)[0]["shard"] == {"index": i, "count": 3}
        shards.append(str(shard))
    merged = runner.invoke(
        app, ["merge", *shards, "--format", "json", "--format", "jsonl", "--output", str(tmp_path / "m")]
    )
    assert merged.exit_code == 1, merged.output
    one, together = (json.loads((tmp_path / n).read_text()) for n in ("whole.json", "m.json"))
    assert together["complete"] is True
    assert together["domains"] == one["domains"]
    assert together["summary"] == one["summary"]
    stream = lines_of(tmp_path / "m.jsonl")
    assert stream[0]["shard"] is None and stream[-1]["complete"] is True and len(stream) == 14

    partial = runner.invoke(app, ["merge", *shards[:2], "--output", str(tmp_path / "p.html")])
    assert partial.exit_code == 2
    assert partial.stderr == "sendready: error: FILES: missing shard 3/3 of 3\n"
    assert not (tmp_path / "p.html").exists()


def test_merge_marks_the_report_incomplete_when_a_shard_was(tmp_path: Path) -> None:
    zones = str(EXAMPLES / "zones")
    shards = []
    for i in (1, 2):
        shard = tmp_path / f"shard-{i}.jsonl"
        runner.invoke(
            app, ["audit", INVENTORY, "--zone-dir", zones, "--shard", f"{i}/2", "--output", str(shard)]
        )
        shards.append(shard)
    cut = shards[1].read_bytes().splitlines(keepends=True)
    shards[1].write_bytes(b"".join(cut[:-2]))  # killed: one domain short and no end line
    merged = runner.invoke(
        app, ["merge", *map(str, shards), "--output", str(tmp_path / "m.json"), "--fail-on", "never"]
    )
    assert merged.exit_code == 3
    assert merged.stderr.startswith(
        f"sendready: error: incomplete: {shards[1]}; the report is marked incomplete"
    )
    document = json.loads((tmp_path / "m.json").read_text())
    assert document["complete"] is False
    assert len(document["domains"]) == 11


def test_progress_bar_counts_every_domain_from_every_worker(tmp_path: Path) -> None:
    """The bar (shown on terminals for 20+ domains) is fed by this process and the worker alike."""
    import io

    from rich.console import Console

    from auditor.audit import AuditSettings
    from auditor.cli.scaled import ScaleOptions, run_scaled
    from auditor.engine.catalogue import catalogue_files, load_catalogues
    from auditor.engine.rules import load_rules
    from auditor.inventory import load_inventory, targets_from_names
    from auditor.resources import rules_dir
    from auditor.scale.backends import BackendSpec
    from auditor.scale.session import Engine

    targets = load_inventory(EXAMPLES / "inventory.yaml") + targets_from_names(
        [f"mg.unknown-{i}.example" for i in range(12)]  # in no zone: quick "could not verify"
    )
    spec = BackendSpec(zone_dir=EXAMPLES / "zones")
    catalogue_paths = catalogue_files([rules_dir()])
    engine = Engine(
        load_rules([rules_dir()]),
        load_catalogues(catalogue_paths),
        spec.build(),
        spec,
        (rules_dir(),),
        catalogue_paths,
        AuditSettings(),
    )
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    finished = run_scaled(
        targets, None, [("jsonl", tmp_path / "a.jsonl")], ScaleOptions(None, False, 2), engine, console
    )
    assert finished.complete and finished.summary.domains == 24
    assert "24/24" in screen.getvalue()

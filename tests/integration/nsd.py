"""A real NSD (Debian's authoritative server) on a random loopback port, for the integration tier.

CI installs NSD (`.ci/run`), and there a missing `nsd` is a failure, not a skip. The server's
config, pid file and log live in a temporary directory; it is stopped through its own pid file,
so no other NSD on the machine is touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest

NSD = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)


def require_nsd() -> str:
    """NSD's path; outside CI a missing NSD skips the calling module, in CI it fails it."""
    if NSD is None:
        if os.environ.get("CI"):
            pytest.fail("nsd is not installed; .ci/run should have installed it", pytrace=False)
        pytest.skip("nsd not installed (apt-get install nsd)", allow_module_level=True)
    return NSD


@contextmanager
def running_nsd(workdir: Path, zones: Iterable[tuple[str, Path]], ready: tuple[str, str]) -> Iterator[str]:
    """Serve `zones` (origin, zone file) and yield `127.0.0.1:PORT` once `ready` (name, type) answers."""
    nsd = require_nsd()
    port = _free_port()
    conf = _config(workdir, port, zones)
    started = subprocess.run([nsd, "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr + (workdir / "nsd.log").read_text(errors="replace")
    try:
        _wait_ready(port, *ready)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(workdir / "nsd.pid")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def _config(workdir: Path, port: int, zones: Iterable[tuple[str, Path]]) -> Path:
    blocks = "".join(f'zone:\n\tname: "{origin}"\n\tzonefile: "{path}"\n\n' for origin, path in zones)
    conf = workdir / "nsd.conf"
    conf.write_text(
        "server:\n"
        f"\tip-address: 127.0.0.1@{port}\n\tport: {port}\n\tdo-ip6: no\n\tserver-count: 1\n"
        '\tusername: ""\n\tchroot: ""\n\tdatabase: ""\n'
        f'\tzonelistfile: "{workdir}/zone.list"\n\tpidfile: "{workdir}/nsd.pid"\n'
        f'\txfrdfile: "{workdir}/xfrd.state"\n\txfrdir: "{workdir}"\n'
        f'\tlogfile: "{workdir}/nsd.log"\n\tverbosity: 1\n\tzonefiles-write: 0\n'
        "\trrl-ratelimit: 0\n\trrl-whitelist-ratelimit: 0\n"
        "remote-control:\n\tcontrol-enable: no\n\n" + blocks
    )
    return conf


def _wait_ready(port: int, name: str, rdtype: str) -> None:
    query = dns.message.make_query(name, rdtype)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if dns.query.udp(query, "127.0.0.1", port=port, timeout=0.3).answer:
                return
        except (dns.exception.Timeout, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("NSD did not answer within 20 s")


def _stop(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)

"""`pip install .` (not editable) must find the rules and templates: build, install, run outside."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_carries_rules_and_templates_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(dist),
        str(REPO),
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("sendready-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "auditor/_data/rules/spf.yaml" in names
    assert "auditor/_data/rules/providers/catalogue.yaml" in names
    assert "auditor/_data/reports/html/report.html.j2" in names
    assert "auditor/_data/reports/markdown/report.md.j2" in names

    # A fresh environment: dependencies come from this one, the package only from the wheel.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = _run(str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    site = _run(
        str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    ).stdout.strip()
    # Written after the install, or pip would see the test environment's copy and skip it.
    # Dependencies from the test environment, searched after the new environment's own packages.
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "zz_test_dependencies.pth").write_text("\n".join(sorted(outer)) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = _run(
        str(python),
        "-c",
        "import auditor, auditor.resources as r; print(auditor.__file__); print(r.rules_dir())",
        cwd=elsewhere,
        env=clean_env,
    )
    assert where.returncode == 0, where.stderr
    package_file, rules = where.stdout.splitlines()
    assert package_file.startswith(str(env_dir)), "imported the checkout, not the wheel"
    assert rules.startswith(str(env_dir)) and rules.endswith("_data/rules")

    audit = _run(
        str(env_dir / "bin" / "sendready"),
        "audit",
        str(EXAMPLES / "inventory.yaml"),
        "--zone-dir",
        str(EXAMPLES / "zones"),
        "--output",
        "report.html",
        "-q",
        cwd=elsewhere,
        env=clean_env,
    )
    assert audit.returncode == 1, audit.stderr
    html = (elsewhere / "report.html").read_text()
    assert "mg.delta-retail.example" in html and "SPF004" in html

"""Reports rendered from the spill are the same whether one process or several audited the domains.

With `--workers 2` and no JSON Lines stream, the worker sends each report already in the JSON
report's form and this process only copies it; with one process, this process encodes them. The
two reports must agree byte for byte, apart from the run's timestamps and DNS counts (a name
shared by domains is asked once per process).
"""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from auditor.cli.app import app
from tests.conftest import EXAMPLES

runner = CliRunner()
_VOLATILE = re.compile(
    r"\d{4}\\?-\d\d\\?-\d\dT\d\d\\?:\d\d\\?:\d\d\\?\+00\\?:00"  # a timestamp (escaped in Markdown)
    r"|(?<=queries sent: )\d+|(?<=\"dns_(?:queries|lookups)\": )\d+"
)


def _reports(out: Path, workers: str) -> dict[str, str]:
    result = runner.invoke(
        app,
        [
            "audit",
            str(EXAMPLES / "inventory.yaml"),
            "--zone-dir",
            str(EXAMPLES / "zones"),
            *("--workers", workers),
            *("--format", "json", "--format", "html", "--format", "md"),
            *("--output", str(out / "report"), "--fail-on", "never", "-q"),
        ],
    )
    assert result.exit_code == 0, result.output
    texts = {fmt: (out / f"report.{fmt}").read_text() for fmt in ("json", "html", "md")}
    return {fmt: _VOLATILE.sub("<run>", text) for fmt, text in texts.items()}


def test_reports_from_workers_equal_reports_from_one_process(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = _reports(tmp_path / "one", "1")
    two = _reports(tmp_path / "two", "2")
    assert one["json"].count('"domain": ') >= 4
    assert one == two
    assert [p.name for p in (tmp_path / "two").iterdir() if p.name.startswith(".")] == []  # no spill left

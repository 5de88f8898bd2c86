"""`--resume` and `sendready merge` refuse streams from another audit: exit 2, one line, nothing written.

The streams are real ones, written by auditing the bundled example from its zone files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.errors import InputError
from auditor.scale.jsonl import StreamWriter
from tests.conftest import EXAMPLES

runner = CliRunner()
ZONES = str(EXAMPLES / "zones")
INVENTORY = EXAMPLES / "inventory.yaml"
PREFIX = "sendready: error: "


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example as one stream, as shards 1/2 and 2/2, and as shard 1/3; plus a smaller inventory."""
    base = tmp_path_factory.mktemp("streams")
    smaller = base / "smaller.yaml"
    smaller.write_text("\n".join(INVENTORY.read_text().splitlines()[:20]) + "\n")
    made = {
        "whole": [],
        "s1of2": ["--shard", "1/2"],
        "s2of2": ["--shard", "2/2"],
        "s1of3": ["--shard", "1/3"],
    }
    paths = {}
    for name, extra in made.items():
        path = base / f"{name}.jsonl"
        result = runner.invoke(
            app, ["audit", str(INVENTORY), "--zone-dir", ZONES, "--output", str(path), *extra]
        )
        assert result.exit_code in (0, 1), result.output
        paths[name] = path
    other = base / "other.jsonl"
    result = runner.invoke(
        app, ["audit", str(smaller), "--zone-dir", ZONES, "--shard", "2/2", "--output", str(other)]
    )
    assert result.exit_code in (0, 1), result.output
    return {**paths, "other-2of2": other, "smaller": smaller}


def _one_line_exit_2(result: object, starts: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(PREFIX + starts), lines
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_resume_refuses_a_stream_of_another_inventory(streams: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "whole.jsonl"
    target.write_bytes(streams["whole"].read_bytes())
    result = runner.invoke(
        app, ["audit", str(streams["smaller"]), "--zone-dir", ZONES, "--output", str(target), "--resume"]
    )
    _one_line_exit_2(result, f"{target}: --resume: the stream belongs to a different inventory (sha256:")
    assert target.read_bytes() == streams["whole"].read_bytes()


def test_resume_refuses_a_stream_of_another_shard(streams: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "s1.jsonl"
    target.write_bytes(streams["s1of2"].read_bytes())
    result = runner.invoke(
        app,
        ["audit", str(INVENTORY), "--zone-dir", ZONES, "--shard", "2/2", "--output", str(target), "--resume"],
    )
    _one_line_exit_2(result, f"{target}: --resume: the stream is for shard 1/2, not shard 2/2")
    unsharded = runner.invoke(
        app, ["audit", str(INVENTORY), "--zone-dir", ZONES, "--output", str(target), "--resume"]
    )
    _one_line_exit_2(unsharded, f"{target}: --resume: the stream is for shard 1/2, not the whole inventory")
    assert target.read_bytes() == streams["s1of2"].read_bytes()


def test_resume_of_a_missing_file_starts_a_new_stream(tmp_path: Path) -> None:
    target = tmp_path / "new.jsonl"
    result = runner.invoke(
        app, ["audit", str(INVENTORY), "--zone-dir", ZONES, "--output", str(target), "--resume"]
    )
    assert result.exit_code == 1, result.output
    assert target.read_text().count('"type":"domain"') == 12


def test_a_stream_being_written_is_not_written_twice(tmp_path: Path) -> None:
    target = tmp_path / "busy.jsonl"
    writer = StreamWriter.open(target)
    try:
        with pytest.raises(InputError, match="another sendready process is writing this stream"):
            StreamWriter.open(target)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("files", "starts"),
    [
        (["s1of2", "other-2of2"], "{other-2of2}: not from the same inventory as {s1of2}"),
        (["s1of2", "s1of2", "s2of2"], "{s1of2}: shard 1/2 given twice (also {s1of2})"),
        (["s1of2"], "FILES: missing shard 2/2 of 2"),
        (["s1of2", "s1of3"], "{s1of3}: shard 1/3 is not one of the 2 shards of {s1of2}"),
        (["whole", "s1of2"], "{whole}: holds the whole inventory, not a shard"),
        (["smaller"], "{smaller}:1: not a sendready JSON Lines stream (no header line)"),
    ],
)
def test_merge_refuses_anything_but_one_audits_shards(
    streams: dict[str, Path], tmp_path: Path, files: list[str], starts: str
) -> None:
    out = tmp_path / "merged.html"
    result = runner.invoke(app, ["merge", *(str(streams[f]) for f in files), "--output", str(out)])
    _one_line_exit_2(result, starts.format(**{k: str(v) for k, v in streams.items()}))
    assert not out.exists()


def test_merge_needs_an_output_and_existing_files(streams: dict[str, Path], tmp_path: Path) -> None:
    _one_line_exit_2(
        runner.invoke(app, ["merge", str(streams["whole"])]), "--output: merge needs --output PATH"
    )
    missing = tmp_path / "nope.jsonl"
    _one_line_exit_2(
        runner.invoke(app, ["merge", str(missing), "--output", str(tmp_path / "m.html")]),
        f"{missing}: file not found",
    )


def test_merge_never_writes_over_one_of_its_inputs(streams: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "whole.jsonl"
    target.write_bytes(streams["whole"].read_bytes())
    result = runner.invoke(app, ["merge", str(target), "--format", "jsonl", "--output", str(target)])
    _one_line_exit_2(result, f"--output: {target} is one of the streams to merge")
    assert target.read_bytes() == streams["whole"].read_bytes()


def test_merge_of_one_whole_stream_renders_it(streams: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "whole.md"
    result = runner.invoke(app, ["merge", str(streams["whole"]), "--output", str(out), "-q"])
    assert result.exit_code == 1, result.output
    assert "mg.kestrel-news.example" in out.read_text()

"""The JSON Lines stream: what it holds, that it reads back exactly, and how it fails on bad input."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.errors import InputError
from auditor.inventory import load_inventory
from auditor.model.findings import Severity
from auditor.model.report import Summary
from auditor.model.stream import ShardRef
from auditor.scale.jsonl import read_stream, stream_json_schema
from auditor.scale.merge import load_report
from auditor.scale.shards import inventory_fingerprint, parse_shard, select_shard, shard_number
from auditor.scale.tally import ReportDigest, Tally
from tests.conftest import EXAMPLES, REPO

runner = CliRunner()
ZONES = str(EXAMPLES / "zones")
INVENTORY = str(EXAMPLES / "inventory.yaml")


@pytest.fixture(scope="module")
def example_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled example audited once as a stream (plus JSON rendered from it) and once classically."""
    out = tmp_path_factory.mktemp("stream")
    streamed = runner.invoke(
        app,
        [
            *("audit", INVENTORY, "--zone-dir", ZONES, "--format", "jsonl", "--format", "json"),
            *("--output", str(out / "streamed"), "-q"),
        ],
    )
    assert streamed.exit_code == 1, streamed.output
    classic = runner.invoke(
        app, ["audit", INVENTORY, "--zone-dir", ZONES, "--output", str(out / "classic.json")]
    )
    assert classic.exit_code == 1, classic.output
    return {"jsonl": out / "streamed.jsonl", "json": out / "streamed.json", "classic": out / "classic.json"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stream_is_header_domains_end_and_each_line_matches_the_schema(
    example_outputs: dict[str, Path],
) -> None:
    lines = _lines(example_outputs["jsonl"])
    assert [line["type"] for line in lines] == ["header"] + ["domain"] * 12 + ["end"]
    header, end = lines[0], lines[-1]
    assert header["format"] == "sendready-jsonl"
    assert header["domains"] == header["inventory_domains"] == 12
    assert header["shard"] is None
    assert end["complete"] is True
    assert sorted(line["index"] for line in lines[1:-1]) == list(range(12))
    schema = stream_json_schema()
    for line in lines:
        jsonschema.validate(line, schema)
    broken = dict(lines[1], report={**lines[1]["report"], "readiness": "maybe"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_committed_stream_schema_matches_the_code() -> None:
    committed = json.loads((REPO / "docs" / "jsonl.schema.json").read_text())
    assert committed == stream_json_schema(), "regenerate: sendready schema --jsonl > docs/jsonl.schema.json"


def test_stream_reads_back_into_the_same_report_as_a_classic_run(example_outputs: dict[str, Path]) -> None:
    classic = json.loads(example_outputs["classic"].read_text())
    rendered = json.loads(example_outputs["json"].read_text())
    for document in (classic, rendered):
        for volatile in ("started_at", "finished_at"):
            document["run"].pop(volatile)
    assert rendered == classic  # same domains, same order, same findings, same totals, complete
    end = _lines(example_outputs["jsonl"])[-1]
    assert end["summary"] == classic["summary"]


def test_tally_equals_summary_of_the_same_reports(example_outputs: dict[str, Path]) -> None:
    report, _ = load_report([example_outputs["jsonl"]])
    tally = Tally()
    for domain in report.domains:
        tally.add(ReportDigest.of(domain))
    assert tally.summary() == Summary.of(report.domains)
    assert tally.fails(Severity.CRITICAL, strict=False)  # the example plants critical failures
    empty = Tally()
    assert not empty.fails(Severity.INFO, strict=True)


def test_torn_last_line_is_ignored_and_marks_the_stream_incomplete(
    example_outputs: dict[str, Path], tmp_path: Path
) -> None:
    whole = example_outputs["jsonl"].read_bytes().splitlines(keepends=True)
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b"".join(whole[:6]) + whole[6][:100])  # killed while writing the 6th domain
    seen: list[str] = []
    scan = read_stream(torn, lambda line: seen.append(line.report.domain))
    assert scan.torn
    assert scan.reported == len(seen) == 5
    assert scan.end is None and not scan.complete
    assert scan.records_end == len(b"".join(whole[:6]))


def test_invalid_line_inside_a_stream_names_its_line(
    example_outputs: dict[str, Path], tmp_path: Path
) -> None:
    whole = example_outputs["jsonl"].read_bytes().splitlines(keepends=True)
    damaged = tmp_path / "damaged.jsonl"
    record = json.loads(whole[3])
    record["report"]["readiness"] = "maybe"
    damaged.write_bytes(b"".join(whole[:3]) + json.dumps(record).encode() + b"\n" + b"".join(whole[4:]))
    with pytest.raises(InputError) as raised:
        read_stream(damaged)
    assert str(raised.value).startswith(f"{damaged}:4: invalid record (domain.report.readiness: ")


@pytest.mark.parametrize(
    "content",
    [b"", b"hello\n", b'{"type": "header", "format": "other"}\n', b"<html></html>\n", b"\xff\xfe\n"],
)
def test_a_file_that_is_not_a_stream_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read_stream(path)
    assert str(raised.value) == f"{path}:1: not a sendready JSON Lines stream (no header line)"


def test_a_domain_reported_twice_is_refused(example_outputs: dict[str, Path], tmp_path: Path) -> None:
    whole = example_outputs["jsonl"].read_bytes().splitlines(keepends=True)
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_bytes(b"".join(whole[:3]) + whole[2])
    with pytest.raises(InputError, match=r":4: domain .* reported twice"):
        read_stream(doubled)


# --------------------------------------------------------------------------- shards


def test_shard_split_ignores_inventory_order_and_covers_every_domain_once() -> None:
    targets = load_inventory(EXAMPLES / "inventory.yaml")
    shuffled = targets[:]
    random.Random(7).shuffle(shuffled)
    for count in (1, 2, 3, 5):
        parts = [{t.name for _, t in select_shard(targets, ShardRef(i, count))} for i in range(1, count + 1)]
        again = [{t.name for _, t in select_shard(shuffled, ShardRef(i, count))} for i in range(1, count + 1)]
        assert parts == again
        assert sum(len(p) for p in parts) == len(targets)
        assert set().union(*parts) == {t.name for t in targets}
    # A domain's shard depends on its name and N alone; pinned, because changing the hash would
    # silently re-split every sharded audit in flight.
    assert [shard_number(t.name, 4) for t in targets[:4]] == [4, 3, 2, 4]


def test_select_shard_keeps_inventory_positions() -> None:
    targets = load_inventory(EXAMPLES / "inventory.yaml")
    for index, target in select_shard(targets, ShardRef(2, 3)):
        assert targets[index] == target


def test_fingerprint_ignores_order_and_origin_but_not_settings() -> None:
    targets = load_inventory(EXAMPLES / "inventory.yaml")
    reordered = list(reversed(targets))
    assert inventory_fingerprint(targets) == inventory_fingerprint(reordered)
    moved = [dataclasses.replace(t, origin="elsewhere.yaml:1") for t in targets]
    assert inventory_fingerprint(moved) == inventory_fingerprint(targets)
    changed = [dataclasses.replace(targets[0], dkim_selectors=("other",)), *targets[1:]]
    assert inventory_fingerprint(changed) != inventory_fingerprint(targets)
    assert inventory_fingerprint(targets[1:]) != inventory_fingerprint(targets)


@pytest.mark.parametrize("text", ["0/4", "5/4", "x", "1/0", "2", "1/2/3", "-1/2", "", "1/ 2x"])
def test_parse_shard_refuses_nonsense(text: str) -> None:
    with pytest.raises(InputError, match=r"^--shard: expected I/N with 1 <= I <= N"):
        parse_shard(text)


def test_parse_shard_accepts_i_of_n() -> None:
    assert parse_shard("3/8") == ShardRef(3, 8)
    assert parse_shard(" 1/1 ") == ShardRef(1, 1)


def test_stream_to_stdout_is_pipeable(tmp_path: Path) -> None:
    """`--format jsonl --output -`: the records on stdout, the summary on stderr."""
    result = runner.invoke(
        app, ["audit", INVENTORY, "--zone-dir", ZONES, "--format", "jsonl", "--output", "-"]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["header"] + ["domain"] * 12 + ["end"]
    assert "12 domains: 2 ready" in result.stderr

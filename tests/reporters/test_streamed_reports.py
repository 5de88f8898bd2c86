"""Reports rendered from a spill on disk are byte for byte the whole-report renderers' output."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.audit import run_audit
from auditor.engine.catalogue import load_catalogue
from auditor.engine.rules import load_rules
from auditor.inventory import load_inventory
from auditor.model.report import AuditReport
from auditor.model.stream import DomainLine
from auditor.reporters import REPORTERS
from auditor.reporters.sinks import write_atomic_chunks
from auditor.reporters.streamed import STREAMED_REPORTERS
from auditor.resources import rules_dir
from auditor.scale.backends import BackendSpec
from auditor.scale.jsonl import encode_line
from auditor.scale.spill import ReportSpill
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def example_report() -> AuditReport:
    """The example inventory audited in memory, the way the whole-report renderers receive it."""
    return asyncio.run(
        run_audit(
            load_inventory(EXAMPLES / "inventory.yaml"),
            backend=BackendSpec(zone_dir=EXAMPLES / "zones").build(),
            rules=load_rules([rules_dir()]),
            catalogue=load_catalogue(rules_dir() / "providers" / "catalogue.yaml"),
        )
    )


def _spilled(report: AuditReport, directory: Path) -> ReportSpill:
    """The report's domains in a spill, added in reverse (finish order is not inventory order),
    in both stored forms: as this process stores them, and as JSON Lines records from workers."""
    spill = ReportSpill(directory)
    for index, domain in reversed(list(enumerate(report.domains))):
        if index % 2:
            spill.add_line(index, encode_line(DomainLine(index=index, report=domain)))
        else:
            spill.add_report(index, domain)
    return spill


def _text(chunks: Iterator[str] | Iterator[bytes]) -> str:
    return "".join(c.decode("utf-8") if isinstance(c, bytes) else c for c in chunks)


@pytest.mark.parametrize("fmt", ["json", "html", "md"])
def test_streamed_report_equals_the_whole_report(
    fmt: str, example_report: AuditReport, tmp_path: Path
) -> None:
    assert len(example_report.domains) > 3
    whole = REPORTERS[fmt][0](example_report)
    with _spilled(example_report, tmp_path) as spill:
        shell = dataclasses.replace(example_report, domains=())
        streamed = _text(iter(STREAMED_REPORTERS[fmt](shell, spill.reports())))
    assert streamed == whole
    assert list(tmp_path.iterdir()) == []  # the spill file never had a name


@pytest.mark.parametrize("fmt", ["json", "html", "md"])
def test_streamed_report_without_domains_equals_the_whole_report(
    fmt: str, example_report: AuditReport, tmp_path: Path
) -> None:
    empty = dataclasses.replace(example_report, domains=(), complete=False)
    with ReportSpill(tmp_path) as spill:
        assert _text(iter(STREAMED_REPORTERS[fmt](empty, spill.reports()))) == REPORTERS[fmt][0](empty)


def test_spilled_reports_come_back_in_inventory_order_every_time(
    example_report: AuditReport, tmp_path: Path
) -> None:
    with _spilled(example_report, tmp_path) as spill:
        view = spill.reports()
        assert len(view) == len(example_report.domains)
        first = [d.domain for d in view]
        assert first == [d.domain for d in view] == [d.domain for d in example_report.domains]
        assert list(view) == list(example_report.domains)


def test_chunked_write_leaves_nothing_when_rendering_fails(tmp_path: Path) -> None:
    target = tmp_path / "report.html"

    def failing() -> Iterator[str]:
        yield "<html>"
        raise RuntimeError("template broke")

    with pytest.raises(RuntimeError):
        write_atomic_chunks(target, failing())
    assert list(tmp_path.iterdir()) == []
    write_atomic_chunks(target, iter(["<p>", b"\xe2\x86\x92", "</p>"]))
    assert target.read_text(encoding="utf-8") == "<p>→</p>"

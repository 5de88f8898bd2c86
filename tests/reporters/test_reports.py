"""Reports: schema-valid JSON, escaped DNS content in every format, atomic writes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli.app import app
from auditor.model.findings import Finding, Severity, Status
from auditor.model.report import AuditReport, DomainReport, Readiness, RegionView, RunInfo, Summary
from auditor.reporters.html import render_html
from auditor.reporters.json_reporter import render_json, report_json_schema
from auditor.reporters.markdown import render_markdown
from auditor.reporters.sinks import write_atomic
from auditor.reporters.templating import md_code, md_escape
from tests.conftest import EXAMPLES, REPO

runner = CliRunner()
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> | *md* [x](javascript:1) `tick` \x1b[31mred"


@pytest.fixture(scope="module")
def example_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("reports") / "report"
    result = runner.invoke(
        app,
        [
            "audit",
            str(EXAMPLES / "inventory.yaml"),
            "--zone-dir",
            str(EXAMPLES / "zones"),
            "--format",
            "html",
            "--format",
            "md",
            "--format",
            "json",
            "--output",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 1, result.output
    return {s: (out.parent / f"report.{s}").read_text() for s in ("html", "md", "json")}


def test_committed_schema_matches_the_code() -> None:
    committed = json.loads((REPO / "docs" / "report.schema.json").read_text())
    assert committed == report_json_schema(), "regenerate: sendready schema > docs/report.schema.json"


def test_example_json_validates_against_the_schema(example_reports: dict[str, str]) -> None:
    document = json.loads(example_reports["json"])
    jsonschema.validate(document, report_json_schema())
    assert document["schema_version"] == "1.0"
    first = document["domains"][0]
    for key in ("domain", "ready", "readiness", "region", "findings"):
        assert key in first
    assert {"declared", "detected"} <= set(first["region"])
    assert {"rule_id", "severity", "status"} <= set(first["findings"][0])


def test_schema_rejects_a_report_missing_ready(example_reports: dict[str, str]) -> None:
    document = json.loads(example_reports["json"])
    del document["domains"][0]["ready"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, report_json_schema())


class _ScriptFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "https://")):
                self.external.append(value)
            if tag in ("link", "script", "img") and name in ("src", "href"):
                self.external.append(value or "")


def test_html_from_example_is_self_contained_and_inert(example_reports: dict[str, str]) -> None:
    html = example_reports["html"]
    finder = _ScriptFinder()
    finder.feed(html)
    assert "script" not in finder.tags and "img" not in finder.tags
    assert finder.handlers == []
    assert finder.external == []
    # The example's hostile TXT record is shown, escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<meta name="viewport"' in html


def test_markdown_from_example_shows_hostile_txt_only_inside_code(
    example_reports: dict[str, str],
) -> None:
    md = example_reports["md"]
    for line in md.splitlines():
        if "<script>" in line:
            assert re.search(r"`+[^`]*<script>", line), line


def _report_with(text: str) -> AuditReport:
    finding = Finding(
        rule_id="SPF003",
        rule_name="x",
        title="Title",
        severity=Severity.CRITICAL,
        category="spf",
        status=Status.FAIL,
        subject="mg.example.com",
        message=f"Bad {text}",
        evidence={"SPF record": text},
    )
    domain = DomainReport(
        domain="mg.example.com",
        provider="mailgun",
        region=RegionView("us", "us", "us", (text,)),
        readiness=Readiness.NOT_READY,
        verified=False,
        verification=(),
        findings=(finding,),
        txt_records=(text,),
    )
    run = RunInfo("0", "t0", "t1", "dns 127.0.0.1:53", 1, ("rules",))
    return AuditReport(run=run, summary=Summary.of((domain,)), domains=(domain,))


def test_report_repr_is_a_summary_not_every_finding() -> None:
    # asyncio.run formats the audit task's result on the way out; the repr must stay O(1).
    report = _report_with("txt-record-text")
    text = repr(report)
    assert text == "AuditReport(domains=1, complete=True, schema_version='1.0')"
    assert "txt-record-text" not in text


def test_hostile_text_is_inert_in_html() -> None:
    html = render_html(_report_with(HOSTILE))
    finder = _ScriptFinder()
    finder.feed(html)
    assert "script" not in finder.tags and "img" not in finder.tags
    assert finder.handlers == []
    assert "\x1b" not in html


def test_hostile_text_is_inert_in_markdown() -> None:
    md = render_markdown(_report_with(HOSTILE))
    assert "\x1b" not in md
    outside_code = re.sub(r"(`+).*?\1", "", md)
    assert "<script>" not in outside_code
    assert "](javascript" not in outside_code


def test_hostile_text_roundtrips_in_json() -> None:
    document = json.loads(render_json(_report_with(HOSTILE)))
    assert document["domains"][0]["txt_records"] == [HOSTILE]


@pytest.mark.parametrize("text", ["a`b", "``x``", "`", "plain"])
def test_code_span_cannot_be_closed_by_content(text: str) -> None:
    span = md_code(text)
    fence = re.match(r"`+", span).group(0)  # type: ignore[union-attr]
    inner = span[len(fence) : -len(fence)]
    assert fence not in inner.strip(" ") or len(fence) > max(len(r) for r in re.findall("`+", text))


def test_markdown_escape_neutralises_markup() -> None:
    assert md_escape("*a* [b](c) <d> | e") == r"\*a\* \[b\]\(c\) \<d\> \| e"


def test_incomplete_report_says_so_in_every_format() -> None:
    report = _report_with("x")
    interrupted = AuditReport(run=report.run, summary=report.summary, domains=report.domains, complete=False)
    assert "INCOMPLETE" in render_html(interrupted)
    assert "INCOMPLETE" in render_markdown(interrupted)
    assert json.loads(render_json(interrupted))["complete"] is False


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_atomic(target, "new content")
    assert target.read_text() == "new content"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_atomic_write_of_a_large_text_is_byte_exact(tmp_path: Path) -> None:
    """Written in slices: multi-byte characters across slice borders and newlines survive as is."""
    text = ("é→§ line\n" * 300_000) + "end\n"
    assert len(text) > 2 * (1 << 20)
    target = tmp_path / "report.json"
    write_atomic(target, text)
    assert target.read_bytes() == text.encode("utf-8")


def test_json_ends_with_one_newline() -> None:
    text = render_json(_report_with("x → y"))
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert "x → y" in text


def _finding(rule_id: str, severity: Severity, status: Status = Status.FAIL) -> Finding:
    return Finding(
        rule_id=rule_id,
        rule_name=rule_id.lower(),
        title=f"Title of {rule_id}",
        severity=severity,
        category="dns",
        status=status,
        subject="mg.example.com",
        message=f"Message of {rule_id}",
    )


def _domain_with(*findings: Finding) -> DomainReport:
    return DomainReport(
        domain="mg.example.com",
        provider="mailgun",
        region=RegionView("us", "us", "us", ()),
        readiness=Readiness.NOT_READY,
        verified=False,
        verification=(),
        findings=findings,
    )


def test_info_findings_are_notes_not_problems() -> None:
    domain = _domain_with(
        _finding("BIMI001", Severity.INFO),
        _finding("SPF003", Severity.CRITICAL),
        _finding("MTASTS001", Severity.INFO, Status.UNKNOWN),
        _finding("DMARC006", Severity.WARNING),
        _finding("TLSRPT001", Severity.INFO, Status.PASS),
    )
    assert [f.rule_id for f in domain.problems] == ["SPF003", "DMARC006"]
    assert [f.rule_id for f in domain.notes] == ["BIMI001", "MTASTS001"]


def test_reports_show_notes_after_the_problems_and_count_them_apart() -> None:
    domain = _domain_with(_finding("BIMI001", Severity.INFO), _finding("SPF003", Severity.CRITICAL))
    run = RunInfo("0", "t0", "t1", "dns 127.0.0.1:53", 1, ("rules",))
    report = AuditReport(run=run, summary=Summary.of((domain,)), domains=(domain,))
    md = render_markdown(report)
    assert "| Problems | Notes |" in md and "| 1 | 1 |" in md
    assert md.index("(SPF003)") < md.index("#### Notes") < md.index("(BIMI001)")
    html = render_html(report)
    assert html.index("SPF003") < html.index('<details class="notes">') < html.index("BIMI001")
    assert "1 note (info: advice, not a problem)" in html
    plain = _domain_with(_finding("SPF003", Severity.ERROR))
    no_notes = render_markdown(AuditReport(run=run, summary=report.summary, domains=(plain,)))
    assert "#### Notes" not in no_notes

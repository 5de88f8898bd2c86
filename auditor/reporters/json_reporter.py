"""Machine output: the `AuditReport` as JSON, with a versioned, committed JSON Schema.

Both come from the same dataclasses through pydantic, so the schema cannot drift from the output
(a test compares the committed `docs/report.schema.json` with `report_json_schema()`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter

from auditor.model.report import REPORT_SCHEMA_VERSION, AuditReport

SCHEMA_ID = f"https://sendready.dev/schema/report-{REPORT_SCHEMA_VERSION}.json"


@cache
def _adapter() -> TypeAdapter[AuditReport]:
    return TypeAdapter(AuditReport)


def report_document(report: AuditReport) -> dict[str, Any]:
    return _adapter().dump_python(report, mode="json")


def render_json(report: AuditReport) -> str:
    return render_json_bytes(report).decode("utf-8")


def render_json_bytes(report: AuditReport) -> bytes:
    """The report as UTF-8 JSON; `auditor.reporters.streamed` builds large reports from its pieces."""
    # pydantic's serializer writes JSON directly, several times faster than json.dumps. The newline
    # is added to the bytes, not the text: the text holds non-ASCII (→, §), so Python stores it at
    # two bytes a character and `text + "\n"` would briefly hold two copies (~100 MB at N=2000).
    return _adapter().dump_json(report, indent=2) + b"\n"


def report_json_schema() -> dict[str, Any]:
    schema = _adapter().json_schema(mode="serialization")
    # Every field is always written, defaults included, so every property is required.
    for definition in [schema, *schema.get("$defs", {}).values()]:
        if "properties" in definition:
            definition["required"] = sorted(definition["properties"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sendready audit report",
        **schema,
    }

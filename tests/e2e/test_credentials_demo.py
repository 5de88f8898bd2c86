"""The README's credentials demo (`examples/credentials/demo.py`) says what its table promises."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("credentials_demo", EXAMPLES / "credentials" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_each_demo_domain_gets_the_finding_the_readme_shows(tmp_path: Path) -> None:
    demo = _demo()
    report, code = demo.run(tmp_path / "credentials.html")
    problems = {
        f["rule_id"]
        for d in report["domains"]
        for f in d["findings"]
        if f["status"] in ("fail", "unknown") and f["severity"] != "info"
    }
    by_domain = {
        d["domain"]: tuple(
            sorted(
                f["rule_id"]
                for f in d["findings"]
                if f["status"] in ("fail", "unknown") and f["severity"] != "info"
            )
        )
        for d in report["domains"]
    }
    assert by_domain == {p.domain: tuple(sorted(p.finds)) for p in demo.PROBLEMS}, problems
    assert code == 1
    html = (tmp_path / "credentials.html").read_text(encoding="utf-8")
    for secret in (demo.API_KEY, demo.PASSWORD, "the old password"):
        assert secret not in html
    # The explanation printed for users names each problem's rule.
    lines = "\n".join(demo.explain(report))
    assert all(rule in lines for p in demo.PROBLEMS for rule in p.finds)

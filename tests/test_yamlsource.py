"""libyaml and the pure-Python loader give the same located data; errors come from the pure one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor import yamlsource
from auditor.errors import InputError
from auditor.resources import rules_dir
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.skipif(yamlsource._FastLoader is None, reason="PyYAML built without libyaml")

DOCUMENTS = {
    "anchors and merge keys": (
        "base: &b {provider: mailgun, region: eu}\ndomains:\n  - <<: *b\n    name: a.example\n"
    ),
    "block and folded text": "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "flow style": "domains: [{name: a.example, dkim_selectors: [s1, s2]}, {name: b.example}]\n",
    "comments and blank lines": (
        "# top\n\ndomains:   # list\n\n  - name: a.example   # one\n\n  - name: b.example\n"
    ),
    "unicode": 'domains:\n  - name: bücher.example\n    note: "é\\u00e9"\n',
    "implicit types": "a: yes\nb: 010\nc: 1.5e3\nd: ~\ne: 2024-01-02\nf: '123'\n",
}
BROKEN = {
    "duplicate key": "domains:\n  - name: a.example\n    name: b.example\n",
    "bad indentation": "domains:\n  - name: a.example\n   region: eu\n",
    "unclosed flow": "domains: [a.example, b.example\n",
    "tab indentation": "domains:\n\t- name: a.example\n",
}


def _located(data: Any) -> Any:
    """The data with every container's line information made visible for comparison."""
    if isinstance(data, dict):
        return ("dict", data.line, data.lines, {k: _located(v) for k, v in data.items()})  # type: ignore[attr-defined]
    if isinstance(data, list):
        return ("list", data.line, data.lines, [_located(v) for v in data])  # type: ignore[attr-defined]
    return data


def _both(text: str) -> tuple[Any, Any]:
    fast = yaml.load(text, Loader=yamlsource._FastLoader)  # type: ignore[arg-type]
    pure = yaml.load(text, Loader=yamlsource._LocatingLoader)
    return _located(fast), _located(pure)


@pytest.mark.parametrize("label", sorted(DOCUMENTS))
def test_same_data_and_lines(label: str) -> None:
    fast, pure = _both(DOCUMENTS[label])
    assert fast == pure


def test_same_data_and_lines_for_every_shipped_file() -> None:
    files = [EXAMPLES / "inventory.yaml", *sorted(rules_dir().rglob("*.yaml"))]
    assert len(files) > 5
    for path in files:
        fast, pure = _both(path.read_text(encoding="utf-8"))
        assert fast == pure, path


def test_line_comparison_is_not_vacuous() -> None:
    shifted = "\n" + DOCUMENTS["flow style"]
    assert _both(shifted)[0] != _both(DOCUMENTS["flow style"])[1]


@pytest.mark.parametrize("label", sorted(BROKEN))
def test_errors_are_the_pure_loaders(tmp_path: Path, label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(BROKEN[label], encoding="utf-8")
    with pytest.raises(InputError) as fast:
        yamlsource.load_located(path)
    monkeypatch.setattr(yamlsource, "_FastLoader", None)
    with pytest.raises(InputError) as pure:
        yamlsource.load_located(path)
    assert str(fast.value) == str(pure.value)
    assert str(fast.value).startswith(f"{path}:")

"""The plugin guides and the package `autoglm plugin new` writes import only the public facade
(`from autoglm_core import ...`), plus `autoglm_core.testing` in test code: what they teach is what
a third-party author may rely on across releases."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import autoglm_core

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ("task-types.md", "plugins.md", "benchmark-plugins.md", "tracking.md")


def internal_uses(source: str, *, test_code: bool) -> list[str]:
    """Every use of ``autoglm_core`` in ``source`` that is not the facade (nor, in test code,
    ``autoglm_core.testing``), as ``line: what``."""
    allowed = {"autoglm_core"} | ({"autoglm_core.testing"} if test_code else set())
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autoglm_core":
            if node.module not in allowed:
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "autoglm_core" and a.name not in allowed]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "autoglm_core"
              and node.attr not in autoglm_core.__all__ and not (test_code and node.attr == "testing")):
            found.append(f"{node.lineno}: autoglm_core.{node.attr}")
    return found


def python_blocks(doc: str) -> list[str]:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("doc", GUIDES)
def test_the_guides_code_imports_only_the_facade(doc):
    problems = []
    for i, block in enumerate(python_blocks(doc), 1):
        test_code = "def test_" in block or "import pytest" in block
        problems += [f"docs/{doc}, python block {i}, line {p}" for p in internal_uses(block, test_code=test_code)]
    assert not problems, "imports past the facade (use `from autoglm_core import X`):\n" + "\n".join(problems)


def test_the_generated_plugin_imports_only_the_facade(tmp_path):
    from autoglm_core.cli.main import main

    assert main(["plugin", "new", "facade-check", "--dir", str(tmp_path)]) == 0
    files = sorted((tmp_path / "autoglm-plugin-facade-check").rglob("*.py"))
    assert {f.parent.name for f in files} == {"tests", "autoglm_plugin_facade_check"}
    problems = [f"{f.name}, line {p}" for f in files
                for p in internal_uses(f.read_text(encoding="utf-8"), test_code=f.parent.name == "tests")]
    assert not problems, problems


def test_the_scan_catches_each_way_past_the_facade():
    sample = ("import autoglm_core.data\nfrom autoglm_core.data.load import load_splits\n"
              "from autoglm_core.testing import sample_examples\nimport autoglm_core\nautoglm_core.engine.task\n"
              "from autoglm_core import hookimpl\nautoglm_core.hookimpl\n")
    assert [p.split(":")[0] for p in internal_uses(sample, test_code=False)] == ["1", "2", "3", "5"]
    assert [p.split(":")[0] for p in internal_uses(sample, test_code=True)] == ["1", "2", "5"]

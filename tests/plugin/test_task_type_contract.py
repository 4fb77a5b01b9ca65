"""The task type is the unit of extension: what is task-specific is declared by the task type and
read by the core, never decided by comparing task-type names outside the task's own package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _task_type_names() -> set[str]:
    from autoglm_core.plugin.manager import get_manager

    return set(get_manager().registry("task type").names())


def _own_package(path: Path) -> str | None:
    parts = path.relative_to(ROOT).parts
    if parts[:2] == ("autoglm_core", "tasks") and len(parts) > 3:
        return parts[2]
    return None


def _name_literals(node: ast.AST, names: set[str]) -> set[str]:
    """Task-type names among the string constants of ``node`` (a literal or a tuple/list/set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_name_literals(e, names) for e in node.elts)) if node.elts else set()
    return set()


def name_comparisons(source: str, names: set[str], allowed: str | None = None) -> list[tuple[int, str]]:
    """(line, name) of every comparison (==, !=, in, not in) against a task-type name, directly or
    through a module-level constant holding one; comparisons naming ``allowed`` are fine."""
    tree = ast.parse(source)
    constants: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            found = _name_literals(node.value, names)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if found and isinstance(t, ast.Name):
                    constants[t.id] = found
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not all(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        for side in (node.left, *node.comparators):
            found = _name_literals(side, names)
            if isinstance(side, ast.Name):
                found |= constants.get(side.id, set())
            for name in sorted(found - {allowed}):
                hits.append((node.lineno, name))
    return hits


def _sources() -> list[Path]:
    """Installed code only: a task type's own tests (autoglm_core/tasks/*/tests) may name any task type."""
    files = sorted(p for p in (ROOT / "autoglm_core").rglob("*.py") if "tests" not in p.relative_to(ROOT).parts)
    for pkg in sorted((ROOT / "plugins").glob("*/autoglm_plugin_*")):
        files += sorted(pkg.rglob("*.py"))
    return files


def test_no_task_type_name_comparison_outside_its_own_package():
    names = _task_type_names()
    assert {"text_classification", "text_generation", "image_classification"} <= names
    offenders = []
    for path in _sources():
        for line, name in name_comparisons(path.read_text(encoding="utf-8"), names, _own_package(path)):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: compares with {name!r}")
    assert not offenders, "ask the task type (or a capability) instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize("source, expected", [
    ('if spec.task_type == "text_classification":\n    pass\n', [(1, "text_classification")]),
    ('X = ("text_generation", "code_generation")\nok = t in X\n', [(2, "code_generation"), (2, "text_generation")]),
    ('TASK = "image_classification"\nif t != TASK:\n    pass\n', [(2, "image_classification")]),
    ('built = f(task_type="text_classification")\n', []),  # naming a task type is fine; testing it is not
    ('if t == "image_classification":\n    pass\n', []),  # inside its own package
])
def test_the_scan_finds_comparisons(source, expected):
    names = {"text_classification", "text_generation", "code_generation", "image_classification"}
    allowed = "image_classification" if "image" in source and "TASK" not in source else None
    assert name_comparisons(source, names, allowed) == expected

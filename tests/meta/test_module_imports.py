"""Every module of the core and of the plugins imports on its own, and cheaply.

Importing a module must not load the heavy libraries (torch, transformers, ...): they load inside the
functions that need them, so `autoglm --help`, the planner and a plugin's registration stay fast. The
one exception is a module that subclasses a heavy library's class at module level (``class
Net(nn.Module)``), which cannot be written otherwise; such modules are found from the code, not
listed by hand.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file() and (p / "autoglm_core").is_dir())
HEAVY = ("torch", "transformers", "textattack", "lm_eval", "mlflow", "ray", "peft", "accelerate", "sklearn")


def _package_dirs() -> list[Path]:
    dirs = [ROOT / "autoglm_core"]
    dirs += sorted(p for p in (ROOT / "plugins").glob("autoglm-plugin-*/autoglm_plugin_*") if (p / "__init__.py").is_file())
    return dirs


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in _package_dirs():
        for path in sorted(pkg.rglob("*.py")):
            rel = path.relative_to(pkg.parent).with_suffix("")
            if any(part == "tests" for part in rel.parts) or rel.name == "__main__":
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


def _subclasses_a_heavy_type(path: Path) -> bool:
    """True when a module-level class subclasses a name imported from a heavy library."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    heavy_names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            heavy_names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] in HEAVY}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in HEAVY:
            heavy_names |= {a.asname or a.name for a in node.names}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                if ast.unparse(base).split(".")[0] in heavy_names:
                    return True
    return False


_PROBE = """
import json, sys
heavy, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
failed = {}
for name in names:
    try:
        __import__(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"failed": failed, "heavy": sorted(h for h in heavy if h in sys.modules)}))
"""


def _probe(names: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HEAVY), json.dumps(names)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_module_list_is_complete():
    mods = _modules()
    assert "autoglm_core.plugin.manager" in mods and "autoglm_plugin_sklearn" in mods
    assert len(mods) > 100


def test_every_module_imports_without_the_heavy_libraries():
    mods = _modules()
    heavy_bound = sorted(m for m, p in mods.items() if _subclasses_a_heavy_type(p))
    light = sorted(m for m in mods if m not in heavy_bound)
    result = _probe(light)
    assert not result["failed"], f"modules that do not import on their own: {result['failed']}"
    if result["heavy"]:
        # name the culprits, one fresh interpreter each (only on failure: it is slow)
        culprits = {m: _probe([m])["heavy"] for m in light}
        culprits = {m: h for m, h in culprits.items() if h}
        pytest.fail(f"importing these loads {result['heavy']}; import them inside the functions that need them: {culprits}")
    # the heavy-bound modules import too (they may load torch, nothing else is asked of them)
    assert not _probe(heavy_bound)["failed"]


def test_the_exception_rule_finds_a_heavy_subclass(tmp_path):
    cases = {
        "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n": True,
        "from ray.tune.search.optuna import OptunaSearch\nclass S(OptunaSearch):\n    pass\n": True,
        "import torch\nclass Thing:\n    pass\n": False,
        "class Module:\n    pass\nclass Net(Module):\n    pass\n": False,
    }
    for i, (code, expected) in enumerate(cases.items()):
        path = tmp_path / f"m{i}.py"
        path.write_text(code, encoding="utf-8")
        assert _subclasses_a_heavy_type(path) is expected, code

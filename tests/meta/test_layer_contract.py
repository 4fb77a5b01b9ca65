"""The import contracts of pyproject.toml ([tool.importlinter]: layers, independent task types,
the facade above every layer but cli/testing, plugins on the facade only) and of import-circles.toml
(no circles among the modules of any package, counting the imports that run). Checked with
lint-imports on the real tree, and on a scratch copy with a deliberate violation (so each contract
can fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file() and (p / "autoglm_core").is_dir())
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (the dev extra)")


def lint(cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(LINT), "--no-cache"] + (["--config", str(config)] if config else [])
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_import_contract():
    done = lint(ROOT)
    assert done.returncode == 0, "lint-imports found broken import contracts:\n" + done.stdout + done.stderr


def test_the_tree_has_no_import_circles():
    done = lint(ROOT, ROOT / "import-circles.toml")
    assert done.returncode == 0, "lint-imports found import circles:\n" + done.stdout + done.stderr


def scratch_copy(tmp_path: Path) -> Path:
    """autoglm_core/ and a config holding only its contracts, in ``tmp_path``."""
    shutil.copytree(ROOT / "autoglm_core", tmp_path / "autoglm_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    linter = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contracts = [c for c in linter["contracts"] if c["name"].startswith(("Layers", "Task types"))]
    lines = ['[importlinter]', 'root_packages =', '    autoglm_core', 'include_external_packages = False', '']
    for i, c in enumerate(contracts):
        lines.append(f"[importlinter:contract:{i}]")
        for key, value in c.items():
            if isinstance(value, list):
                lines.append(f"{key} =")
                lines += [f"    {v}" for v in value]
            else:
                lines.append(f"{key} = {value}")
        lines.append("")
    (tmp_path / ".importlinter").write_text("\n".join(lines), encoding="utf-8")
    return tmp_path


def run_in(tmp: Path) -> subprocess.CompletedProcess[str]:
    # only the copy: the worktree's own autoglm_core must not be found first
    env_root = tmp.resolve()
    args = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())", "--no-cache", "--config", str(env_root / ".importlinter")]
    return subprocess.run(args, cwd=env_root, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(env_root)})


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    tmp = scratch_copy(tmp_path)
    errors = tmp / "autoglm_core" / "types" / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + "\n\ndef _upward():\n"
                      "    from autoglm_core.engine.task import AutoTask\n\n    return AutoTask\n", encoding="utf-8")
    done = run_in(tmp)
    assert done.returncode != 0
    assert "autoglm_core.types is not allowed to import autoglm_core.engine" in done.stdout
    assert "autoglm_core.types.errors -> autoglm_core.engine.task" in done.stdout


def test_a_task_type_importing_another_breaks_the_independence_contract(tmp_path):
    tmp = scratch_copy(tmp_path)
    nets = tmp / "autoglm_core" / "tasks" / "image_classification" / "backbones.py"
    nets.write_text(nets.read_text(encoding="utf-8") + "\n\ndef _sideways():\n"
                    "    from autoglm_core.tasks.code_generation import sandbox\n\n    return sandbox\n",
                    encoding="utf-8")
    done = run_in(tmp)
    assert done.returncode != 0
    assert ("autoglm_core.tasks.image_classification is not allowed to import "
            "autoglm_core.tasks.code_generation") in " ".join(done.stdout.split())


def test_importing_the_facade_from_a_layer_breaks_its_contract(tmp_path):
    """The layers contract does not see the container's __init__: the forbidden contract does."""
    tmp = scratch_copy(tmp_path)
    linter = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    facade = next(c for c in linter["contracts"] if c["name"].startswith("Only cli and testing"))
    config = (tmp / ".importlinter").read_text(encoding="utf-8") + "\n[importlinter:contract:facade]\n" + "\n".join(
        f"{k} =\n" + "\n".join(f"    {v}" for v in val) if isinstance(val, list) else f"{k} = {val}"
        for k, val in facade.items()) + "\n"
    (tmp / ".importlinter").write_text(config, encoding="utf-8")
    io_files = tmp / "autoglm_core" / "io" / "oserrors.py"
    io_files.write_text(io_files.read_text(encoding="utf-8") + "\n\ndef _facade():\n    import autoglm_core\n\n"
                        "    return autoglm_core\n", encoding="utf-8")
    done = run_in(tmp)
    assert "autoglm_core.io.oserrors is not allowed to import autoglm_core" in done.stdout


def _circle_config(tmp: Path) -> Path:
    config = tmp / "circles.ini"
    config.write_text("[importlinter]\nroot_packages =\n    autoglm_core\ninclude_external_packages = False\n"
                      "exclude_type_checking_imports = True\n\n[importlinter:contract:circles]\n"
                      "name = circles\ntype = acyclic_siblings\nancestors =\n    autoglm_core\n", encoding="utf-8")
    return config


def _run_circles(tmp: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())", "--no-cache", "--config", str(_circle_config(tmp))]
    return subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp.resolve())})


def test_a_circle_that_runs_breaks_the_circle_contract_and_an_annotation_does_not(tmp_path):
    tmp = scratch_copy(tmp_path)
    cycle_in_types = "No cycles are allowed in autoglm_core.types"
    assert cycle_in_types not in _run_circles(tmp).stdout
    version = tmp / "autoglm_core" / "types" / "version.py"
    original = version.read_text(encoding="utf-8")
    # an annotation-only reference back to a module that imports this one: not a circle at run time
    version.write_text(original + "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                       "    from autoglm_core.types import errors  # noqa: F401\n", encoding="utf-8")
    errors = tmp / "autoglm_core" / "types" / "errors.py"
    errors_text = errors.read_text(encoding="utf-8")
    errors.write_text(errors_text + "\n\nfrom autoglm_core.types import version  # noqa: E402,F401\n", encoding="utf-8")
    assert cycle_in_types not in _run_circles(tmp).stdout, "an annotation-only import was counted as a circle"
    # the same reference as a function-level import that runs: a circle
    version.write_text(original + "\n\ndef _back():\n    from autoglm_core.types import errors\n\n"
                       "    return errors\n", encoding="utf-8")
    done = _run_circles(tmp)
    assert done.returncode != 0 and cycle_in_types in done.stdout

"""``autoglm plugin new NAME`` writes a package that installs and whose own tests pass."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autoglm_core.cli.main import main


@pytest.mark.slow
def test_plugin_new_writes_a_package_that_installs_and_passes_its_tests(tmp_path, capsys):
    assert main(["plugin", "new", "text-stats", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "autoglm-plugin-text-stats"
    assert f"Wrote {root}/" in capsys.readouterr().out
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points.autoglm]\ntext-stats = "autoglm_plugin_text_stats"' in pyproject
    assert "autoglm-core>=0.1,<0.2" in pyproject
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(target), str(root)], capture_output=True, text=True,
                         timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / "autoglm_plugin_text_stats" / "__init__.py").exists()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    listed = subprocess.run([sys.executable, "-m", "autoglm_core.cli.main", "plugins", "--json"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert '"text-stats"' in listed.stdout, listed.stderr


def test_plugin_new_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["plugin", "new", "Bad_Name", "--dir", str(tmp_path)]) == 2
    assert "plugin name 'Bad_Name'" in capsys.readouterr().err
    assert main(["plugin", "new", "ok", "--dir", str(tmp_path)]) == 0
    assert main(["plugin", "new", "ok", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err

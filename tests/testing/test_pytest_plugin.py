"""The test helpers ship as a pytest plugin (entry point ``pytest11``): a plugin package's tests
get the fixtures, the offline environment and a fresh plugin manager without any conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pytest

PLUGIN_TESTS = '''
import os

from autoglm_core import Compressor, hookimpl
from autoglm_core.plugin.manager import get_manager


class Echo(Compressor):
    name = "echo"

    def compress(self, built, context):
        return built


class EchoPlugin:
    @hookimpl
    def autoglm_register_compressors(self, register):
        register(Echo)


def test_a_offline_and_registers(autoglm_manager, autoglm_tiny_csv):
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert "AUTOGLM_DISABLE_PLUGINS" not in os.environ
    assert autoglm_manager is get_manager()
    autoglm_manager.register(EchoPlugin(), name="echo-plugin")
    assert "echo" in get_manager().registry("compressor")
    assert autoglm_tiny_csv.read_text(encoding="utf-8").startswith("text,label")


def test_b_the_next_test_has_a_fresh_manager(autoglm_tiny_examples):
    assert "echo" not in get_manager().registry("compressor")
    assert len({e.label for e in autoglm_tiny_examples}) == 3


def test_c_offline_fixture(autoglm_offline):
    assert autoglm_offline["HF_DATASETS_OFFLINE"] == "1"
'''


def test_pytest11_entry_point_points_at_the_plugin():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert eps.get("autoglm") == "autoglm_core.testing.pytest_plugin"


@pytest.mark.slow
def test_plugin_tests_without_conftest_get_fixtures_offline_env_and_fresh_manager(tmp_path):
    (tmp_path / "test_myplugin.py").write_text(PLUGIN_TESTS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["AUTOGLM_DISABLE_PLUGINS"] = "some-plugin"  # from the shell: must not reach the tests
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    # and the plugin can be switched off: then the fixtures do not exist
    off = subprocess.run([*cmd, "-p", "no:autoglm"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert off.returncode != 0 and "fixture 'autoglm_manager' not found" in off.stdout


def test_tiny_classifier_fixture_in_this_run(autoglm_tiny_classifier):
    probs = autoglm_tiny_classifier.predict_proba(["Nokia profit rose", "board met"])
    assert probs.shape == (2, 3) and abs(probs.sum(axis=1) - 1).max() < 1e-5
    assert autoglm_tiny_classifier.labels == ["negative", "neutral", "positive"]

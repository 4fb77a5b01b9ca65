"""Plugin manager: built-ins through the same hooks, entry points, allow/block lists, failures."""

from __future__ import annotations

import json
import types
from importlib import metadata

import pytest

from autoglm_core import Compressor, hookimpl
from autoglm_core.cli.main import main
from autoglm_core.plugin.manager import AutoGLMPluginManager, get_manager
from autoglm_core.types.errors import PluginLoadError, RegistryCollisionError, UnknownNameError


class EchoCompressor(Compressor):
    name = "echo"
    description = "returns the model unchanged (test plugin)"

    def compress(self, built, context):
        return built


class ThrowawayPlugin:
    @hookimpl
    def autoglm_register_compressors(self, register):
        register(EchoCompressor)


def fake_entry_points(monkeypatch, eps):
    real = metadata.entry_points

    def patched(**kwargs):
        if kwargs.get("group") == "autoglm":
            return eps
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", patched)


class FakeDist:
    def __init__(self, name, version="9.9"):
        self.metadata = {"Name": name}
        self.version = version


class FakeEP:
    def __init__(self, name, obj=None, error=None, dist="autoglm-plugin-fake"):
        self.name, self._obj, self._error, self.dist = name, obj, error, FakeDist(dist)

    def load(self):
        if self._error:
            raise self._error
        return self._obj


def test_builtins_load_through_the_same_hooks():
    pm = get_manager()
    names = {r.name for r in pm.plugin_list() if r.builtin}
    assert "autoglm_core.builtin.parser" in names
    assert "text_classification" in pm.registry("task type")
    assert {"csv", "tsv", "jsonl", "phrasebank"} <= set(pm.registry("data loader").names())
    assert "similarity" in pm.registry("zero-shot scorer")
    rec = next(r for r in pm.plugin_list() if r.name == "autoglm_core.builtin.parser")
    assert "autoglm_parse_task" in rec.hooks


def test_programmatic_register_adds_components():
    pm = get_manager()
    assert "echo" not in pm.registry("compressor")
    pm.register(ThrowawayPlugin(), name="throwaway")
    entry = pm.registry("compressor").entry("echo")
    assert entry.obj is EchoCompressor and entry.plugin == "throwaway"


def test_entry_point_plugin_is_loaded_with_distribution_and_version(monkeypatch):
    module = types.SimpleNamespace(autoglm_register_compressors=hookimpl(
        lambda register: register(EchoCompressor)))
    fake_entry_points(monkeypatch, [FakeEP("fake", module)])
    pm = AutoGLMPluginManager().load()
    rec = pm.records["fake"]
    assert (rec.status, rec.distribution, rec.version) == ("loaded", "autoglm-plugin-fake", "9.9")
    assert rec.hooks == ["autoglm_register_compressors"]
    assert pm.registry("compressor").entry("echo").plugin == "fake"


def test_plugin_that_fails_to_import_is_named_and_others_keep_working(monkeypatch):
    good = types.SimpleNamespace(autoglm_register_compressors=hookimpl(lambda register: register(EchoCompressor)))
    fake_entry_points(monkeypatch, [FakeEP("broken", error=ImportError("No module named 'nope'"), dist="autoglm-plugin-broken"),
                                    FakeEP("good", good)])
    with pytest.warns(RuntimeWarning, match="broken"):
        pm = AutoGLMPluginManager().load()
    assert pm.records["broken"].status == "failed"
    assert "No module named 'nope'" in pm.records["broken"].error
    assert "echo" in pm.registry("compressor")
    assert "broken" in str(pm.failures[0]) and "autoglm-plugin-broken" in str(pm.failures[0])


def test_strict_plugins_make_a_failure_fatal(monkeypatch):
    fake_entry_points(monkeypatch, [FakeEP("broken", error=ImportError("boom"))])
    with pytest.raises(PluginLoadError, match="broken.*boom"):
        AutoGLMPluginManager().load(strict=True)


def test_strict_plugins_cli_flag_exits_2(monkeypatch, capsys):
    fake_entry_points(monkeypatch, [FakeEP("broken", error=ImportError("boom"))])
    assert main(["--strict-plugins", "plugins"]) == 2
    assert "plugin 'broken'" in capsys.readouterr().err


def test_register_hook_that_raises_is_recorded(monkeypatch):
    def bad(register):
        raise ValueError("registration exploded")

    fake_entry_points(monkeypatch, [FakeEP("badreg", types.SimpleNamespace(autoglm_register_attacks=hookimpl(bad)))])
    with pytest.warns(RuntimeWarning, match="badreg"):
        pm = AutoGLMPluginManager().load()
        pm.registry("attack")
    assert pm.records["badreg"].status == "failed"


def test_register_hook_failure_in_a_command_is_one_clean_line(monkeypatch, capsys):
    def bad(register):
        raise ValueError("registration exploded")

    fake_entry_points(monkeypatch, [FakeEP("badreg", types.SimpleNamespace(autoglm_register_attacks=hookimpl(bad)))])
    assert main(["parse", "Classify news as positive or negative"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "badreg" in line or "exploded" in line]
    assert err and all(line.startswith("warning: ") for line in err), err
    assert len(err) == 1 and "PluginWarning" not in err[0] and ".py:" not in err[0], err


def test_allow_list_and_block_list(monkeypatch):
    mod = lambda: types.SimpleNamespace(autoglm_register_compressors=hookimpl(lambda register: register(EchoCompressor)))  # noqa: E731
    fake_entry_points(monkeypatch, [FakeEP("one", mod(), dist="autoglm-plugin-one"),
                                    FakeEP("two", types.SimpleNamespace(), dist="autoglm-plugin-two")])
    monkeypatch.setenv("AUTOGLM_LOAD_PLUGINS", "autoglm_plugin_two")  # distribution names are normalised
    pm = AutoGLMPluginManager().load()
    assert pm.records["one"].status == "not-allowed" and pm.records["two"].status == "loaded"
    assert "echo" not in pm.registry("compressor")
    monkeypatch.delenv("AUTOGLM_LOAD_PLUGINS")
    monkeypatch.setenv("AUTOGLM_DISABLE_PLUGINS", "one,autoglm_core.tasks.text_classification.zero_shot")
    pm = AutoGLMPluginManager().load()
    assert pm.records["one"].status == "blocked"
    assert pm.records["autoglm_core.tasks.text_classification.zero_shot"].status == "blocked"
    assert "similarity" not in pm.registry("zero-shot scorer")


def test_collisions_name_both_plugins():
    pm = get_manager()
    pm.register(ThrowawayPlugin(), name="first")
    pm.register(ThrowawayPlugin(), name="second")
    with pytest.raises(RegistryCollisionError, match="'first'.*'second'"):
        pm.registry("compressor")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'phrasebank'"):
        get_manager().registry("data loader").get("phrasebnak")


def test_unknown_optional_component_names_its_plugin():
    pm = AutoGLMPluginManager().load(entry_points=False)
    with pytest.raises(UnknownNameError, match="autoglm-plugin-fgsm"):
        pm.registry("attack").get("fgsm")


def test_plugins_command_lists_plugins_as_json(capsys):
    get_manager().register(ThrowawayPlugin(), name="throwaway")
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {d["name"]: d for d in data}
    assert by_name["throwaway"]["provides"] == {"compressor": ["echo"]}
    assert by_name["autoglm_core.builtin.data_loaders"]["distribution"] == "autoglm-core"
    assert "autoglm_register_data_loaders" in by_name["autoglm_core.builtin.data_loaders"]["hooks"]
    assert main(["plugins"]) == 0
    assert "compressors: echo" in capsys.readouterr().out

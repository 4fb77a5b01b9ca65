"""Registries check the base class: a component that does not extend it is refused, naming the
plugin and the class it should extend."""

from __future__ import annotations

import types

import pytest

from autoglm_core import Benchmark, Compressor, TaskType, hookimpl
from autoglm_core.plugin.bases import REGISTRY_BASES
from autoglm_core.plugin.hookspecs import REGISTRY_HOOKS
from autoglm_core.plugin.manager import AutoGLMPluginManager
from autoglm_core.plugin.registry import Registry
from autoglm_core.types.errors import PluginLoadError, RegistryTypeError


class NotACompressor:
    name = "plain"


class GoodCompressor(Compressor):
    name = "good"

    def compress(self, built, context):
        return built


def _plugin(hook, obj):
    return types.SimpleNamespace(**{hook: hookimpl(lambda register: register(obj))})


def test_every_registry_kind_declares_its_base_class():
    assert set(REGISTRY_HOOKS.values()) == set(REGISTRY_BASES)
    for spec in REGISTRY_BASES.values():
        assert isinstance(spec.resolve(), type)


def test_a_class_that_does_not_extend_the_base_is_refused():
    reg: Registry = Registry("compressor", base=Compressor)
    with pytest.raises(RegistryTypeError) as err:
        reg.register(NotACompressor, plugin="my-plugin")
    msg = str(err.value)
    assert "'my-plugin'" in msg and "autoglm_core.plugin.components.Compressor" in msg
    assert "NotACompressor" in msg and "plain" not in reg
    reg.register(GoodCompressor, plugin="my-plugin")
    assert reg.entry("good").plugin == "my-plugin"


def test_an_instance_instead_of_the_class_gets_a_hint():
    reg: Registry = Registry("compressor", base=Compressor)
    with pytest.raises(RegistryTypeError, match="not an instance"):
        reg.register(GoodCompressor(), plugin="p")


def test_benchmarks_are_registered_as_instances():
    reg: Registry = Registry("benchmark", base=Benchmark, instance=True)
    reg.register(Benchmark(name="b", path="/nowhere"), plugin="p")
    with pytest.raises(RegistryTypeError, match="instance of autoglm_core.plugin.components.Benchmark"):
        reg.register({"name": "c", "path": "/nowhere"}, plugin="p")


def test_a_task_type_that_is_not_a_task_type_fails_the_plugin_by_name():
    class Compressorish(Compressor):  # a real component, but of the wrong kind
        name = "looks-like-a-task"

    pm = AutoGLMPluginManager().load(entry_points=False)
    pm.register(_plugin("autoglm_register_task_types", Compressorish), name="wrong-kind")
    with pytest.warns(RuntimeWarning, match="wrong-kind.*subclass of autoglm_core.plugin.task_type.TaskType"):
        names = pm.registry("task type").names()
    assert "looks-like-a-task" not in names and "text_classification" in names
    assert pm.records["wrong-kind"].status == "failed"


def test_strict_plugins_make_a_wrong_base_class_fatal():
    pm = AutoGLMPluginManager().load(strict=True, entry_points=False)
    pm.register(_plugin("autoglm_register_compressors", NotACompressor), name="strict-wrong")
    with pytest.raises(PluginLoadError, match="strict-wrong.*Compressor"):
        pm.registry("compressor")


def test_every_builtin_and_installed_component_passes_the_check():
    pm = AutoGLMPluginManager().load()
    for kind in REGISTRY_BASES:
        pm.registry(kind)
    assert not [f for f in pm.failures if isinstance(f.error, RegistryTypeError)]
    assert issubclass(pm.registry("task type").get("text_classification"), TaskType)

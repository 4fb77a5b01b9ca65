"""What stopped plugin authors: strict loading from the environment, failures in hooks named after
their plugin, misspelt hooks and allow/block entries, the user's backbones, a parser as evidence
source, and plugins that exit or raise at import."""

from __future__ import annotations

import logging
import sys
import types
from importlib import metadata

import pytest

from autoglm_core import hookimpl
from autoglm_core.cli.main import main
from autoglm_core.plugin.manager import AutoGLMPluginManager, get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import PluginHookError, PluginLoadError, PluginWarning
from autoglm_core.types.schemas import CandidateSpec, Evidence, TaskSpec


class _Dist:
    def __init__(self, name):
        self.metadata, self.version = {"Name": name}, "1.0"


class _EP:
    """An entry point whose load() runs ``load`` (a module body, in effect)."""

    def __init__(self, name, load, dist="autoglm-plugin-x"):
        self.name, self._load, self.dist = name, load, _Dist(dist)

    def load(self):
        return self._load()


def _entry_points(monkeypatch, eps):
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda **kw: eps if kw.get("group") == "autoglm" else real(**kw))


def _exits():
    sys.exit(3)


def _raises():
    raise RuntimeError("config file missing")


def _good():
    return types.SimpleNamespace()


# --------------------------------------------------------------------------- import failures


@pytest.mark.parametrize("load,needle", [(_exits, "SystemExit: 3"), (_raises, "RuntimeError: config file missing")])
def test_plugin_exiting_or_raising_at_import_is_named_and_the_command_goes_on(monkeypatch, capsys, load, needle):
    _entry_points(monkeypatch, [_EP("exiter", load, dist="autoglm-plugin-exiter"), _EP("fine", _good)])
    assert main(["plugins", "--json"]) == 0
    captured = capsys.readouterr()
    assert "plugin 'exiter' (distribution autoglm-plugin-exiter) failed to load" in captured.err
    assert needle in captured.err
    pm = get_manager()
    assert pm.records["exiter"].status == "failed" and needle in pm.records["exiter"].error
    assert pm.records["fine"].status == "loaded"


def test_keyboard_interrupt_at_import_is_not_swallowed(monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    _entry_points(monkeypatch, [_EP("slow", interrupted)])
    with pytest.raises(KeyboardInterrupt):
        AutoGLMPluginManager().load()


# --------------------------------------------------------------------------- strict from the environment


def test_strict_plugins_environment_variable_is_honoured_on_the_command_line(monkeypatch, capsys):
    _entry_points(monkeypatch, [_EP("exiter", _exits)])
    assert main(["plugins"]) == 0  # not strict: a warning, the command runs
    assert "warning: plugin 'exiter'" in capsys.readouterr().err
    from autoglm_core.plugin.manager import reset_manager

    reset_manager()
    monkeypatch.setenv("AUTOGLM_STRICT_PLUGINS", "1")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'exiter'") and "Traceback" not in err


# --------------------------------------------------------------------------- misspelt hooks and list entries


class Misspelt:
    @hookimpl
    def autoglm_stage_finishd(self, run_dir, stage, result):
        pass


def test_misspelt_hookimpl_is_a_named_error_with_did_you_mean():
    pm = get_manager()
    with pytest.raises(PluginLoadError, match=r"'typo'.*unknown hook 'autoglm_stage_finishd'.*"
                                              r"Did you mean 'autoglm_stage_finished'"):
        pm.register(Misspelt(), name="typo")
    assert not pm.has_plugin("typo")


def test_misspelt_hookimpl_in_an_entry_point_is_recorded_and_fatal_under_strict(monkeypatch):
    _entry_points(monkeypatch, [_EP("typo", Misspelt)])
    with pytest.warns(PluginWarning, match="autoglm_stage_finishd"):
        pm = AutoGLMPluginManager().load()
    assert pm.records["typo"].status == "failed"
    assert "Did you mean 'autoglm_stage_finished'" in pm.records["typo"].error
    with pytest.raises(PluginLoadError, match="typo"):
        AutoGLMPluginManager().load(strict=True)


def test_optional_hooks_of_other_versions_are_allowed():
    class Future:
        @hookimpl(optionalhook=True)
        def autoglm_hook_of_a_later_version(self):
            pass

    assert get_manager().register(Future(), name="future") == "future"


@pytest.mark.parametrize("var,entry,suggestion", [
    ("AUTOGLM_DISABLE_PLUGINS", "autoglm_core.tasks.text_classification.zero_shoot",
     "autoglm_core.tasks.text_classification.zero_shot"),
    ("AUTOGLM_LOAD_PLUGINS", "autoglm-plugin-fgms", "autoglm-plugin-fgsm"),
])
def test_misspelt_allow_or_block_entry_warns_with_did_you_mean(monkeypatch, var, entry, suggestion):
    _entry_points(monkeypatch, [_EP("fgsm", _good, dist="autoglm-plugin-fgsm")])
    monkeypatch.setenv(var, entry)
    with pytest.warns(PluginWarning) as caught:
        AutoGLMPluginManager().load()
    messages = [str(w.message) for w in caught]
    assert any(var in m and "matches no installed plugin" in m and f"Did you mean {suggestion!r}" in m
               for m in messages), messages


def test_correct_allow_and_block_entries_do_not_warn(monkeypatch, recwarn):
    _entry_points(monkeypatch, [_EP("fgsm", _good, dist="autoglm-plugin-fgsm")])
    monkeypatch.setenv("AUTOGLM_LOAD_PLUGINS", "autoglm_plugin_fgsm")
    monkeypatch.setenv("AUTOGLM_DISABLE_PLUGINS", "autoglm_core.tasks.text_classification.zero_shot")
    AutoGLMPluginManager().load()
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


# --------------------------------------------------------------------------- failures inside hooks


class BrokenParser:
    @hookimpl
    def autoglm_parse_task(self, description, hints):
        raise ZeroDivisionError("division by zero in my parser")


class BrokenCommands:
    @hookimpl
    def autoglm_add_commands(self, subparsers):
        raise AttributeError("'NoneType' object has no attribute 'add_parser'")


def test_failing_parser_names_the_plugin_exits_2_without_traceback(capsys):
    get_manager().register(BrokenParser(), name="my-parser")
    assert main(["parse", "Classify news as good or bad"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'my-parser' failed in hook autoglm_parse_task: ZeroDivisionError")
    assert "Traceback" not in err
    with pytest.raises(PluginHookError) as info:
        get_manager().hook.autoglm_parse_task(description="Classify news", hints={})
    assert (info.value.plugin, info.value.hook) == ("my-parser", "autoglm_parse_task")


def test_failing_add_commands_names_the_plugin_and_debug_keeps_the_traceback(capsys, monkeypatch):
    get_manager().register(BrokenCommands(), name="my-commands")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert "plugin 'my-commands' failed in hook autoglm_add_commands: AttributeError" in err
    assert "Traceback" not in err
    assert main(["--debug", "plugins"]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("AUTOGLM_DEBUG", "1")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" not in err and "add_parser" in err


class BrokenTracker:
    def __init__(self):
        self.started = 0

    @hookimpl
    def autoglm_stage_started(self, run_dir, stage, candidate):
        self.started += 1
        raise ConnectionError("dashboard unreachable")

    @hookimpl
    def autoglm_stage_finished(self, run_dir, stage, result):
        raise KeyError("no such metric")


def _run_stages(tmp_path, caplog, keys):
    """The given stages through the StageRunner every pipeline stage goes through, warnings captured."""
    from autoglm_core.engine.runner import RunContext, StageOutput, StageRunner
    from autoglm_core.types.schemas import PipelineConfig

    spec = TaskSpec(task_type="text_classification", description="Classify news", labels=["up", "down"])
    context = RunContext(run_dir=tmp_path, spec=spec, config=PipelineConfig(), manager=get_manager())
    runner = StageRunner(context, resume=False)
    with caplog.at_level(logging.WARNING, logger="autoglm_core.plugin.manager"):
        for key in keys:
            runner.run(key, key.split("/")[-1], None, lambda: StageOutput(metrics={"n": 1}))
    return runner


def test_failing_notification_hooks_warn_with_the_plugin_name_and_the_run_goes_on(tmp_path, caplog):
    """Through the StageRunner every pipeline stage goes through (a full run takes too long here)."""
    tracker = BrokenTracker()
    get_manager().register(tracker, name="my-tracker")
    runner = _run_stages(tmp_path, caplog, ("data", "c0/train", "c0/evaluate"))
    assert [r.status for r in runner.results] == ["ok", "ok", "ok"]
    assert (tmp_path / "stages" / "c0__evaluate.json").exists()
    assert tracker.started == 3  # called for every stage, not dropped after the first failure
    messages = [r.getMessage() for r in caplog.records]
    assert sum("'my-tracker'" in m and "autoglm_stage_started" in m and "dashboard unreachable" in m
               for m in messages) == 3
    assert any("'my-tracker'" in m and "autoglm_stage_finished" in m and "no such metric" in m for m in messages)


class ExitingParser:
    @hookimpl
    def autoglm_parse_task(self, description, hints):
        raise SystemExit(3)


class InterruptedParser:
    @hookimpl
    def autoglm_parse_task(self, description, hints):
        raise KeyboardInterrupt


class ExitingObserver:
    def __init__(self):
        self.finished = 0

    @hookimpl
    def autoglm_stage_finished(self, run_dir, stage, result):
        self.finished += 1
        raise SystemExit(1)


def test_a_parser_hook_calling_sys_exit_is_named_and_exits_2(capsys):
    get_manager().register(ExitingParser(), name="my-exiting-parser")
    assert main(["parse", "Classify news as good or bad"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'my-exiting-parser' failed in hook autoglm_parse_task: SystemExit")
    assert "Traceback" not in err


def test_keyboard_interrupt_in_a_hook_is_the_users_and_passes_through():
    get_manager().register(InterruptedParser(), name="my-interrupted-parser")
    with pytest.raises(KeyboardInterrupt):
        get_manager().hook.autoglm_parse_task(description="Classify news", hints={})


def test_a_stage_observer_calling_sys_exit_warns_with_its_name_and_the_run_goes_on(tmp_path, caplog):
    observer = ExitingObserver()
    get_manager().register(observer, name="my-exiting-observer")
    runner = _run_stages(tmp_path, caplog, ("data", "c0/train"))
    assert [r.status for r in runner.results] == ["ok", "ok"] and observer.finished == 2
    assert sum("'my-exiting-observer'" in r.getMessage() and "SystemExit" in r.getMessage()
               for r in caplog.records) == 2


# --------------------------------------------------------------------------- candidates and evidence


class GreedyCandidates:
    """Proposes its own backbone, and a different build of the user's, ahead of the built-in."""

    @hookimpl
    def autoglm_generate_candidates(self, spec):
        return [CandidateSpec(name="plugin-big", backbone="big-model", builder="big", source="greedy"),
                CandidateSpec(name="plugin-tiny", backbone="tiny-bert", builder="other", source="greedy")]


def test_user_backbones_win_over_candidate_plugins(tmp_path):
    from autoglm_core import AutoTask

    get_manager().register(GreedyCandidates(), name="greedy")
    data = write_csv(tmp_path / "d.csv", sample_examples(30))
    task = AutoTask.create(dataset=data, description="Classify news as positive, negative or neutral",
                           backbones=["tiny-bert"])
    task.spec = task.spec.model_copy(update={"budget": task.spec.budget.model_copy(update={"max_candidates": 1})})
    pipeline = task.auto_build()
    assert [(c.name, c.builder, c.source) for c in pipeline.candidates] == [("c0-tiny-bert", "tiny-bert", "builtin")]
    task.spec = task.spec.model_copy(update={"budget": task.spec.budget.model_copy(update={"max_candidates": 3})})
    assert [c.name for c in task.auto_build().candidates] == ["c0-tiny-bert", "plugin-big"]


class EvidenceParser:
    @hookimpl
    def autoglm_parse_task(self, description, hints):
        if "ticker" not in description:
            return None
        return TaskSpec(task_type="text_classification", description=description, labels=["bull", "bear"],
                        evidence={"labels": Evidence(value=["bull", "bear"], evidence="ticker",
                                                     confidence=0.8, source="ticker-parser")})


def test_parser_plugin_can_name_itself_as_the_evidence_source(capsys):
    import json

    get_manager().register(EvidenceParser(), name="ticker-parser")
    assert main(["parse", "ticker mood of the day", "--json"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["evidence"]["labels"]["source"] == "ticker-parser"
    with pytest.raises(ValueError):
        Evidence(value=1, evidence="x", confidence=1.0, source="")

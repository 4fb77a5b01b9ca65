"""Stages as data: the printed plan and the run are the same list of Stage objects."""

from __future__ import annotations

import copy

import pytest

from autoglm_core import Attack, AutoTask, Defense, hookimpl
from autoglm_core.engine.stage import Stage
from autoglm_core.engine.stage_plan import SEARCH_PLACEHOLDER, plan_stages
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv

FAST = {"train": {"epochs": 2, "learning_rate": 3e-3, "batch_size": 16}, "compress": [],
        "evaluate": {"latency_repeats": 1, "latency_examples": 4, "latency_batch_sizes": [1]}}


class FirstWord(Attack):
    name = "first-word"

    def attack(self, built, examples, context):
        pred = built.predict([e.text.split()[0] for e in examples])
        return {"accuracy_under_attack": sum(p == e.label for p, e in zip(pred, examples, strict=True)) / len(examples)}


class Same(Defense):
    name = "same"

    def defend(self, built, context):
        return copy.deepcopy(built)


class Plugin:
    @hookimpl
    def autoglm_register_attacks(self, register):
        register(FirstWord)

    @hookimpl
    def autoglm_register_defenses(self, register):
        register(Same)


def _task(tmp_path, config):
    data = write_csv(tmp_path / "d.csv", sample_examples(45))
    return AutoTask.create(task_type="text_classification", dataset=data, out=tmp_path / "run", config=config,
                           description="Classify news as positive, negative or neutral", backbones=["tiny-bert"])


def test_plan_lists_every_stage_with_its_dependencies(tmp_path):
    get_manager().register(Plugin(), name="stages-test")
    pipeline = _task(tmp_path, {**FAST, "attack": ["first-word"], "defend": ["same"]}).auto_build()
    plan = plan_stages(pipeline)
    assert all(isinstance(s, Stage) for s in plan) and [s.key for s in plan] == pipeline.stages()
    keys = pipeline.stages()
    assert keys == ["data", "baselines", "c0-tiny-bert/zero_shot", "c0-tiny-bert/train", "c0-tiny-bert/evaluate",
                    "c0-tiny-bert/defend/same", "c0-tiny-bert/attack/first-word/fine-tuned",
                    "c0-tiny-bert/attack/first-word/same", "select", "export", "report"]
    by_key = {s.key: s for s in plan}
    assert by_key["c0-tiny-bert/attack/first-word/same"].depends == ("c0-tiny-bert/defend/same",)
    assert by_key["c0-tiny-bert/evaluate"].depends == ("c0-tiny-bert/train",)
    assert "Stages: " + " -> ".join(keys) in str(pipeline)


@pytest.mark.slow
def test_the_run_records_exactly_the_planned_stages(tmp_path):
    get_manager().register(Plugin(), name="stages-test")
    pipeline = _task(tmp_path, {**FAST, "zero_shot": {"enabled": False}, "attack": ["first-word"],
                                "defend": ["same"]}).auto_build()
    report = pipeline.launch(progress=False)
    recorded = [s.key for s in report.stages]
    assert recorded == [k for k in pipeline.stages() if k != "report"]  # the report is written, not recorded
    tuned = next(v for v in report.variants if v.variant == "fine-tuned")
    assert "first-word:accuracy_under_attack" in tuned.robustness
    # task-agnostic measurements come from the evaluate stage, for every variant
    # (the majority-class baseline is no model: nothing to measure)
    assert all(v.params and v.size_mb and "1" in v.latency_ms for v in report.variants if v.variant != "majority")
    # resume runs nothing again and rebuilds the same report
    again = _task(tmp_path, {**FAST, "zero_shot": {"enabled": False}, "attack": ["first-word"], "defend": ["same"]})
    resumed = again.auto_build().launch(resume=True, progress=False)
    assert [s.key for s in resumed.stages] == recorded
    assert resumed.best.variant == report.best.variant


def test_search_plans_a_placeholder_candidate(tmp_path):
    import pytest

    pytest.importorskip("optuna")
    pipeline = _task(tmp_path, {**FAST, "train": {"batch_size": 16}, "search": {"trials": 1, "space": {"epochs": [1, 2]}}}
                     ).auto_build()
    keys = pipeline.stages()
    assert keys[:2] == ["data", "search"] and f"{SEARCH_PLACEHOLDER}/train" in keys

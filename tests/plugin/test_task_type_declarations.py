"""What a task type declares (metrics and their direction, description rules, candidates) is what
the core uses: selection, the Pareto front, the parser and plan-time checks read it."""

from __future__ import annotations

import pytest

from autoglm_core import AutoTask, Metric, ParseRule, TaskType, hookimpl
from autoglm_core.engine.selection import pareto_front, select_best
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import CandidateSpec, Objectives, VariantResult


def _variant(name, value, latency, metric="perplexity"):
    return VariantResult(candidate="c", variant=name, backbone="b", metrics={metric: value, f"val_{metric}": value},
                         latency_ms={"1": latency}, model_dir=f"candidates/c/{name}")


def test_selection_follows_the_declared_direction():
    lm = get_manager().registry("task type").get("text_generation")
    assert lm.higher_is_better("perplexity") is False
    variants = [_variant("a", 12.0, 5.0), _variant("b", 30.0, 1.0)]
    best, reason = select_best(variants, Objectives(primary_metric="perplexity"), lm.higher_is_better("perplexity"))
    assert best.variant == "a" and "decided by lower val_perplexity" in reason
    best, _ = select_best(variants, Objectives(primary_metric="perplexity"), True)
    assert best.variant == "b"  # the same numbers read as higher-is-better pick the other one


def test_pareto_front_is_not_upside_down_for_lower_is_better_metrics():
    # lower is better: a (best perplexity) and b (fastest) are the front, c is dominated by a;
    # read upside down, b (highest and fastest) would dominate everything
    variants = [_variant("a", 10.0, 2.0), _variant("b", 20.0, 1.0), _variant("c", 15.0, 3.0)]
    assert pareto_front(variants, "perplexity", higher_is_better=False) == [0, 1]
    assert pareto_front(variants, "perplexity", higher_is_better=True) == [1]


def test_builtin_task_types_declare_metrics_and_rules():
    registry = get_manager().registry("task type")
    for name in registry.names():
        cls = registry.get(name)
        assert cls.metrics, f"{name} declares no metrics"
        assert cls.parse_rules, f"{name} declares no description rule"
    assert registry.get("text_classification").default_metric() == "accuracy"
    assert registry.get("code_generation").default_metric() == "perplexity"


def test_a_metric_the_task_type_does_not_report_fails_at_plan_time(tmp_path):
    data = write_csv(tmp_path / "d.csv", sample_examples(30))
    task = AutoTask.create(task_type="text_classification", dataset=data, out=tmp_path / "run",
                           description="Classify news", metric="perplexity", backbones=["tiny-bert"])
    with pytest.raises(ConfigError, match=r"'perplexity' is not a metric of task type 'text_classification'.*accuracy, macro_f1"):
        task.auto_build()


class Haiku(TaskType):
    """A task type from a plugin: recognised by its own rule, with its own metric and candidate."""

    name = "haiku_scoring"
    description = "score haiku"
    metrics = (Metric("syllable_error", higher_is_better=False),)
    has_labels = False
    parse_rules = (ParseRule(r"\bhaikus?\b|俳句", 0.95, priority=5),)
    default_compress = ()  # one model, nothing to choose: no held-out metrics are needed

    def candidates(self, spec):
        return [CandidateSpec(name="syllables", backbone="syllable-counter", builder="none")]


class HaikuPlugin:
    @hookimpl
    def autoglm_register_task_types(self, register):
        register(Haiku)


def test_a_plugin_task_type_is_parsed_planned_and_reported_by_its_declarations(tmp_path):
    get_manager().register(HaikuPlugin(), name="haiku")
    spec = get_manager().hook.autoglm_parse_task(description="Classify haiku by how well they scan", hints={})
    assert spec.task_type == "haiku_scoring" and spec.metric == "syllable_error" and spec.labels == []
    assert spec.evidence["task_type"].evidence == "haiku"
    data = write_csv(tmp_path / "d.csv", sample_examples(12))
    pipeline = AutoTask.create(dataset=data, description="俳句 scoring", out=tmp_path / "run").auto_build()
    assert [c.name for c in pipeline.candidates] == ["syllables"]
    assert "Metric: syllable_error" in str(pipeline)


def test_without_a_matching_rule_the_fallback_task_type_is_assumed():
    spec = get_manager().hook.autoglm_parse_task(description="xyzzy plugh", hints={})
    assert spec.task_type == "text_classification" and spec.evidence["task_type"].confidence == 0.3

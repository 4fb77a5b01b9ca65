"""The evaluate stage: the task type's own metrics, then the measurements every task type gets
the same way (parameters, size on disk, latency and throughput, extra evaluators).

The task type's ``evaluate`` is required: its failure stops the stage, naming the plugin. The
measurements after it are optional: one that fails is skipped with a note on the variant naming
the plugin (a model that cannot be timed still has its metrics)."""

from __future__ import annotations

from pathlib import Path

from autoglm_core.engine.component_calls import ComponentError, call_component, call_task_type, plugin_of
from autoglm_core.engine.model_cost import measure_latency, parameter_count, size_on_disk_mb
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.types.errors import AutoGLMError
from autoglm_core.types.schemas import VariantResult


def evaluate_variant(ctx: RunContext, task_type: TaskType, built: BuiltModel, variant: str,
                     model_dir: Path | None = None) -> VariantResult:
    result = call_component(ctx.manager, "task type", ctx.spec.task_type, "evaluate", task_type.evaluate,
                            ctx, built, variant, model_dir)
    add_measurements(ctx, task_type, built, result, model_dir)
    return result


def add_measurements(ctx: RunContext, task_type: TaskType, built: BuiltModel, result: VariantResult,
                     model_dir: Path | None = None) -> VariantResult:
    """Fill what the task type left unmeasured; extra evaluators' numbers join ``metrics``."""
    cfg = ctx.config.evaluate
    if result.params is None:
        result.params = parameter_count(built.model)
    if result.size_mb is None:
        result.size_mb = size_on_disk_mb(model_dir)
    if result.model_dir is None and model_dir is not None:
        result.model_dir = ctx.rel(model_dir)
    if not result.latency_ms:
        result.latency_ms = _latency(ctx, built, result)
    if result.throughput_per_s is None and result.latency_ms and min(result.latency_ms.values()) > 0:
        result.throughput_per_s = round(1000.0 / min(result.latency_ms.values()), 2)
    for ref in cfg.evaluators:
        evaluator = ctx.manager.registry("evaluator").get(ref.name)(ref.options, where=f"evaluator {ref.name!r} options")
        try:
            result.metrics.update(call_component(ctx.manager, "evaluator", ref.name, "evaluate", evaluator.evaluate,
                                                 built, ctx))
        except AutoGLMError as exc:
            result.notes.append(f"evaluator {ref.name!r} skipped: {exc}")
    return result


def _latency(ctx: RunContext, built: BuiltModel, result: VariantResult) -> dict[str, float]:
    """Milliseconds per example of ``built.predict`` on the task type's ``latency_inputs``."""
    cfg = ctx.config.evaluate
    try:
        inputs = call_task_type(ctx, "latency_inputs", ctx, built)
        if not inputs:
            return {}
        max_length = ctx.train_config(built.candidate).max_length if built.candidate else 128
        try:
            return measure_latency(built, list(inputs[: cfg.latency_examples]), cfg.latency_batch_sizes,
                                   cfg.latency_repeats, max_length)
        except AutoGLMError:
            raise
        except Exception as exc:  # the model's predict belongs to the task type's plugin
            raise ComponentError(plugin_of(ctx.manager, "task type", ctx.spec.task_type), f"task type {ctx.spec.task_type!r}",
                                 "model predict, timed for latency", exc) from exc
    except AutoGLMError as exc:
        result.notes.append(f"latency not measured: {exc}")
        return {}


"""The evaluate stage: the task type's own metrics, then the measurements every task type gets
the same way (parameters, size on disk, latency and throughput, extra evaluators)."""

from __future__ import annotations

from pathlib import Path

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.types.schemas import VariantResult


def evaluate_variant(ctx: RunContext, task_type: TaskType, built: BuiltModel, variant: str,
                     model_dir: Path | None = None) -> VariantResult:
    result = task_type.evaluate(ctx, built, variant, model_dir)
    add_measurements(ctx, task_type, built, result, model_dir)
    return result


def add_measurements(ctx: RunContext, task_type: TaskType, built: BuiltModel, result: VariantResult,
                     model_dir: Path | None = None) -> VariantResult:
    """Fill what the task type left unmeasured; extra evaluators' numbers join ``metrics``."""
    from autoglm_core.builtin.evaluators import measure_latency, parameter_count, size_on_disk_mb

    cfg = ctx.config.evaluate
    if result.params is None:
        result.params = parameter_count(built.model)
    if result.size_mb is None:
        result.size_mb = size_on_disk_mb(model_dir)
    if result.model_dir is None and model_dir is not None:
        result.model_dir = ctx.rel(model_dir)
    if not result.latency_ms:
        inputs = task_type.latency_inputs(ctx, built)
        if inputs:
            max_length = ctx.train_config(built.candidate).max_length if built.candidate else 128
            result.latency_ms = measure_latency(built, list(inputs[: cfg.latency_examples]), cfg.latency_batch_sizes,
                                                cfg.latency_repeats, max_length)
    if result.throughput_per_s is None and result.latency_ms and min(result.latency_ms.values()) > 0:
        result.throughput_per_s = round(1000.0 / min(result.latency_ms.values()), 2)
    for ref in cfg.evaluators:
        evaluator = ctx.manager.registry("evaluator").get(ref.name)(ref.options, where=f"evaluator {ref.name!r} options")
        result.metrics.update(evaluator.evaluate(built, ctx))
    return result

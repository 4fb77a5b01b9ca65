"""Built-in evaluators: latency/throughput and size. Classification metrics are computed by the
task type itself; these measure the cost of a model and run for every variant."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core.engine.model_cost import measure_latency, parameter_count, size_on_disk_mb
from autoglm_core.plugin.components import BuiltModel, Evaluator
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl


class LatencyEvaluator(Evaluator):
    name = "latency"
    description = "milliseconds per example at given batch sizes, and throughput at the largest"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        batch_sizes: list[int] = Field(default_factory=lambda: [1, 32])
        repeats: int = Field(3, ge=1)
        examples: int = Field(64, ge=1)
        max_length: int = Field(128, ge=8)

    def evaluate(self, built: BuiltModel, context: RunContext) -> dict[str, float]:
        texts = [ex.text for ex in context.splits.test][: self.options.examples]
        lat = measure_latency(built, texts, self.options.batch_sizes, self.options.repeats, self.options.max_length)
        out = {f"latency_ms_b{k}": v for k, v in lat.items()}
        if lat:
            fastest = min(lat.values())
            out["throughput_per_s"] = round(1000.0 / fastest, 2) if fastest > 0 else 0.0
        return out


class SizeEvaluator(Evaluator):
    name = "size"
    description = "parameter count and size of the weight files on disk"

    def evaluate(self, built: BuiltModel, context: RunContext) -> dict[str, float]:
        out: dict[str, float] = {"params": float(parameter_count(built.model))}
        size = size_on_disk_mb(built.meta.get("_model_dir"))
        if size is not None:
            out["size_mb"] = size
        return out


@hookimpl
def autoglm_register_evaluators(register):
    register(LatencyEvaluator)
    register(SizeEvaluator)

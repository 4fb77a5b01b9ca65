"""Built-in evaluators: latency/throughput and size. Classification metrics are computed by the
task type itself; these measure the cost of a model and run for every variant."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core.plugin.components import BuiltModel, Evaluator
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")


def measure_latency(built: BuiltModel, texts: list[str], batch_sizes: list[int], repeats: int = 3,
                    max_length: int = 128) -> dict[str, float]:
    """Median-of-repeats milliseconds per example at each batch size (after one warm-up pass)."""
    out: dict[str, float] = {}
    if not texts:
        return out
    # a model that caches per-text work (frozen-encoder embeddings) times the uncached path
    timing = getattr(built, "uncached", None)
    with timing() if callable(timing) else contextlib.nullcontext():
        for bs in batch_sizes:
            out[str(bs)] = _time_batch(built, texts, bs, repeats, max_length)
    return out


def _time_batch(built: BuiltModel, texts: list[str], bs: int, repeats: int, max_length: int) -> float:
    import statistics

    batch_texts = (texts * (bs // max(len(texts), 1) + 1))[: max(bs, min(len(texts), bs * 2))]
    built.predict_proba(batch_texts[:bs], batch_size=bs, max_length=max_length)  # warm-up
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        built.predict_proba(batch_texts, batch_size=bs, max_length=max_length)
        timings.append((time.perf_counter() - t0) * 1000 / len(batch_texts))
    return round(statistics.median(timings), 4)


def size_on_disk_mb(model_dir: str | Path | None) -> float | None:
    if model_dir is None or not Path(model_dir).is_dir():
        return None
    total = sum(p.stat().st_size for p in Path(model_dir).rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return round(total / 1e6, 3)


def parameter_count(model: Any) -> int:
    """Parameters, counting the packed weights of quantized modules too (torch.ao keeps them out of
    ``parameters()``, which would make an INT8 MiniLM look like a 10k-parameter model)."""
    try:
        total = sum(p.numel() for p in model.parameters())
    except AttributeError:
        return 0
    for module in model.modules():
        for name in ("weight", "bias"):
            getter = getattr(type(module), name, None)
            if callable(getter):  # quantized modules expose weight()/bias() methods
                try:
                    value = getattr(module, name)()
                except (RuntimeError, TypeError, AttributeError):
                    continue
                if value is not None and hasattr(value, "numel"):
                    total += value.numel()
    return int(total)


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

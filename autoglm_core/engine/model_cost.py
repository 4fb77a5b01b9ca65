"""What a model costs, measured the same way for every task type: milliseconds per example of its
prediction, parameters, and the size of its weight files on disk."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")


def measure_latency(built: BuiltModel, texts: list[Any], batch_sizes: list[int], repeats: int = 3,
                    max_length: int = 128) -> dict[str, float]:
    """Median-of-repeats milliseconds per example of :func:`prediction` at each batch size (after
    one warm-up pass); ``texts`` are the task type's ``latency_inputs``."""
    out: dict[str, float] = {}
    if not texts:
        return out
    # a model that caches per-text work (frozen-encoder embeddings) times the uncached path
    timing = getattr(built, "uncached", None)
    with timing() if callable(timing) else contextlib.nullcontext():
        for bs in batch_sizes:
            out[str(bs)] = _time_batch(built, texts, bs, repeats, max_length)
    return out


def prediction(built: BuiltModel) -> Any:
    """What a user of the model calls, and so what latency times: ``built.predict`` (labels, values,
    texts: whatever the task type's model returns), or ``built.predict_records`` for a model whose
    output is one record per input (``predicts_records``: spans, ...)."""
    return built.predict_records if built.predicts_records else built.predict


def _time_batch(built: BuiltModel, texts: list[Any], bs: int, repeats: int, max_length: int) -> float:
    import statistics

    predict = prediction(built)
    batch_texts = (texts * (bs // max(len(texts), 1) + 1))[: max(bs, min(len(texts), bs * 2))]
    predict(batch_texts[:bs], batch_size=bs, max_length=max_length)  # warm-up
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(batch_texts, batch_size=bs, max_length=max_length)
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

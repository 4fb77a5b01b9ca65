"""Seconds per candidate in the printed plan: a probe times a few real optimizer steps of each
fine-tuned candidate on the data's first rows (batch size and max_length of its training
settings), and the step plan divided by that rate is its training time; under a time limit, the
share the budget gives it caps that. Cheap candidates (TF-IDF, frozen-encoder heads) are not
probed: they get a rough rows-based figure, marked as such."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from autoglm_core.engine.budget import RESERVE_FRACTION, TRAIN_FRACTION, is_cheap

#: optimizer steps timed after one warm-up step
PROBE_STEPS = 3
#: rows per second assumed for cheap candidates, their k-fold folds and refit included (an order of
#: magnitude: 400-700 for the n-gram families on 6k Chinese reviews)
CHEAP_ROWS_PER_S = 500.0


def first_rows(pipeline: Any, n: int) -> list[Any]:
    from autoglm_core.data.load import load_file

    ref = pipeline.spec.data
    return load_file(ref.path or ref.train, ref, pipeline.task.manager, require_label=False).examples[:n]


def probe_steps_per_s(pipeline: Any, cand: Any, cfg: Any) -> tuple[float | None, str]:
    """Optimizer steps per second of ``cand`` at its batch size and max_length, or (None, why)."""
    cache = pipeline.probe_cache
    key = (cand.name, cfg.batch_size, cfg.max_length)
    if key not in cache:
        start = time.perf_counter()
        try:
            cache[key] = (_probe(pipeline, cand, cfg), "")
        except Exception as exc:  # noqa: BLE001 - only an estimate; the run reports real problems
            cache[key] = (None, f"{type(exc).__name__}: {exc}"[:120])
        finally:
            pipeline.probe_seconds += time.perf_counter() - start
    return cache[key]


def _probe(pipeline: Any, cand: Any, cfg: Any) -> float | None:
    import torch

    from autoglm_core.engine.build import build_model
    from autoglm_core.plugin.context import RunContext
    from autoglm_core.types.data import DataSplits
    from autoglm_core.types.schemas import DataSummary

    rows = first_rows(pipeline, max(cfg.batch_size, 8))
    labels = list(pipeline.spec.labels) or sorted({str(ex.label) for ex in rows if ex.label is not None}) or ["a", "b"]
    summary = DataSummary(files=[], rows_read=len(rows), rows_used=len(rows), rows_skipped=0, label_counts={},
                          split_sizes={"train": len(rows)}, language=pipeline.spec.language)
    splits = DataSplits(list(rows), [], [], labels, summary)
    ctx = RunContext(run_dir=Path("."), spec=pipeline.spec, config=pipeline.config, manager=pipeline.task.manager,
                     candidates=[cand], splits=splits, progress=False)
    built = build_model(ctx, cand)
    model = built.model
    if built.tokenizer is None or not isinstance(model, torch.nn.Module):
        return None
    from autoglm_core.engine.budget import train_rows_estimate
    from autoglm_core.training.loop import freeze_input_embeddings, resolve_freeze_embeddings
    from autoglm_core.training.step_timing import step_rate

    if resolve_freeze_embeddings(cfg, model, train_rows_estimate(pipeline) or 0).freeze_embeddings:
        freeze_input_embeddings(model)  # the step then costs what it will cost in training
    device = ctx.device
    texts = [ex.text for ex in rows][: cfg.batch_size]
    texts = (texts * math.ceil(cfg.batch_size / max(len(texts), 1)))[: cfg.batch_size]
    enc = built.tokenizer(texts, truncation=True, max_length=cfg.max_length, padding=True, return_tensors="pt")
    batch = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def loss(m: Any, b: dict[str, Any]) -> Any:
        # the logits' mean stands in for the task loss: the same forward and backward work
        return m(**b).logits.float().mean()

    # the loop's own optimizer step (accelerate, AdamW over the trainable parameters)
    return step_rate(model, batch, cfg.model_copy(update={"learning_rate": 1e-5}), loss_fn=loss, device=device,
                     steps=PROBE_STEPS)


def first_share(pipeline: Any) -> float | None:
    """Seconds of training the time limit gives each fine-tuned candidate at the start of the run."""
    limit = pipeline.config.time_limit
    if not limit:
        return None
    expensive = max(1, sum(not is_cheap(c) for c in pipeline.candidates))
    return max(1.0, limit * (1 - RESERVE_FRACTION) / expensive * TRAIN_FRACTION)


def estimate(pipeline: Any, cand: Any) -> str:
    """The plan line's suffix for one candidate: its step plan and estimated seconds of training."""
    from autoglm_core.engine.budget import train_rows_estimate
    from autoglm_core.plugin.context import RunContext

    rows = train_rows_estimate(pipeline)
    if is_cheap(cand) and cand.options.get("budgeted"):
        what = f"; embeds each of the ~{rows} training rows (and the validation and test rows) once" if rows else \
            "; embeds each row once"
        if pipeline.config.time_limit:
            return what + ": its first batches are timed and it is skipped if the rest would not fit in its share"
        return what + " (not probed: seconds to minutes, with the text length and the encoder's size)"
    if is_cheap(cand):
        if not rows:
            return "; fits in seconds"
        return f"; est. ~{max(1, math.ceil(rows / CHEAP_ROWS_PER_S))} s (rough, not probed: {rows} training rows)"
    if not rows:
        return ""
    ctx = RunContext(run_dir=Path("."), spec=pipeline.spec, config=pipeline.config, manager=pipeline.task.manager)
    cfg = ctx.train_config(cand)
    per_epoch = math.ceil(rows / cfg.batch_size)
    steps = per_epoch * cfg.epochs
    if cfg.max_steps:
        steps = min(steps, cfg.max_steps)
    text = f"; up to {steps} steps ({cfg.epochs} epochs x {per_epoch} at batch {cfg.batch_size})"
    note = pipeline.task.manager.registry("task type").get(pipeline.spec.task_type).plan_note(pipeline.config, cand, rows)
    rate, why = probe_steps_per_s(pipeline, cand, cfg)
    if not rate:
        return text + (f"; no time estimate (probe failed: {why})" if why else "; no time estimate") + note
    seconds = steps / rate
    share = first_share(pipeline)
    capped = ""
    if cfg.time_budget_s and cfg.time_budget_s < seconds:
        seconds, capped = cfg.time_budget_s, " (train.time_budget_s)"
    if share is not None and share < seconds:
        seconds, capped = share, f" (its share of the {pipeline.config.time_limit:g} s limit; the steps are cut to fit)"
    return text + f", est. {seconds:.0f} s of training{capped} (probe: {rate:.2f} steps/s on {ctx.device}){note}"


#: a forward pass costs about a third of a training step (forward + backward + optimizer)
FORWARD_SHARE = 1 / 3


def evaluation_seconds(pipeline: Any, cand: Any, ctx: Any) -> float | None:
    """Seconds the evaluate stage of ``cand`` is expected to take: the validation and test rows
    plus the latency measurements, one forward pass per batch at the probed rate. None when the
    plan's probe did not run for it (the run then does not skip on this estimate)."""
    cfg = ctx.train_config(cand)
    rate, _ = pipeline.probe_cache.get((cand.name, cfg.batch_size, cfg.max_length), (None, ""))
    if not rate or ctx.splits is None:
        return None
    ev = pipeline.config.evaluate
    rows = len(ctx.splits.validation) + len(ctx.splits.test)
    timed = ev.latency_repeats * sum(min(ev.latency_examples, len(ctx.splits.test) or 1) / max(1, min(b, cfg.batch_size))
                                     for b in ev.latency_batch_sizes)
    batches = math.ceil(rows / cfg.batch_size) + timed
    return batches * FORWARD_SHARE / rate

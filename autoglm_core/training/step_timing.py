"""What one optimizer step of a model costs in the shared loop, timed on a real batch: the printed
plan's time estimate divides the step plan by this rate."""

from __future__ import annotations

import time
from typing import Any

from autoglm_core.training.loop import LossFn, default_loss, make_optimizer, make_scheduler, optimizer_step
from autoglm_core.training.sync_modes import make_accelerator
from autoglm_core.types.schemas import TrainConfig


def step_rate(model: Any, batch: dict[str, Any], config: TrainConfig, *, loss_fn: LossFn = default_loss,
              device: str = "cpu", steps: int = 3) -> float:
    """Optimizer steps per second of :func:`optimizer_step` on ``batch`` (on ``device``), after one
    warm-up step (allocation, lazy init): what a step of this model costs in the loop. ``model`` is
    trained by it; give a throwaway copy."""
    import torch

    use_cpu = not str(device).startswith("cuda")
    accelerator = make_accelerator(use_cpu, 1, config)
    optimizer = make_optimizer(model, config, config.learning_rate or 1e-5)
    scheduler = make_scheduler(optimizer, {}, "constant")
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()
    batch = {k: v.to(accelerator.device) if hasattr(v, "to") else v for k, v in batch.items()}
    optimizer_step(accelerator, model, optimizer, scheduler, loss_fn, batch)
    if not use_cpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer_step(accelerator, model, optimizer, scheduler, loss_fn, batch)
    if not use_cpu:
        torch.cuda.synchronize()
    rate = steps / max(time.perf_counter() - start, 1e-9)
    accelerator.free_memory()
    return rate

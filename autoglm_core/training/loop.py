"""The one training loop every task type uses (accelerate; full or LoRA through peft).

A task type describes what is task-specific in a :class:`LoopSpec` (its batches, its loss, how it
scores the validation split and which way each metric is better); :func:`run_loop` does the rest
the same way for every task: AdamW with linear warm-up and decay, gradient accumulation and the
distributed sync modes of :mod:`autoglm_core.training.sync_modes` when it runs in a worker, early
stopping on a validation metric with the best epoch's weights kept, ``max_steps``, and a time budget
checked after every optimizer step. Every run ends with one of :data:`STOP_REASONS`.

This is the only place that steps an optimizer (a test checks it). Extension points:

* the loss hook, ``LoopSpec.loss`` (or ``run_loop(compute_loss=...)``): ``loss(model, batch) -> loss``
  replaces the loss of a micro-batch. Adversarial training (FGSM/PGD, ``autoglm-plugin-fgsm``) is such
  a hook: it perturbs the batch against the current weights and returns the mixed clean/adversarial
  loss, so it gets accumulation, budgets and early stopping like any training. A hook in the LoopSpec
  a recipe builds runs in every distributed worker; a closure given as ``compute_loss`` cannot be sent
  to other processes and trains in one;
* ``LoopSpec.schedule``: ``"linear"`` (warm-up then decay) or ``"constant"`` learning rate;
* ``on_epoch(epoch, record)`` sees every epoch's record (raising there, e.g. optuna's TrialPruned,
  ends training);
* :func:`autoglm_core.training.step_timing.step_rate` times the loop's own :func:`optimizer_step` (the
  plan's time estimate uses it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from autoglm_core.training import listeners
from autoglm_core.training.distributed_setup import in_worker
from autoglm_core.training.sync_modes import (
    accumulation_steps,
    agree,
    average_parameters,
    make_accelerator,
    shard_batch,
)
from autoglm_core.training.terminal import bars_enabled
from autoglm_core.types.errors import ConfigError, did_you_mean
from autoglm_core.types.schemas import TrainConfig

log = logging.getLogger(__name__)

# The stop-reason vocabulary, the same for every task type (TrainResult.stop_reason).
STOP_EPOCHS = "epochs"                  # every configured epoch ran
STOP_MAX_STEPS = "max_steps"            # train.max_steps optimizer steps done
STOP_EARLY = "early_stopping"           # train.patience epochs without validation improvement
STOP_TIME_BUDGET = "time_budget"        # train.time_budget_s spent (checked after every step)
STOP_REASONS = (STOP_EPOCHS, STOP_MAX_STEPS, STOP_EARLY, STOP_TIME_BUDGET)

LossFn = Callable[[Any, dict[str, Any]], Any]
EpochCallback = Callable[[int, dict[str, float]], None]
#: metrics whose smaller value is better when a LoopSpec does not say otherwise
LOWER_IS_BETTER = frozenset({"loss", "perplexity"})


def default_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Hugging Face models compute their own loss when the batch has ``labels``."""
    return model(**batch).loss


@dataclass
class LoopSpec:
    """What one task type gives the shared loop.

    ``train_batches`` is a torch DataLoader (prepared by accelerate, so it is sharded across
    distributed processes) or a function ``epoch -> iterable of batch dicts`` (moved to the device
    here; one process). ``evaluate(model)`` scores the validation split and returns named metrics
    (``loss`` among them when it can); without a validation split it is None (or returns None),
    and the last epoch is kept. ``metric`` is the
    early-stopping metric when ``train.early_stopping_metric`` is not set. ``loss`` is the loss hook
    (see the module's docstring); ``schedule`` the learning-rate schedule.
    """

    train_batches: Any
    steps_per_epoch: int
    evaluate: Callable[[Any], dict[str, float] | None] | None = None
    loss: LossFn = default_loss
    metric: str = "loss"
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    peft_task: str | None = "SEQ_CLS"  # peft TaskType name for LoRA; None: the model cannot take LoRA
    default_lr: float = 5e-5
    max_grad_norm: float | None = None
    schedule: Literal["linear", "constant"] = "linear"

    def maximise(self, metric: str) -> bool:
        return self.higher_is_better.get(metric, metric not in LOWER_IS_BETTER)


@dataclass
class TrainResult:
    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    steps: int = 0
    duration_s: float = 0.0
    stopped_early: bool = False
    stop_reason: str = STOP_EPOCHS  # one of STOP_REASONS
    stop_detail: str = ""  # the same in words, for logs and reports
    metric: str = ""  # the early-stopping metric
    best_score: float | None = None
    learning_rate: float = 0.0
    num_processes: int = 1
    syncs: int = 0  # gradient all-reduces or parameter averages between processes
    probe: dict[str, float] | None = None  # steps/s measured on the first steps when a time budget is set
    frozen_embeddings: bool = False  # the input embedding matrix was kept fixed (train.freeze_embeddings)

    def meta(self) -> dict[str, Any]:
        """What a task type records in ``BuiltModel.meta`` (the same keys for every task type)."""
        return {"history": self.history, "best_epoch": self.best_epoch, "steps": self.steps,
                "train_seconds": round(self.duration_s, 2), "stop_reason": self.stop_reason,
                "stop_detail": self.stop_detail, "early_stopping_metric": self.metric,
                "best_score": self.best_score, "learning_rate": self.learning_rate,
                "frozen_embeddings": self.frozen_embeddings,
                **({"probe": self.probe} if self.probe else {})}


#: optimizer steps timed before the step plan is cut to fit a time budget
PROBE_STEPS = 5


def _linear_lr(step: int, plan: dict[str, int]) -> float:
    """Linear warm-up then linear decay to zero at ``plan["total"]`` (as transformers' schedule)."""
    warmup, total = plan["warmup"], plan["total"]
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _cut_plan(plan: dict[str, int], steps: int, elapsed: float, budget_s: float, result: Any, bar: Any) -> None:
    """After the probe steps: how many steps fit the budget at the measured rate (a tenth of it is
    kept for validation passes); shrink the plan so the decay still ends at the last step."""
    rate = steps / max(elapsed, 1e-6)
    fits = steps + int(rate * max(budget_s - elapsed, 0.0) * 0.9)
    result.probe = {"steps": steps, "seconds": round(elapsed, 2), "steps_per_s": round(rate, 3),
                    "planned_steps": plan["total"], "fitted_steps": min(fits, plan["total"])}
    if fits < plan["total"]:
        log.info("time budget %.0fs at %.2f steps/s: %d of %d planned steps fit", budget_s, rate, fits, plan["total"])
        plan["total"] = max(fits, steps + 1)
        plan["warmup"] = min(plan["warmup"], plan["total"] // 10)
        bar.total = plan["total"]


def early_stopping_metric(config: TrainConfig, spec: LoopSpec, available: Iterable[str] | None = None) -> str:
    """``train.early_stopping_metric`` or the task's default; a metric the task does not report is
    a ConfigError that lists the ones it does."""
    metric = config.early_stopping_metric or spec.metric
    if available is not None:
        names = sorted(available)
        if metric not in names:
            raise ConfigError(f"train.early_stopping_metric={metric!r}: this task type's validation reports "
                              f"{', '.join(names)}.{did_you_mean(metric, names)}")
    return metric


def apply_lora(model: Any, config: TrainConfig, peft_task: str | None) -> Any:
    if peft_task is None:
        raise ConfigError("train.method='lora' is not supported for this model (it is not a transformer that "
                          "peft can adapt); use train.method='full'.")
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(task_type=getattr(TaskType, peft_task), r=config.lora.r, lora_alpha=config.lora.alpha,
                      lora_dropout=config.lora.dropout, target_modules=config.lora.target_modules)
    return get_peft_model(model, lora)


#: ``freeze_embeddings=None`` freezes a vocabulary of this many rows or more ...
LARGE_VOCABULARY = 100_000
#: ... when fewer training rows than this touch it
SMALL_DATA_ROWS = 2000


def resolve_freeze_embeddings(config: TrainConfig, model: Any, train_rows: int) -> TrainConfig:
    """``freeze_embeddings`` left at None becomes True for a large vocabulary on small data: a few
    thousand rows touch a sliver of it, and its dense gradient and optimizer update dominate each
    step (me5-small: ~2.7x the step time)."""
    if config.freeze_embeddings is not None:
        return config
    get = getattr(model, "get_input_embeddings", None)
    vocab = getattr(get(), "num_embeddings", 0) if callable(get) else 0
    return config.model_copy(update={"freeze_embeddings": train_rows < SMALL_DATA_ROWS and vocab >= LARGE_VOCABULARY})


def freeze_input_embeddings(model: Any) -> bool:
    """Exclude the input embedding matrix from training (the optimizer only takes parameters that
    require gradients); False when the model has none to freeze."""
    get = getattr(model, "get_input_embeddings", None)
    embeddings = get() if callable(get) else None
    weight = getattr(embeddings, "weight", None)
    if weight is None:
        return False
    weight.requires_grad_(False)
    return True


def local_sgd(accelerator: Any, model: Any, config: TrainConfig) -> Any:
    """accelerate's LocalSGD in 'local-sgd' mode with several processes, else None."""
    if config.sync_mode != "local-sgd" or accelerator.num_processes == 1:
        return None
    from accelerate.local_sgd import LocalSGD

    # LocalSGD keeps DDP in no_sync (no gradient all-reduce) and averages parameters every K steps
    return LocalSGD(accelerator=accelerator, model=model, local_sgd_steps=config.sync_every, enabled=True)


def make_optimizer(model: Any, config: TrainConfig, lr: float) -> Any:
    """AdamW over the parameters that require gradients; no weight decay on biases and norms."""
    import torch

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
              {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def make_scheduler(optimizer: Any, plan: dict[str, int], schedule: str = "linear") -> Any:
    """The learning-rate schedule; it reads ``plan`` live, because the plan can shrink after the probe."""
    import torch

    factor = (lambda s: 1.0) if schedule == "constant" else (lambda s: _linear_lr(s, plan))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_step(accelerator: Any, model: Any, optimizer: Any, scheduler: Any, loss_fn: LossFn,
                   batch: dict[str, Any], max_grad_norm: float | None = None) -> Any:
    """One micro-batch of the loop: the loss (hook), backward, clipping, and the optimizer and
    scheduler steps (accelerate skips them until the accumulation window closes). Returns the loss."""
    with accelerator.accumulate(model):
        loss = loss_fn(model, batch)
        accelerator.backward(loss)
        if max_grad_norm and accelerator.sync_gradients:
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return loss


def run_loop(model: Any, spec: LoopSpec, config: TrainConfig, *, seed: int = 0, device: str = "auto",
             compute_loss: LossFn | None = None, progress: bool = True, desc: str = "train",
             on_epoch: EpochCallback | None = None) -> TrainResult:
    """Train ``model`` as ``spec`` describes; keep the weights of the best validation epoch."""
    import torch
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    if config.num_processes > 1 and not in_worker():
        # only a caller that can send its job to other processes (fine_tune) launches workers
        log.warning("%s: train.num_processes=%d: this task type trains in one process", desc, config.num_processes)
    set_seed(seed)
    loss_fn = compute_loss or spec.loss
    lr = config.learning_rate or spec.default_lr
    metric = early_stopping_metric(config, spec)
    maximise = spec.maximise(metric)
    if config.method == "lora":
        model = apply_lora(model, config, spec.peft_task)
    frozen = bool(config.freeze_embeddings) and config.method == "full" and freeze_input_embeddings(model)
    use_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    accum = accumulation_steps(config)
    accelerator = make_accelerator(use_cpu, accum, config)
    optimizer = make_optimizer(model, config, lr)
    steps_per_epoch = max(1, math.ceil(spec.steps_per_epoch / accum))
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    # the step plan can shrink after the probe (time budget), so the linear decay reads it live
    plan = {"total": total_steps, "warmup": int(config.warmup_ratio * total_steps)}
    scheduler = make_scheduler(optimizer, plan, spec.schedule)
    loader = spec.train_batches
    from_function = callable(loader) and not hasattr(loader, "__iter__")
    if from_function:
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    else:
        model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    result = TrainResult(model=None, metric=metric, learning_rate=lr, frozen_embeddings=frozen)
    best: float | None = None
    best_state: dict[str, Any] | None = None
    bad_epochs, steps = 0, 0
    probed = False
    start = time.perf_counter()
    # bars only on a terminal: in a log file every refresh would be a line (per-epoch lines instead)
    bar = tqdm(total=total_steps, desc=desc, disable=not bars_enabled(progress) or not accelerator.is_local_main_process,
               unit="step", dynamic_ncols=True, leave=False)
    sgd = local_sgd(accelerator, model, config)
    reason, detail = STOP_EPOCHS, f"all {config.epochs} epochs ran"
    with sgd if sgd is not None else contextlib.nullcontext():
        for epoch in range(1, config.epochs + 1):
            model.train()
            epoch_loss, batches, cut = 0.0, 0, ""
            for batch in (loader(epoch) if from_function else loader):
                if from_function and accelerator.num_processes > 1:
                    batch = shard_batch(batch, accelerator.process_index, accelerator.num_processes)
                if from_function:
                    batch = {k: v.to(accelerator.device) if hasattr(v, "to") else v for k, v in batch.items()}
                loss = optimizer_step(accelerator, model, optimizer, scheduler, loss_fn, batch, spec.max_grad_norm)
                epoch_loss += float(loss.detach())
                batches += 1
                if not accelerator.sync_gradients:
                    continue
                steps += 1
                if sgd is not None:
                    sgd.step()
                    result.syncs += int(steps % config.sync_every == 0)
                elif accelerator.num_processes > 1:
                    result.syncs += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{epoch_loss / batches:.3f}")
                if accelerator.is_main_process:  # experiment trackers: the loss of every step
                    listeners.train_step(steps, {"train_loss": float(loss.detach()),
                                                "learning_rate": float(scheduler.get_last_lr()[0])})
                if config.time_budget_s and not probed:
                    elapsed = time.perf_counter() - start
                    # probe after a few steps, or sooner when steps are slow next to the budget; rank 0
                    # decides and every rank takes its plan, so their learning rates stay the same
                    probed = agree(accelerator, steps >= PROBE_STEPS or elapsed >= 0.1 * config.time_budget_s)
                    if probed:
                        if accelerator.is_main_process:
                            _cut_plan(plan, steps, elapsed, config.time_budget_s, result, bar)
                        plan.update(agree(accelerator, dict(plan)))
                if config.max_steps and steps >= config.max_steps:
                    cut = STOP_MAX_STEPS
                elif config.time_budget_s and time.perf_counter() - start >= config.time_budget_s:
                    cut = STOP_TIME_BUDGET
                elif plan["total"] < total_steps and steps >= plan["total"]:
                    cut = STOP_TIME_BUDGET  # the probe's plan for the budget is done
                cut = agree(accelerator, cut)
                if cut:
                    break
            train_loss = epoch_loss / max(batches, 1)
            if accelerator.num_processes > 1:
                train_loss = float(accelerator.reduce(torch.tensor(train_loss, device=accelerator.device), "mean"))
            if sgd is not None:
                average_parameters(accelerator, model)  # validate and keep one model, not N diverged ones
                result.syncs += 1
            record: dict[str, float] = {"epoch": epoch, "train_loss": train_loss}
            improved, stop = False, ""
            if accelerator.is_main_process:
                val = spec.evaluate(accelerator.unwrap_model(model)) if spec.evaluate is not None else None
                model.train()
                if val is not None:
                    if epoch == 1:
                        early_stopping_metric(config, spec, val)
                    record |= {f"val_{k}": v for k, v in val.items()}
                    score = val[metric] if maximise else -val[metric]
                    if best is None or score > best + 1e-9:
                        best, bad_epochs, improved = score, 0, True
                    else:
                        bad_epochs += 1
                else:
                    improved = True  # no validation split: the last epoch is kept
                if cut:
                    stop = cut
                elif val is not None and bad_epochs >= config.patience:
                    stop = STOP_EARLY
                elif config.time_budget_s and time.perf_counter() - start >= config.time_budget_s:
                    stop = STOP_TIME_BUDGET
            record, improved, stop = agree(accelerator, (record, improved, stop))
            if improved:
                result.best_epoch = epoch
                if accelerator.is_main_process and "val_" + metric in record:  # only rank 0's model is kept
                    best_state = {k: v.detach().clone()
                                  for k, v in accelerator.unwrap_model(model).state_dict().items()}
            result.history.append(record)
            log.info("epoch %d: %s", epoch, record)
            if accelerator.is_main_process:
                listeners.train_epoch(epoch, record, config.epochs)
            if on_epoch is not None and accelerator.is_main_process:
                on_epoch(epoch, record)
            if stop:
                reason = stop
                detail = {STOP_MAX_STEPS: f"max_steps={config.max_steps} reached",
                          STOP_EARLY: f"no validation improvement in {metric} for {bad_epochs} epochs",
                          STOP_TIME_BUDGET: f"time budget {config.time_budget_s:g}s spent after {steps} steps"
                          if config.time_budget_s else ""}[stop]
                break
    bar.close()
    model = accelerator.unwrap_model(model)
    if best_state is not None:
        model.load_state_dict(best_state)
    if config.method == "lora":
        model = model.merge_and_unload()
    model.eval()
    accelerator.free_memory()
    result.model = model.cpu() if use_cpu else model
    result.steps = steps
    result.stop_reason, result.stop_detail = reason, detail
    result.stopped_early = reason in (STOP_EARLY, STOP_TIME_BUDGET)
    result.best_score = None if best is None else (best if maximise else -best)
    result.num_processes = accelerator.num_processes
    result.duration_s = time.perf_counter() - start
    return result

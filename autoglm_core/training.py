"""Fine-tuning a sequence classifier on accelerate (full, or LoRA through peft).

Early stopping on the validation split, seed control, a progress bar, a soft time budget. The loss
is pluggable (``compute_loss``) so that defenses such as FGSM adversarial training reuse this loop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .data.types import Example
from .schemas import TrainConfig

log = logging.getLogger(__name__)

LossFn = Callable[[Any, dict[str, Any]], Any]


@dataclass
class TrainResult:
    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    steps: int = 0
    duration_s: float = 0.0
    stopped_early: bool = False
    stop_reason: str = ""
    num_processes: int = 1
    syncs: int = 0  # gradient all-reduces or parameter averages between processes
    probe: dict[str, float] | None = None  # steps/s measured on the first steps when a time budget is set


class EncodedDataset:
    """Tokenised once up front; padding happens per batch (dynamic padding)."""

    def __init__(self, tokenizer: Any, examples: Sequence[Example], label2id: dict[str, int], max_length: int):
        texts = [ex.text for ex in examples]
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.features = [
            {k: enc[k][i] for k in enc.keys()} | ({"labels": label2id[ex.label]} if ex.label is not None else {})
            for i, ex in enumerate(examples)
        ]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]


def make_loader(tokenizer: Any, examples: Sequence[Example], label2id: dict[str, int], max_length: int,
                batch_size: int, shuffle: bool, seed: int = 0) -> Any:
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    ds = EncodedDataset(tokenizer, examples, label2id, max_length)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen if shuffle else None,
                      collate_fn=DataCollatorWithPadding(tokenizer))


def default_loss(model: Any, batch: dict[str, Any]) -> Any:
    return model(**batch).loss


def evaluate_loader(model: Any, loader: Any, labels: Sequence[str], device: Any = None) -> dict[str, float]:
    import torch

    from .metrics import classification_metrics

    model.eval()
    preds: list[int] = []
    gold: list[int] = []
    loss_sum, n = 0.0, 0
    with torch.inference_mode():
        for batch in loader:
            if device is not None:
                batch = {k: v.to(device) for k, v in batch.items()}
            out = model(**batch)
            loss_sum += float(out.loss) * batch["labels"].shape[0]
            n += batch["labels"].shape[0]
            preds += out.logits.argmax(-1).tolist()
            gold += batch["labels"].tolist()
    m = classification_metrics(gold, preds, labels)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "loss": loss_sum / max(n, 1)}


def apply_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora.r, lora_alpha=config.lora.alpha,
                      lora_dropout=config.lora.dropout, target_modules=config.lora.target_modules)
    return get_peft_model(model, lora)


EpochCallback = Callable[[int, dict[str, float]], None]


def accumulation_steps(config: TrainConfig) -> int:
    """Micro-batches per optimizer step: ``sync_every`` in 'accumulate' mode, else gradient_accumulation_steps."""
    return config.sync_every if config.sync_mode == "accumulate" else config.gradient_accumulation_steps


def _agree(accelerator: Any, value: Any) -> Any:
    """Rank 0's ``value`` on every rank. Early stopping and the time budget are decided on rank 0
    only, so that the processes can never disagree about when to stop (a disagreement would leave
    the others waiting in an all-reduce)."""
    if accelerator.num_processes == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def average_parameters(accelerator: Any, model: Any) -> None:
    """Parameter averaging across processes (what accelerate's LocalSGD does every K steps)."""
    accelerator.wait_for_everyone()
    for param in model.parameters():
        param.data = accelerator.reduce(param.data, reduction="mean")


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


def fine_tune(model: Any, tokenizer: Any, train: Sequence[Example], validation: Sequence[Example],
              labels: Sequence[str], config: TrainConfig, *, seed: int = 0, device: str = "auto",
              compute_loss: LossFn | None = None, progress: bool = True, desc: str = "train",
              on_epoch: EpochCallback | None = None) -> TrainResult:
    """Fine-tune ``model`` on ``train``; keep the weights of the best validation epoch.

    ``config.num_processes > 1`` runs the same loop in that many processes (torch.distributed.run +
    accelerate, see :mod:`autoglm_core.distributed`); ``config.batch_size`` is then the global batch,
    split evenly across the processes. ``on_epoch(epoch, record)`` is called after every epoch with
    the validation metrics (an exception raised there, e.g. optuna's TrialPruned, ends training).
    """
    from .distributed import in_worker

    if config.num_processes > 1 and not in_worker():
        if compute_loss is not None:
            # a custom loss (e.g. a defense's closure) cannot be sent to other processes
            log.warning("%s: custom loss function given; training in one process instead of %d",
                        desc, config.num_processes)
            config = config.model_copy(update={"num_processes": 1})
        else:
            from .distributed import fine_tune_distributed

            return fine_tune_distributed(model, tokenizer, train, validation, labels, config, seed=seed,
                                         device=device, progress=progress, desc=desc, on_epoch=on_epoch)
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    set_seed(seed)
    compute_loss = compute_loss or default_loss
    label2id = {lab: i for i, lab in enumerate(labels)}
    lr = config.learning_rate or 5e-5
    if config.method == "lora":
        model = apply_lora(model, config)
    use_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    accum = accumulation_steps(config)
    if in_worker():
        from .distributed import worker_accelerator

        accelerator = worker_accelerator(use_cpu, accum, config)
    else:
        accelerator = Accelerator(cpu=use_cpu, gradient_accumulation_steps=accum)
    train_loader = make_loader(tokenizer, train, label2id, config.max_length, config.batch_size, True, seed)
    val_loader = (make_loader(tokenizer, validation, label2id, config.max_length, config.eval_batch_size, False)
                  if validation else None)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    params = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(params, lr=lr)
    steps_per_epoch = math.ceil(len(train_loader) / accum)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    # the step plan can shrink after the probe (time budget), so the linear decay reads it live
    plan = {"total": total_steps, "warmup": int(config.warmup_ratio * total_steps)}
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _linear_lr(s, plan))
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    result = TrainResult(model=None)
    best_score: float | None = None
    best_state: dict[str, Any] | None = None
    bad_epochs = 0
    start = time.perf_counter()
    steps = 0
    out_of_time = False
    bar = tqdm(total=total_steps, desc=desc, disable=not progress or not accelerator.is_local_main_process,
               unit="step", dynamic_ncols=True)
    local_sgd = None
    if config.sync_mode == "local-sgd" and accelerator.num_processes > 1:
        from accelerate.local_sgd import LocalSGD

        # LocalSGD keeps DDP in no_sync (no gradient all-reduce) and averages parameters every K steps
        local_sgd = LocalSGD(accelerator=accelerator, model=model, local_sgd_steps=config.sync_every, enabled=True)
    with local_sgd if local_sgd is not None else contextlib.nullcontext():
        for epoch in range(1, config.epochs + 1):
            model.train()
            epoch_loss, batches = 0.0, 0
            for batch in train_loader:
                with accelerator.accumulate(model):
                    loss = compute_loss(model, batch)
                    accelerator.backward(loss)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                epoch_loss += float(loss.detach())
                batches += 1
                if accelerator.sync_gradients:
                    steps += 1
                    if local_sgd is not None:
                        local_sgd.step()
                        result.syncs += int(steps % config.sync_every == 0)
                    elif accelerator.num_processes > 1:
                        result.syncs += 1
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{epoch_loss / batches:.3f}")
                    if config.time_budget_s:
                        elapsed = time.perf_counter() - start
                        # probe after a few steps, or sooner when steps are slow next to the budget
                        if result.probe is None and (steps >= PROBE_STEPS or elapsed >= 0.1 * config.time_budget_s):
                            _cut_plan(plan, steps, elapsed, config.time_budget_s, result, bar)
                        if elapsed >= config.time_budget_s:
                            out_of_time = True
                if (config.max_steps and steps >= config.max_steps) or steps >= plan["total"] or out_of_time:
                    break
            train_loss = epoch_loss / max(batches, 1)
            if accelerator.num_processes > 1:
                train_loss = float(accelerator.reduce(torch.tensor(train_loss, device=accelerator.device), "mean"))
            if local_sgd is not None:
                average_parameters(accelerator, model)  # validate and keep one model, not N diverged ones
                result.syncs += 1
            record: dict[str, float] = {"epoch": epoch, "train_loss": train_loss}
            improved, stop, early = False, "", False
            if accelerator.is_main_process:
                if val_loader is not None:
                    val = evaluate_loader(accelerator.unwrap_model(model), val_loader, labels, accelerator.device)
                    record |= {f"val_{k}": v for k, v in val.items()}
                    metric = config.early_stopping_metric
                    score = -val["loss"] if metric == "loss" else val[metric]
                    if best_score is None or score > best_score + 1e-9:
                        best_score, bad_epochs, improved = score, 0, True
                    else:
                        bad_epochs += 1
                elapsed = time.perf_counter() - start
                if config.max_steps and steps >= config.max_steps:
                    stop = f"max_steps={config.max_steps} reached"
                elif out_of_time or (plan["total"] < total_steps and steps >= plan["total"]):
                    stop, early = f"time budget {config.time_budget_s:g}s: stopped after {steps} steps", True
                elif val_loader is not None and bad_epochs >= config.patience:
                    stop, early = f"no validation improvement for {bad_epochs} epochs", True
                elif config.time_budget_s and elapsed >= config.time_budget_s:
                    stop, early = f"time budget {config.time_budget_s:g}s spent", True
            record, improved, stop, early = _agree(accelerator, (record, improved, stop, early))
            if improved:
                result.best_epoch = epoch
                if accelerator.is_main_process:  # only rank 0's model is kept
                    best_state = {k: v.detach().clone()
                                  for k, v in accelerator.unwrap_model(model).state_dict().items()}
            result.history.append(record)
            log.info("epoch %d: %s", epoch, record)
            if on_epoch is not None and accelerator.is_main_process:
                on_epoch(epoch, record)
            if stop:
                result.stopped_early, result.stop_reason = early, stop
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
    result.num_processes = accelerator.num_processes
    result.duration_s = time.perf_counter() - start
    return result

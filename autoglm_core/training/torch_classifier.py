"""A plain torch classifier on the shared training loop: shuffled tensor batches, cross-entropy with
gradients clipped at 1.0, and accuracy/macro-F1/loss on tensors (the image and the text + image task
types train their networks with it)."""

from __future__ import annotations

import math
from typing import Any

from autoglm_core.types.schemas import TrainConfig


def model_device(model: Any) -> Any:
    """The device of the model's parameters (CPU for a model without any)."""
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def train_loop(model: Any, forward: Any, train_batches: Any, n_train: int, val_eval: Any, cfg: TrainConfig, *,
               seed: int, default_lr: float, device: str = "cpu") -> dict[str, Any]:
    """:func:`fit_loop`, returning :meth:`TrainResult.meta`."""
    return fit_loop(model, forward, train_batches, n_train, val_eval, cfg, seed=seed, default_lr=default_lr,
                    device=device).meta()


def fit_loop(model: Any, forward: Any, train_batches: Any, n_train: int, val_eval: Any, cfg: TrainConfig, *,
             seed: int, default_lr: float, device: str = "cpu", on_epoch: Any = None, desc: str = "train") -> Any:
    """A plain torch classifier on the shared loop (cross-entropy, gradients clipped at 1.0, no LoRA).

    ``train_batches(generator)`` yields (inputs dict, labels tensor) batches; ``forward(model,
    inputs)`` returns logits; ``val_eval(model)`` returns (accuracy, macro_f1, loss); it is None (or
    returns None) without a validation split (the last epoch is kept). Returns the loop's TrainResult."""
    import torch
    import torch.nn.functional as F

    from autoglm_core.training.loop import LoopSpec, run_loop

    gen = torch.Generator().manual_seed(seed)

    def batches(epoch: int) -> Any:
        for inputs, y in train_batches(gen):
            yield {**inputs, "labels": y}

    def loss(m: Any, batch: dict[str, Any]) -> Any:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return F.cross_entropy(forward(m, inputs), batch["labels"])

    def evaluate(m: Any) -> dict[str, float] | None:
        scored = val_eval(m)
        if scored is None:
            return None
        acc, f1, vloss = scored
        return {"accuracy": acc, "macro_f1": f1, "loss": vloss}

    spec = LoopSpec(train_batches=batches, steps_per_epoch=max(1, math.ceil(n_train / cfg.batch_size)),
                    evaluate=evaluate if val_eval is not None else None, loss=loss, metric="accuracy", peft_task=None,
                    default_lr=default_lr, max_grad_norm=1.0)
    return run_loop(model, spec, cfg, seed=seed, device=device, progress=False, on_epoch=on_epoch, desc=desc)


def batches_of(arrays: dict[str, Any], y: Any, batch_size: int) -> Any:
    """A function gen -> shuffled batches of tensors (used as ``train_batches``)."""
    import torch

    def make(gen: Any) -> Any:
        order = torch.randperm(len(y), generator=gen)
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # BatchNorm cannot train on a batch of one
            yield {k: v[idx] for k, v in arrays.items()}, y[idx]

    return make


def evaluate_arrays(model: Any, forward: Any, arrays: dict[str, Any], y: Any, n_labels: int,
                    batch_size: int = 256) -> tuple[float, float, float, list[int]]:
    """(accuracy, macro-F1, mean loss, predictions) of a model on tensors."""
    import torch
    import torch.nn.functional as F

    from autoglm_core.training.metrics import classification_metrics

    model.eval()
    device = model_device(model)
    preds: list[int] = []
    loss = 0.0
    with torch.inference_mode():
        for s in range(0, len(y), batch_size):
            logits = forward(model, {k: v[s : s + batch_size].to(device) for k, v in arrays.items()}).float()
            loss += float(F.cross_entropy(logits, y[s : s + batch_size].to(device), reduction="sum"))
            preds += logits.argmax(-1).tolist()
    m = classification_metrics(y.tolist(), preds, [str(i) for i in range(n_labels)])
    return m["accuracy"], m["macro_f1"], loss / max(len(y), 1), preds

"""Fine-tuning a sequence classifier: its batches and validation metrics for the shared loop.

The loop itself (accelerate, LoRA, early stopping, time budget, distributed sync modes) is
:mod:`autoglm_core.training.loop`; the loss is pluggable (``compute_loss``) so that defenses such as
FGSM adversarial training reuse it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from autoglm_core.training.distributed import fine_tune_distributed
from autoglm_core.training.distributed_setup import distributed_wanted, in_worker
from autoglm_core.training.loop import EpochCallback, LoopSpec, LossFn, TrainResult, run_loop
from autoglm_core.training.metrics import classification_metrics
from autoglm_core.types.data import Example
from autoglm_core.types.schemas import TrainConfig

log = logging.getLogger(__name__)


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


def evaluate_loader(model: Any, loader: Any, labels: Sequence[str], device: Any = None) -> dict[str, float]:
    import torch

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


def fine_tune(model: Any, tokenizer: Any, train: Sequence[Example], validation: Sequence[Example],
              labels: Sequence[str], config: TrainConfig, *, seed: int = 0, device: str = "auto",
              compute_loss: LossFn | None = None, progress: bool = True, desc: str = "train",
              on_epoch: EpochCallback | None = None) -> TrainResult:
    """Fine-tune ``model`` on ``train``; keep the weights of the best validation epoch.

    ``config.num_processes > 1`` runs the same loop in that many processes (torch.distributed.run +
    accelerate, see :mod:`autoglm_core.training.distributed`); ``config.batch_size`` is then the global batch,
    split evenly across the processes. ``on_epoch(epoch, record)`` is called after every epoch with
    the validation metrics (an exception raised there, e.g. optuna's TrialPruned, ends training).
    """
    if not in_worker() and distributed_wanted(config):
        if compute_loss is not None:
            # a custom loss (e.g. a defense's closure) cannot be sent to other processes
            log.warning("%s: custom loss function given; training in one process instead of %d",
                        desc, config.num_processes)
            config = config.model_copy(update={"num_processes": 1})
        else:
            return fine_tune_distributed(model, tokenizer, train, validation, labels, config, seed=seed,
                                         device=device, progress=progress, desc=desc, on_epoch=on_epoch)
    label2id = {lab: i for i, lab in enumerate(labels)}

    train_loader = make_loader(tokenizer, train, label2id, config.max_length, config.batch_size, True, seed)
    val_loader = (make_loader(tokenizer, validation, label2id, config.max_length, config.eval_batch_size, False)
                  if validation else None)

    def evaluate(trained: Any) -> dict[str, float]:
        return evaluate_loader(trained, val_loader, labels, _device(trained))

    spec = LoopSpec(train_batches=train_loader, steps_per_epoch=len(train_loader),
                    evaluate=evaluate if val_loader is not None else None, metric="macro_f1", peft_task="SEQ_CLS")
    return run_loop(model, spec, config, seed=seed, device=device, compute_loss=compute_loss, progress=progress,
                    desc=desc, on_epoch=on_epoch)


def _device(model: Any) -> Any:
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")

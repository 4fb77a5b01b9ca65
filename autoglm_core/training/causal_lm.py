"""Causal-LM training and perplexity: token windows with masked padding, the summed negative
log-likelihood, and fine-tuning (full or LoRA) on the shared loop as a recipe torchrun workers rebuild."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import TrainConfig


def lm_batches(tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int, shuffle: bool,
             seed: int = 0) -> list[dict[str, Any]]:
    """Tokenized batches with ``labels`` (padding masked with -100). Long documents are cut into
    windows of ``max_length`` tokens so that nothing is silently dropped."""
    import torch

    windows: list[list[int]] = []
    eos = tokenizer.eos_token_id
    for t in texts:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        if eos is not None:
            ids = ids + [eos]
        for i in range(0, len(ids), max_length):
            chunk = ids[i : i + max_length]
            if len(chunk) >= 2:
                windows.append(chunk)
    if shuffle:
        random.Random(seed).shuffle(windows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos or 0)
    out = []
    for i in range(0, len(windows), batch_size):
        group = windows[i : i + batch_size]
        width = max(map(len, group))
        ids = torch.full((len(group), width), pad, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for r, w in enumerate(group):
            ids[r, : len(w)] = torch.tensor(w)
            mask[r, : len(w)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        out.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return out


def negative_log_likelihood(model: Any, batches: Sequence[dict[str, Any]]) -> tuple[float, int]:
    """(summed NLL in nats, predicted tokens) over the batches."""
    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for b in batches:
            b = {k: v.to(device) for k, v in b.items()}
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, :-1].float()
            target = b["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                    ignore_index=-100, reduction="sum")
            total += float(nll)
            count += int((target != -100).sum())
    return total, count


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 256, batch_size: int = 8) -> float:
    """exp(mean token NLL) over ``texts`` (each followed by EOS; long ones in windows)."""
    nll, n = negative_log_likelihood(model, lm_batches(tokenizer, texts, max_length, batch_size, False))
    if n == 0:
        raise DataError("perplexity needs at least one text with two or more tokens.")
    return math.exp(nll / n)


def causal_lm_loop(tokenizer: Any, train: Sequence[str], validation: Sequence[str], config: TrainConfig, *,
                   seed: int = 0) -> Any:
    """The causal-LM batches and validation loss (and perplexity) for the shared training loop."""
    from autoglm_core.training.loop import LoopSpec

    train_batches = lm_batches(tokenizer, train, config.max_length, config.batch_size, True, seed)
    if not train_batches:
        raise DataError("the training corpus has no text of two or more tokens.")
    val_batches = lm_batches(tokenizer, validation, config.max_length, config.eval_batch_size, False)

    def batches(epoch: int) -> list[dict[str, Any]]:
        order = list(range(len(train_batches)))
        random.Random(seed + epoch - 1).shuffle(order)
        return [train_batches[i] for i in order]

    def evaluate(model: Any) -> dict[str, float]:
        nll, n = negative_log_likelihood(model, val_batches)
        loss = nll / max(n, 1)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}

    return LoopSpec(train_batches=batches, steps_per_epoch=len(train_batches),
                    evaluate=evaluate if val_batches else None, metric="loss", peft_task="CAUSAL_LM")


def train_causal_lm(model: Any, tokenizer: Any, train: Sequence[str], validation: Sequence[str], config: TrainConfig,
                    *, seed: int = 0, device: str = "auto", on_epoch: Any = None, progress: bool = False,
                    desc: str = "train") -> tuple[Any, Any]:
    """Causal-LM fine-tuning (full or LoRA) on the shared loop; keeps the weights of the best
    validation loss. A LoRA model is merged back into the base weights so it saves as a plain model.
    Returns the model and the loop's TrainResult."""
    from autoglm_core.training.recipe import run_recipe

    data = {"train": list(train), "validation": list(validation)}
    result = run_recipe(CAUSAL_LM_RECIPE, data, model, tokenizer, config, seed=seed, device=device, progress=progress,
                        desc=desc, on_epoch=on_epoch)
    return result.model, result


#: the causal-LM loop as a recipe (autoglm_core.training.recipe): what torchrun workers rebuild
CAUSAL_LM_RECIPE = "autoglm_core.training.causal_lm:causal_lm_recipe"


def causal_lm_recipe(model: Any, tokenizer: Any, data: dict[str, Any], config: TrainConfig, seed: int) -> Any:
    return causal_lm_loop(tokenizer, data["train"], data["validation"], config, seed=seed)

"""Token classification's training recipe: its batches and entity-level validation for the shared
loop, built from plain data so that torchrun workers build the very same spec."""

from __future__ import annotations

from typing import Any

from autoglm_core.tasks.token_classification.metrics import entity_scores
from autoglm_core.tasks.token_classification.model import train_loader, word_probabilities
from autoglm_core.types.data import Example
from autoglm_core.types.schemas import TrainConfig

RECIPE = "autoglm_core.tasks.token_classification.recipe:loop_spec"


def payload(labels: list[str], train: list[Example], validation: list[Example] | None) -> dict[str, Any]:
    def part(examples: list[Example] | None) -> dict[str, list[list[str]]]:
        examples = list(examples or [])
        return {"tokens": [ex.meta["tokens"] for ex in examples], "tags": [ex.meta["tags"] for ex in examples]}

    return {"labels": list(labels), "train": part(train), "validation": part(validation)}


def loop_spec(model: Any, tokenizer: Any, data: dict[str, Any], config: TrainConfig, seed: int) -> Any:
    from autoglm_core.training.loop import LoopSpec

    labels = data["labels"]
    label2id = {lab: i for i, lab in enumerate(labels)}
    train, val = data["train"], data["validation"]
    loader = train_loader(tokenizer, train["tokens"], train["tags"], label2id, config.max_length,
                          config.batch_size, seed)
    val_ids = [[label2id[t] for t in tags] for tags in val["tags"]]

    def evaluate(trained: Any) -> dict[str, float]:
        probs, loss = word_probabilities(trained, tokenizer, val["tokens"], config.max_length,
                                         config.eval_batch_size, labels=val_ids)
        pred = [[labels[j] for j in p.argmax(1)] for p in probs]
        m = entity_scores(val["tags"], pred)
        return {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
                "token_accuracy": m["token_accuracy"], "loss": loss}

    return LoopSpec(train_batches=loader, steps_per_epoch=len(loader), evaluate=evaluate if val["tokens"] else None,
                    metric="f1", peft_task="TOKEN_CLS", default_lr=5e-5)

"""The accelerate fine-tuning loop: learning, seed control, early stopping, LoRA through peft."""

from __future__ import annotations

import pytest
import torch

from autoglm_core.testing import LABELS, sample_examples, tiny_text_classifier
from autoglm_core.training.finetune import fine_tune
from autoglm_core.types.schemas import TrainConfig

TRAIN, VAL, TEST = sample_examples(90, seed=1), sample_examples(15, seed=2), sample_examples(30, seed=3)


def accuracy(built, examples):
    pred = built.predict([e.text for e in examples])
    return sum(p == e.label for p, e in zip(pred, examples, strict=True)) / len(examples)


def train(config, seed=0, **kw):
    built = tiny_text_classifier(texts=[e.text for e in TRAIN], seed=seed)
    result = fine_tune(built.model, built.tokenizer, TRAIN, VAL, list(LABELS), config, seed=seed, progress=False, **kw)
    built.model = result.model
    return built, result


@pytest.mark.slow
def test_full_fine_tuning_learns_and_keeps_the_best_epoch():
    built, result = train(TrainConfig(epochs=10, learning_rate=3e-3, batch_size=16, patience=10))
    assert accuracy(built, TEST) >= 0.8
    best = max(h["val_macro_f1"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_macro_f1"] == best
    assert result.steps == 10 * 6


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_differs():
    cfg = TrainConfig(epochs=2, learning_rate=1e-3, batch_size=16)
    a, _ = train(cfg, seed=0)
    b, _ = train(cfg, seed=0)
    c, _ = train(cfg, seed=1)
    pa, pb, pc = (dict(x.model.named_parameters()) for x in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)


@pytest.mark.slow
def test_early_stopping_and_max_steps():
    _, result = train(TrainConfig(epochs=50, learning_rate=1e-9, batch_size=16, patience=2, early_stopping_metric="loss"))
    assert result.stopped_early and len(result.history) < 50 and result.stop_reason == "early_stopping"
    _, result = train(TrainConfig(epochs=5, batch_size=16, max_steps=4))
    assert result.steps == 4 and result.stop_reason == "max_steps" and "max_steps=4" in result.stop_detail


@pytest.mark.slow
def test_lora_trains_adapters_only_and_merges():
    seen = {}

    def loss(model, batch):
        if not seen:
            seen["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
            seen["total"] = sum(p.numel() for p in model.parameters())
        return model(**batch).loss

    before = {k: v.clone() for k, v in tiny_text_classifier(texts=[e.text for e in TRAIN]).model.state_dict().items()}
    cfg = TrainConfig(method="lora", epochs=3, learning_rate=5e-3, batch_size=16, lora={"r": 4, "alpha": 8})
    built, result = train(cfg, compute_loss=loss)
    after = built.model.state_dict()
    assert seen["trainable"] < 0.5 * seen["total"]
    assert type(built.model).__name__ == "BertForSequenceClassification"  # merged back, saves like any model
    assert set(after) == set(before)  # no lora_A/lora_B left after merge_and_unload
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    q = "bert.encoder.layer.0.attention.self.query.weight"
    k = "bert.encoder.layer.0.attention.self.key.weight"
    assert q in changed  # adapted (merged low-rank update)
    assert k not in changed and "bert.embeddings.word_embeddings.weight" not in changed  # frozen
    assert "classifier.weight" in changed  # the new head is trained (modules_to_save)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]

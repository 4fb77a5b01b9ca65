"""Helpers for tests of the core and of plugins: tiny models and data that build offline in seconds.

    from autoglm_core.testing import tiny_text_classifier, sample_examples
    built = tiny_text_classifier()            # BuiltModel: 2-layer, 64-dim BERT + WordPiece tokenizer
    examples = sample_examples()              # labelled financial-news style sentences
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.types.data import Example

LABELS = ("negative", "neutral", "positive")

_POS = ["profit rose", "sales increased", "record revenue", "strong growth", "shares jumped", "beat forecasts",
        "dividend raised", "orders surged"]
_NEG = ["profit fell", "sales dropped", "heavy losses", "weak demand", "shares plunged", "missed forecasts",
        "layoffs announced", "debt rose"]
_NEU = ["annual meeting held", "board appointed", "report published", "office relocated", "contract signed",
        "product listed", "results scheduled", "agenda released"]
_COMPANIES = ["Nokia", "Acme", "Fortum", "Stora", "Kone", "Orion", "Wartsila", "Elisa"]


OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
PLUGIN_ENV = ("AUTOGLM_LOAD_PLUGINS", "AUTOGLM_DISABLE_PLUGINS", "AUTOGLM_STRICT_PLUGINS")


def use_offline_env() -> None:
    """Call at the top of a conftest.py: nothing may be fetched from a model or data hub in tests."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def fresh_plugin_manager(monkeypatch: Any) -> Any:
    """Fixture body for tests: a freshly loaded plugin manager and no allow/block variables from
    outside. In a conftest.py: ``_fresh = pytest.fixture(autouse=True)(fresh_plugin_manager)``."""
    from autoglm_core.plugin.manager import reset_manager

    for var in PLUGIN_ENV:
        monkeypatch.delenv(var, raising=False)
    reset_manager()
    yield
    reset_manager()


def sample_examples(n: int = 96, seed: int = 0) -> list[Example]:
    """Synthetic, learnable 3-class sentences (tests only; real data sets live outside the package)."""
    rng = random.Random(seed)
    out: list[Example] = []
    pools = {"positive": _POS, "negative": _NEG, "neutral": _NEU}
    for i in range(n):
        label = LABELS[i % 3]
        text = f"{rng.choice(_COMPANIES)} {rng.choice(pools[label])} in quarter {rng.randint(1, 4)}"
        out.append(Example(text=text, label=label, file="<sample>", line=i + 1))
    return out


def tiny_text_classifier(labels: Sequence[str] = LABELS, texts: Sequence[str] | None = None, seed: int = 0,
                         **config: Any) -> BuiltModel:
    """An untrained 2-layer, 64-dim BERT classifier with a tokenizer trained on ``texts``."""
    from autoglm_core.models.tiny import tiny_bert_classifier
    from autoglm_core.types.schemas import CandidateSpec

    texts = list(texts) if texts is not None else [ex.text for ex in sample_examples()]
    model, tokenizer = tiny_bert_classifier(labels, texts, seed=seed, **config)
    cand = CandidateSpec(name="tiny-bert", backbone="tiny-bert", builder="tiny-bert", family="bert")
    return BuiltModel(model=model, tokenizer=tokenizer, labels=list(labels), task_type="text_classification",
                      candidate=cand)


def trained_tiny_classifier(seed: int = 0, steps: int = 40) -> BuiltModel:
    """A tiny classifier trained for a few steps on :func:`sample_examples`, so that probabilities
    differ clearly between texts (an untrained one gives nearly the same row everywhere, which would
    hide ordering and batching mistakes in prediction and serving tests). It trains through the
    shared loop: ``steps`` optimizer steps of 16 rows at a constant learning rate."""
    import torch

    from autoglm_core.training.loop import LoopSpec, run_loop
    from autoglm_core.types.schemas import TrainConfig

    built = tiny_text_classifier(seed=seed)
    examples = sample_examples(48)
    enc = built.tokenizer([e.text for e in examples], padding=True, return_tensors="pt")
    y = torch.tensor([built.labels.index(str(e.label)) for e in examples])

    def batches(epoch: int) -> Any:
        for step in range(steps):
            idx = torch.arange(step * 16, step * 16 + 16) % len(examples)
            yield {**{k: v[idx] for k, v in enc.items()}, "labels": y[idx]}

    spec = LoopSpec(train_batches=batches, steps_per_epoch=steps, peft_task=None, schedule="constant")
    cfg = TrainConfig(epochs=1, batch_size=16, learning_rate=3e-3, warmup_ratio=0.0)
    built.model = run_loop(built.model, spec, cfg, seed=seed, device="cpu", progress=False, desc="tiny").model
    return built


def trained_classifier_and_context(examples: Sequence[Example], lr: float = 5e-3, epochs: int = 8) -> tuple[BuiltModel, Any]:
    """A tiny BERT fine-tuned on the first 60% of ``examples`` (20% validation, 20% test) and the
    run context of those splits (``RunContext.standalone``), for attack and defense tests that need a
    model that has learnt."""
    from autoglm_core.engine.runner import RunContext
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.data import DataSplits
    from autoglm_core.types.schemas import TrainConfig

    labels = sorted({str(ex.label) for ex in examples})
    built = tiny_text_classifier(labels=labels, texts=[ex.text for ex in examples])
    cfg = TrainConfig(epochs=epochs, batch_size=16, max_length=32, learning_rate=lr, patience=epochs)
    n = len(examples)
    train, val, test = list(examples[: int(n * 0.6)]), list(examples[int(n * 0.6): int(n * 0.8)]), list(examples[int(n * 0.8):])
    built.model = fine_tune(built.model, built.tokenizer, train, val, labels, cfg, progress=False).model
    ctx = RunContext.standalone(splits=DataSplits(train, val, test, labels, None), train=cfg)
    return built, ctx


def write_csv(path: str | Path, examples: Sequence[Example]) -> Path:
    import csv

    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for ex in examples:
            w.writerow([ex.text, ex.label])
    return path

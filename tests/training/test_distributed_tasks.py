"""Several training processes for every task type the shared loop trains: token classification
(NER) and text generation go through training recipes that the torchrun workers rebuild, with the
same end parameters as one process; a task type that cannot is refused at plan time, saying why.

Parity holds when every rank's slice of a batch has as many labelled tokens as the others (the
models' losses are per-token means, and DDP averages the ranks' means): the toy sentences below all
have the same number of words for that reason.
"""

from __future__ import annotations

import random

import pytest

from autoglm_core.training.distributed_setup import usable_cpus
from autoglm_core.training.recipe import run_recipe
from autoglm_core.training.sync_modes import shard_batch
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import TrainConfig

needs_two_cpus = pytest.mark.skipif(usable_cpus() < 2, reason="needs 2 CPU cores for 2 processes")

ATOL = 1e-5
BASE = dict(epochs=1, learning_rate=1e-3, batch_size=16, warmup_ratio=0.0, max_length=32)


def ner_sentences(n, seed=0):
    rng = random.Random(seed)
    people, orgs, places = ["John Smith", "Mary Jones", "Ann Lee"], ["Acme", "Nokia", "Reuters"], ["Paris", "Oslo"]
    out = []
    for _ in range(n):  # 8 words each: equal labelled tokens per slice
        tokens, tags = [], []
        for words, typ in ((rng.choice(people), "PER"), ("works for", ""), (rng.choice(orgs), "ORG"), ("in", ""),
                           (rng.choice(places), "LOC"), (".", "")):
            for j, w in enumerate(words.split()):
                tokens.append(w)
                tags.append(("B-" if j == 0 else "I-") + typ if typ else "O")
        out.append((tokens, tags))
    return out


def max_diff(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


def no_dropout(model):
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    for m in model.modules():
        if type(m).__name__ == "Dropout":
            m.p = 0.0
    return model


@pytest.fixture(scope="module")
def ner_setup():
    from autoglm_core.tasks.token_classification.model import build_tiny_token_model
    from autoglm_core.tasks.token_classification.recipe import RECIPE

    sents = ner_sentences(64)  # 4 full batches of 16
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    model, tokenizer = build_tiny_token_model(labels, [" ".join(t) for t, _ in sents])
    no_dropout(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    data = {"labels": labels, "train": {"tokens": [t for t, _ in sents], "tags": [g for _, g in sents]},
            "validation": {"tokens": [t for t, _ in sents[:8]], "tags": [g for _, g in sents[:8]]}}
    return RECIPE, data, model, tokenizer, state


def fresh(model, state):
    clone = type(model)(model.config)
    clone.load_state_dict(state)
    return no_dropout(clone)


@pytest.mark.slow
@needs_two_cpus
def test_ner_in_two_processes_ends_with_the_parameters_of_one_process(ner_setup):
    recipe, data, model, tokenizer, state = ner_setup

    def train(**overrides):
        return run_recipe(recipe, data, fresh(model, state), tokenizer, TrainConfig(**(BASE | overrides)), seed=0,
                          device="cpu", progress=False)

    one = train()
    two = train(num_processes=2)
    assert (one.num_processes, two.num_processes) == (1, 2)
    assert one.steps == two.steps == 4 and two.syncs == 4
    assert max_diff(one.model, fresh(model, state)) > 1e-3  # training moved the weights
    assert max_diff(one.model, two.model) < ATOL
    assert "val_f1" in two.history[0] and two.history[0]["val_f1"] == pytest.approx(one.history[0]["val_f1"])


@pytest.mark.slow
@needs_two_cpus
def test_text_generation_trains_in_two_processes_through_the_same_loop():
    from autoglm_core.models.tiny import tiny_gpt2_lm
    from autoglm_core.training.causal_lm import train_causal_lm

    texts = [f"the cat number {i % 7} sat on the mat" for i in range(32)]
    model, tokenizer = tiny_gpt2_lm(texts)
    cfg = TrainConfig(**(BASE | {"batch_size": 8, "num_processes": 2}))
    trained, result = train_causal_lm(model, tokenizer, texts, texts[:4], cfg, seed=0, device="cpu")
    assert result.num_processes == 2 and result.steps == 4 and result.syncs == 4
    assert result.history[0]["val_perplexity"] > 1.0
    assert max_diff(trained, model) > 1e-4


def test_function_batches_are_split_into_contiguous_slices():
    import torch

    batch = {"input_ids": torch.arange(10).reshape(5, 2), "note": "kept"}
    parts = [shard_batch(batch, r, 2) for r in range(2)]
    assert [p["input_ids"][:, 0].tolist() for p in parts] == [[0, 2, 4], [6, 8]]
    assert parts[1]["note"] == "kept"
    assert shard_batch({"input_ids": torch.zeros(1, 3)}, 1, 2)["input_ids"].shape == (1, 3)  # too small: whole


def test_a_task_type_that_cannot_train_in_several_processes_is_refused_at_plan_time(tmp_path):
    from autoglm_core import AutoTask

    for cls in ("cat", "dog"):
        (tmp_path / "img" / cls).mkdir(parents=True)
    task = AutoTask.create(task_type="image_classification", dataset=str(tmp_path / "img"), out=tmp_path / "run",
                           config={"train": {"num_processes": 2, "batch_size": 8}})
    with pytest.raises(ConfigError, match=r"train.num_processes=2: task type 'image_classification' trains in one "
                                          r"process only: its batches are image tensors"):
        task.auto_build()

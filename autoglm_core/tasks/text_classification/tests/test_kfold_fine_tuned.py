"""Small data: the fine-tuned candidates' recipe is cross-validated (the estimate and the selection
score come from the folds), and a large vocabulary's embeddings stay fixed during fine-tuning."""

from __future__ import annotations

import pytest

from autoglm_core import AutoTask
from autoglm_core.testing import sample_examples, write_csv


def _run(tmp_path, **config):
    path = write_csv(tmp_path / "d.csv", sample_examples(90))
    task = AutoTask.create(task_type="text_classification", dataset=str(path), description="classify sentiment",
                           out=tmp_path / "run", backbones=["tiny-bert"],
                           config={"compress": [], "zero_shot": {"enabled": False}, "train": {"epochs": 2},
                                   **config})
    return task.auto_build().launch(progress=False)


def test_fine_tuned_candidate_is_cross_validated_on_small_data(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGLM_FINE_TUNED_FOLDS", raising=False)  # the runs' default (the pytest plugin sets 0)
    report = _run(tmp_path)
    tuned = next(v for v in report.variants if v.variant == "fine-tuned")
    m = tuned.metrics
    assert m["cv_folds"] == 3.0
    assert 0.0 <= m["cv_accuracy_mean"] <= 1.0 and m["cv_accuracy_std"] >= 0.0
    # the selection score is the cross-validated one, not the handful of validation rows
    assert m["val_accuracy"] == m["cv_accuracy_mean"]
    assert any("3-fold CV of the fine-tuning recipe" in n for n in tuned.notes)
    assert "3-fold cross-validation of their recipe" in report.protocol
    row = next(r for r in report.leaderboard if r["candidate"] == tuned.candidate and r["variant"] == "fine-tuned")
    assert row["protocol"] == "3-fold"


def test_fine_tuned_folds_zero_keeps_the_holdout_protocol(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGLM_FINE_TUNED_FOLDS", raising=False)
    report = _run(tmp_path, fine_tuned_folds=0)
    tuned = next(v for v in report.variants if v.variant == "fine-tuned")
    assert "cv_folds" not in tuned.metrics and "val_accuracy" in tuned.metrics
    assert "holdout" in report.protocol


@pytest.mark.parametrize("rows, vocab, expected", [(100, 120_000, True), (100, 30_000, False), (5000, 120_000, False)])
def test_embeddings_of_a_large_vocabulary_are_frozen_on_small_data(rows, vocab, expected):
    import torch

    from autoglm_core.training.loop import resolve_freeze_embeddings
    from autoglm_core.types.schemas import TrainConfig

    model = torch.nn.Module()
    model.get_input_embeddings = lambda: torch.nn.Embedding(vocab, 2)  # type: ignore[method-assign]
    assert resolve_freeze_embeddings(TrainConfig(), model, rows).freeze_embeddings is expected
    # the user's own choice wins
    assert resolve_freeze_embeddings(TrainConfig(freeze_embeddings=False), model, rows).freeze_embeddings is False


def test_frozen_embeddings_do_not_change_while_the_rest_trains():
    from autoglm_core.testing import tiny_text_classifier
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.schemas import TrainConfig

    built = tiny_text_classifier()
    model, tokenizer = built.model, built.tokenizer
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = sample_examples(32)
    result = fine_tune(model, tokenizer, data, [], built.labels,
                       TrainConfig(epochs=1, batch_size=8, freeze_embeddings=True), progress=False)
    assert result.frozen_embeddings and result.meta()["frozen_embeddings"] is True
    emb = result.model.get_input_embeddings().weight
    name = next(n for n, p in result.model.named_parameters() if p is emb)
    assert emb.detach().equal(before[name])
    changed = [n for n, p in result.model.named_parameters() if not p.detach().equal(before[n])]
    assert changed, "the other weights train"


def _context(labels, n=60, seed=0):
    from types import SimpleNamespace

    from autoglm_core.types.data import Example

    rows = [Example(text=f"t{i}", label=labels[i % len(labels)]) for i in range(n)]
    splits = SimpleNamespace(train=rows[: n * 4 // 5], validation=rows[n * 4 // 5:], test=[], labels=list(labels))
    return SimpleNamespace(splits=splits, seed=seed, scratch={}, config=SimpleNamespace(fine_tuned_folds=0))


def test_ensemble_estimate_is_nested_and_tracks_its_members():
    import numpy as np

    from autoglm_core.tasks.text_classification.kfold import ensemble_estimate, pool_labels

    ctx = _context(["a", "b", "c"])
    y = pool_labels(ctx)
    good = np.eye(3)[y] * 0.9 + 0.05
    noise = np.random.default_rng(0).dirichlet(np.ones(3), size=len(y))
    ensemble_estimate(ctx, {"good": good, "noise": noise})
    cv = ctx.scratch[("cv", "ensemble")]["metrics"]
    assert cv["cv_folds"] == 5.0 and cv["cv_accuracy_mean"] == 1.0 and cv["cv_accuracy_std"] == 0.0
    ctx2 = _context(["a", "b", "c"])
    ensemble_estimate(ctx2, {"noise": noise, "noise2": np.random.default_rng(1).dirichlet(np.ones(3), size=len(y))})
    assert ctx2.scratch[("cv", "ensemble")]["metrics"]["cv_accuracy_mean"] < 0.7  # noise stays noise out of fold


def test_a_compressed_variant_is_scored_as_the_k_fold_mean_plus_its_change():
    from autoglm_core.tasks.text_classification.kfold import variant_estimate

    ctx = _context(["a", "b"])
    ctx.scratch[("cv", "m")] = {"metrics": {"val_accuracy": 0.74, "val_macro_f1": 0.70, "cv_accuracy_mean": 0.74,
                                            "cv_accuracy_std": 0.05, "cv_folds": 3.0}}
    out = variant_estimate(ctx, "m", {"accuracy": 0.80, "macro_f1": 0.78}, {"accuracy": 0.75, "macro_f1": 0.70})
    assert out == pytest.approx({"val_accuracy": 0.69, "val_macro_f1": 0.62, "cv_accuracy_mean": 0.69,
                                 "cv_accuracy_std": 0.05, "cv_folds": 3.0})
    assert variant_estimate(ctx, "other", {"accuracy": 0.8}, {"accuracy": 0.7}) == {}


def test_cheap_candidates_use_the_fine_tuned_folds_when_those_run(monkeypatch):
    from types import SimpleNamespace

    from autoglm_core.tasks.text_classification.kfold import cheap_folds
    from autoglm_core.types.errors import ConfigError

    monkeypatch.delenv("AUTOGLM_FINE_TUNED_FOLDS", raising=False)
    assert cheap_folds(SimpleNamespace(fine_tuned_folds=None)) == 3  # the runs' default: the same 3 folds
    assert cheap_folds(SimpleNamespace(fine_tuned_folds=0)) == 5
    monkeypatch.setenv("AUTOGLM_FINE_TUNED_FOLDS", "0")
    assert cheap_folds(SimpleNamespace(fine_tuned_folds=None)) == 5
    monkeypatch.setenv("AUTOGLM_FINE_TUNED_FOLDS", "three")
    with pytest.raises(ConfigError, match="AUTOGLM_FINE_TUNED_FOLDS"):
        cheap_folds(SimpleNamespace(fine_tuned_folds=None))

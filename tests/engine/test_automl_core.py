"""The AutoML pieces of the core: ensemble selection and its model, the time budget and the
fine-tuning probe, label-name-independent splits, stratified row sampling."""

from __future__ import annotations

import numpy as np

from autoglm_core import load_model
from autoglm_core.data.load import load_splits, stratified_sample
from autoglm_core.data.split_record import split_rows
from autoglm_core.engine.budget import TimeBudget, order_cheap_first
from autoglm_core.engine.ensemble import EnsembleModel, caruana_weights
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, trained_tiny_classifier, write_csv
from autoglm_core.types.schemas import CandidateSpec, SplitConfig, TaskSpec


def test_caruana_combines_complementary_members_and_drops_useless_ones():
    y = np.array([0, 0, 1, 1, 0, 1])
    # a is right on the first four rows, b on the last four; c is always wrong
    a = np.array([[.9, .1], [.9, .1], [.1, .9], [.1, .9], [.4, .6], [.6, .4]])
    b = np.array([[.45, .55], [.45, .55], [.1, .9], [.1, .9], [.95, .05], [.05, .95]])
    c = 1 - np.eye(2)[y] * 0.9 - 0.05
    weights, acc = caruana_weights({"a": a, "b": b, "c": c}, y)
    assert "c" not in weights and set(weights) == {"a", "b"}
    assert abs(sum(weights.values()) - 1) < 1e-9
    single = max((m.argmax(1) == y).mean() for m in (a, b, c))
    assert acc == 1.0 > single


def test_ensemble_model_saves_and_reloads_as_one_model(tmp_path):
    m1, m2 = trained_tiny_classifier(seed=0, steps=10), trained_tiny_classifier(seed=1, steps=10)
    ens = EnsembleModel(model=[(0.75, m1), (0.25, m2)], tokenizer=None, labels=list(m1.labels),
                        task_type="text_classification", candidate=CandidateSpec(name="ensemble", backbone="a+b"),
                        variant="ensemble", format="ensemble")
    texts = [ex.text for ex in sample_examples(6)]
    want = 0.75 * m1.predict_proba(texts) + 0.25 * m2.predict_proba(texts)
    np.testing.assert_allclose(ens.predict_proba(texts), want, rtol=1e-5)
    ens.save(tmp_path / "ens")
    again = load_model(tmp_path / "ens")
    assert isinstance(again, EnsembleModel) and [w for w, _ in again.model] == [0.75, 0.25]
    np.testing.assert_allclose(again.predict_proba(texts), want, rtol=1e-4, atol=1e-6)


def test_split_does_not_depend_on_label_names(tmp_path):
    rows = sample_examples(60)
    path = write_csv(tmp_path / "d.csv", rows)
    data = {"path": str(path)}
    one = {"positive": "a", "negative": "b", "neutral": "c"}
    two = {"positive": "zz", "negative": "aa", "neutral": "mm"}  # a different name order
    splits = []
    for label_map in (one, two):
        spec = TaskSpec(task_type="text_classification", data={**data, "label_map": label_map})
        splits.append(split_rows(load_splits(spec, SplitConfig(), 0, get_manager())))
    assert splits[0] == splits[1]
    assert sum(len(v) for f in splits[0]["test"].values() for v in [f]) == 6


def test_stratified_sample_keeps_label_proportions():
    rows = sample_examples(90)
    rows += [type(rows[0])(text=f"extra {i}", label="positive", file="<x>", line=100 + i) for i in range(30)]
    sample = stratified_sample(rows, 40, seed=0)
    assert len(sample) == 40
    counts = {lab: sum(ex.label == lab for ex in sample) for lab in ("positive", "negative", "neutral")}
    assert counts["positive"] == 20 and counts["negative"] == 10 and counts["neutral"] == 10


def test_time_budget_runs_cheap_first_and_shares_what_is_left():
    cheap = CandidateSpec(name="t", backbone="t", options={"cheap": True})
    big1, big2 = CandidateSpec(name="b1", backbone="b1"), CandidateSpec(name="b2", backbone="b2")
    assert [c.name for c in order_cheap_first([big1, cheap, big2])] == ["t", "b1", "b2"]
    budget = TimeBudget(100.0)
    two, one = budget.train_share([big1, big2]), budget.train_share([big2])
    assert one > two > 0 and one <= 100
    spent = TimeBudget(1.0, started=budget.started - 5)
    assert spent.expired() and spent.may_start(0) and not spent.may_start(1)


def test_fine_tuning_probe_cuts_the_step_plan_to_the_budget():
    from autoglm_core.testing import tiny_text_classifier
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.schemas import TrainConfig

    built = tiny_text_classifier()
    data = sample_examples(64)
    # 12,000 planned steps cannot fit in 3 seconds on any CPU: the probe must cut the plan
    cfg = TrainConfig(epochs=2000, batch_size=8, max_length=32, time_budget_s=3.0, learning_rate=1e-3,
                      patience=100)  # early stopping must not end the run before the budget does
    result = fine_tune(built.model, built.tokenizer, data[:48], data[48:], built.labels, cfg, progress=False,
                       device="cpu")
    assert result.probe is not None and result.probe["planned_steps"] == 2000 * 6
    assert result.probe["fitted_steps"] < 2000 * 6 and result.steps < 2000 * 6
    assert result.stop_reason == "time_budget" and "time budget" in result.stop_detail


def test_headerless_csv_is_detected_and_read_by_column_index(tmp_path):
    import pytest

    from autoglm_core.types.errors import DataError

    path = tmp_path / "nohead.csv"
    path.write_text("Profit rose sharply in the third quarter,positive\nSales fell and shares dropped,negative\n"
                    "Costs were flat this year,neutral\n", encoding="utf-8")
    spec = TaskSpec(task_type="text_classification", data={"path": str(path)})
    with pytest.raises(DataError, match="no header row.*--no-header"):
        load_splits(spec, SplitConfig(), 0, get_manager())
    from autoglm_core.data.load import load_file
    from autoglm_core.types.schemas import DataRef

    loaded = load_file(path, DataRef(path=str(path), no_header=True), get_manager())
    assert [(ex.line, ex.label) for ex in loaded.examples] == [(1, "positive"), (2, "negative"), (3, "neutral")]
    swapped = load_file(path, DataRef(path=str(path), no_header=True, text_column="1", label_column="0"), get_manager())
    assert swapped.examples[0].text == "positive"


def test_numeric_labels_with_named_labels_print_the_exact_label_map():
    from autoglm_core.data.load import reconcile_labels
    from autoglm_core.types.data import Example
    from autoglm_core.types.schemas import Evidence

    spec = TaskSpec(task_type="text_classification", labels=["negative", "positive"],
                    evidence={"labels": Evidence(value=["negative", "positive"], evidence="x", confidence=0.8)})
    labels, warnings = reconcile_labels(spec, [Example("a", "1"), Example("b", "0")])
    assert labels == ["0", "1"]
    assert "--label-map 0=negative,1=positive" in warnings[0]


def test_an_ensemble_that_only_ties_its_best_member_is_reported_but_not_selected():
    from types import SimpleNamespace

    from autoglm_core.engine.closing_stages import _offer_only_if_better
    from autoglm_core.engine.selection import select_best
    from autoglm_core.tasks.text_classification.plugin import TextClassification
    from autoglm_core.types.schemas import Objectives, VariantResult

    def variant(cand, name, val):
        return VariantResult(candidate=cand, backbone=cand, variant=name, metrics={"accuracy": 0.5, "val_accuracy": val},
                             model_dir=f"candidates/{cand}/model")

    member, weak = variant("me5-small", "fine-tuned", 0.83), variant("tfidf", "fine-tuned", 0.50)
    state = SimpleNamespace(ctx=SimpleNamespace(spec=TaskSpec(task_type="text_classification", labels=["a", "b"])),
                            trained=[(None, member), (None, weak)], task_type=TextClassification())
    tie = variant("ensemble", "ensemble", 0.83)
    _offer_only_if_better(state, tie)
    assert any(n.startswith("not offered for selection") for n in tie.notes)
    best, _ = select_best([member, weak, tie], Objectives())
    assert best is member
    wins = variant("ensemble", "ensemble", 0.90)
    _offer_only_if_better(state, wins)
    assert not wins.notes and select_best([member, weak, wins], Objectives())[0] is wins

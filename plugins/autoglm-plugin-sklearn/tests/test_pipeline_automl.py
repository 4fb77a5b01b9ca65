"""A whole run with the cheap families: k-fold on small data, the ensemble, the leaderboard, the
recorded split, a crashing candidate and a time limit below what the candidates need."""

from __future__ import annotations

import json

import pytest

from autoglm_core import AutoTask, get_manager, hookimpl
from autoglm_core.engine.predictor import Predictor
from autoglm_core.models.candidates import minilm_available
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.schemas import CandidateSpec


def _task(tmp_path, **config):
    path = write_csv(tmp_path / "d.csv", sample_examples(90))
    return AutoTask.create(task_type="text_classification", dataset=str(path), description="classify sentiment",
                           out=tmp_path / "run", max_candidates=2, config={"compress": [], **config})


def test_run_with_cheap_families_reports_kfold_ensemble_and_split(tmp_path):
    report = _task(tmp_path).auto_build().launch(progress=False)
    names = [c.name for c in report.candidates]
    assert names == ["tfidf-word-lr", "tfidf-char-lr"]  # cheap families come first
    tuned = [v for v in report.variants if v.variant == "fine-tuned"]
    assert all("cv_accuracy_mean" in v.metrics and "val_accuracy" in v.metrics for v in tuned)
    assert "5-fold" in report.protocol
    variants = {(v.candidate, v.variant) for v in report.variants}
    assert ("ensemble", "ensemble") in variants and ("baseline", "majority") in variants
    rows = {r["candidate"]: r for r in report.leaderboard}
    assert rows["tfidf-word-lr"]["protocol"] == "5-fold" and rows["tfidf-word-lr"]["fit_s"] is not None
    assert (tmp_path / "run" / "leaderboard.png").exists()
    effective = json.loads((tmp_path / "run" / "effective_config.json").read_text(encoding="utf-8"))
    assert effective["candidates"]["tfidf-word-lr"]["protocol"] == "5-fold"
    assert "## Leaderboard" in (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    split = json.loads((tmp_path / "run" / "split.json").read_text(encoding="utf-8"))
    assert sum(len(v) for v in split["rows"]["test"].values()) == report.data.split_sizes["test"]
    pred = Predictor.load(tmp_path / "run" / "model").predict(["Nokia profit rose sharply in quarter 2"])
    assert pred[0]["label"] in ("positive", "negative", "neutral")


class Boom:
    """A plugin whose candidate crashes in training."""

    @hookimpl
    def autoglm_generate_candidates(self, spec):
        # cheap, so that max_candidates keeps it next to the TF-IDF families (cheapest first)
        return [CandidateSpec(name="boom", backbone="boom", builder="boom", options={"cheap": True})]

    @hookimpl
    def autoglm_build_model(self, candidate, spec, context):
        if candidate.builder == "boom":
            raise RuntimeError("out of memory (simulated)")
        return None


def test_a_crashing_candidate_is_recorded_and_the_run_goes_on(tmp_path):
    get_manager().register(Boom(), name="boom")
    task = _task(tmp_path)
    task.spec.budget.max_candidates = 3
    report = task.auto_build().launch(progress=False)
    train = next(s for s in report.stages if s.key == "boom/train")
    assert train.status == "failed" and "out of memory" in train.notes[0]
    assert any("boom failed" in w for w in report.warnings)
    assert report.best is not None and report.best.candidate != "boom"
    assert any(r["variant"] == "failed" for r in report.leaderboard)


def test_a_time_limit_below_any_candidate_still_returns_the_first(tmp_path):
    report = _task(tmp_path, time_limit=0.001).auto_build().launch(progress=False)
    trained = [s.candidate for s in report.stages if s.stage == "train"]
    assert trained == ["tfidf-word-lr"]
    assert report.best is not None and report.best.candidate == "tfidf-word-lr"
    assert any("time limit" in w and "tfidf-char-lr" in w for w in report.warnings)


def test_under_a_time_limit_a_fine_tuned_candidate_skips_its_zero_shot_baseline(tmp_path):
    path = write_csv(tmp_path / "d.csv", sample_examples(60))
    report = AutoTask.create(task_type="text_classification", dataset=str(path), description="classify sentiment",
                             out=tmp_path / "run", backbones=["tiny-bert"],
                             config={"compress": [], "time_limit": 0.001, "train": {"epochs": 1}}).auto_build() \
        .launch(progress=False)
    zero = next(s for s in report.stages if s.stage == "zero_shot")
    assert zero.status == "skipped" and any("time limit" in n for n in zero.notes)
    # the first candidate is still trained and evaluated: a run always returns a model
    assert report.best is not None and report.best.candidate.endswith("tiny-bert")


def test_the_plan_probes_count_against_the_time_limit(tmp_path):
    path = write_csv(tmp_path / "d.csv", sample_examples(40))
    tuned = AutoTask.create(task_type="text_classification", dataset=str(path), description="classify sentiment",
                            out=tmp_path / "tuned", backbones=["tiny-bert"],
                            config={"compress": [], "time_limit": 300, "train": {"epochs": 1}}).auto_build()
    assert tuned.probe_seconds == 0.0
    assert "probe:" in tuned.plan()  # the printed plan builds the model and times a few optimizer steps
    assert tuned.probe_seconds > 0
    spent = tuned.probe_seconds
    tuned.plan()  # a probe runs once per candidate and setting
    assert tuned.probe_seconds == spent
    pipeline = _task(tmp_path, time_limit=60).auto_build()
    pipeline.probe_seconds = 90.0  # probes that took longer than the whole limit: nothing is left for the run
    report = pipeline.launch(progress=False)
    assert [s.candidate for s in report.stages if s.stage == "train"] == ["tfidf-word-lr"]
    assert any("reached after" in w and "the plan's probes included: 90s" in w for w in report.warnings)


def test_once_the_limit_is_spent_a_later_candidate_is_not_evaluated():
    from types import SimpleNamespace

    from autoglm_core.engine.budget import TimeBudget
    from autoglm_core.engine.candidate_stages import _evaluation_fits

    cand = CandidateSpec(name="big", backbone="tiny-bert", builder="tiny-bert")
    spent = TimeBudget(1.0)
    spent.started -= 5
    assert _evaluation_fits(SimpleNamespace(budget=spent, trained=[]), cand)  # nothing evaluated yet: it runs
    assert not _evaluation_fits(SimpleNamespace(budget=spent, trained=["first"]), cand)
    assert spent.skipped == ["big/evaluate"]
    assert _evaluation_fits(SimpleNamespace(budget=TimeBudget(100.0), trained=["first"]), cand)
    assert _evaluation_fits(SimpleNamespace(budget=None, trained=["first"]), cand)


def test_a_candidate_whose_evaluation_cannot_fit_is_not_started():
    from types import SimpleNamespace

    from autoglm_core.engine.budget import TimeBudget
    from autoglm_core.engine.candidate_stages import _evaluation_can_follow
    from autoglm_core.engine.plan_estimate import evaluation_seconds
    from autoglm_core.types.schemas import PipelineConfig, TrainConfig

    cand = CandidateSpec(name="big", backbone="tiny-bert", builder="tiny-bert")
    config = PipelineConfig(evaluate={"latency_batch_sizes": [1], "latency_repeats": 1, "latency_examples": 8})
    ctx = SimpleNamespace(train_config=lambda c: TrainConfig(batch_size=16, max_length=64),
                          splits=SimpleNamespace(validation=[0] * 160, test=[0] * 160))
    slow = SimpleNamespace(probe_cache={("big", 16, 64): (0.1, "")}, config=config)  # 10 s per training step
    # 20 batches of validation+test and 8 timed single examples, a third of a step each
    assert abs(evaluation_seconds(slow, cand, ctx) - (20 + 8) / 3 / 0.1) < 1e-6
    assert evaluation_seconds(SimpleNamespace(probe_cache={}, config=config), cand, ctx) is None

    state = SimpleNamespace(budget=TimeBudget(120.0), trained=["tfidf"], warnings=[], ctx=ctx)
    assert not _evaluation_can_follow(slow, state, cand, share=40.0)  # ~93 s of evaluation after 40 s of training
    assert state.budget.skipped == ["big"] and "evaluation alone needs about 93 s" in state.warnings[0]
    fast = SimpleNamespace(probe_cache={("big", 16, 64): (10.0, "")}, config=config)
    assert _evaluation_can_follow(fast, SimpleNamespace(budget=TimeBudget(120.0), trained=["tfidf"], warnings=[],
                                                        ctx=ctx), cand, share=40.0)
    # no model yet: the first candidate always runs, so a run returns a model
    assert _evaluation_can_follow(slow, SimpleNamespace(budget=TimeBudget(120.0), trained=[], warnings=[], ctx=ctx),
                                  cand, share=40.0)


@pytest.mark.skipif(not minilm_available(), reason="the embedded MiniLM package is not installed")
def test_a_frozen_encoder_that_would_not_fit_its_share_is_skipped_and_the_run_goes_on(tmp_path, monkeypatch):
    from autoglm_core.engine.budget import TimeBudget

    shares = []

    def tiny_share(self):
        shares.append(self.left())
        return 0.001  # far less than embedding 90 rows takes, on any machine

    monkeypatch.setattr(TimeBudget, "cheap_share", tiny_share)
    task = _task(tmp_path, time_limit=600)
    task.spec.budget.max_candidates = 4
    report = task.auto_build().launch(progress=False)
    assert [c.name for c in report.candidates][-1] == "minilm-frozen-lr"
    stage = next(s for s in report.stages if s.key == "minilm-frozen-lr/train")
    assert stage.status == "skipped" and "would take about" in stage.notes[0]
    assert len(shares) == 1  # only the budgeted candidate asks for a share; the TF-IDF ones do not
    assert any("minilm-frozen-lr skipped: time limit: embedding" in w for w in report.warnings)
    assert not any(s.key == "minilm-frozen-lr/evaluate" and s.status == "ok" for s in report.stages)
    assert report.best is not None and report.best.candidate != "minilm-frozen-lr"


def test_cheap_families_are_bagged_above_the_small_data_threshold_and_weighted_out_of_fold(tmp_path, monkeypatch):
    from autoglm_core.tasks.text_classification import kfold
    from autoglm_core.training import loop

    monkeypatch.setattr(kfold, "KFOLD_THRESHOLD", 50)  # the 90 rows are not small data here
    monkeypatch.setattr(loop, "SMALL_DATA_ROWS", 50)
    report = _task(tmp_path, time_limit=600).auto_build().launch(progress=False)
    rows = {r["candidate"]: r for r in report.leaderboard}
    assert rows["tfidf-word-lr"]["protocol"] == rows["tfidf-char-lr"]["protocol"] == "5-fold"
    notes = next(v for v in report.variants if v.candidate == "ensemble").notes
    assert "out-of-fold probabilities of all 81 train+validation rows" in notes[0]
    assert "small data" not in report.protocol and "5-fold cross-validation" in report.protocol


def test_above_bag_max_rows_the_cheap_families_keep_the_holdout_protocol(tmp_path, monkeypatch):
    from autoglm_core.tasks.text_classification import kfold

    monkeypatch.setattr(kfold, "KFOLD_THRESHOLD", 50)
    monkeypatch.setattr(kfold, "BAG_MAX_ROWS", 60)
    report = _task(tmp_path).auto_build().launch(progress=False)
    rows = {r["candidate"]: r for r in report.leaderboard}
    assert rows["tfidf-word-lr"]["protocol"] == rows["tfidf-char-lr"]["protocol"] == "holdout"

"""Budgeted Optuna search in the pipeline: trials, pruning, storage, resume, report, bad input."""

from __future__ import annotations

import json

import pytest

from autoglm_core import AutoTask
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import ConfigError

BASE = {"train": {"batch_size": 8, "patience": 10}, "compress": [], "zero_shot": {"enabled": False},
        "evaluate": {"latency_repeats": 1, "latency_examples": 4}}


@pytest.fixture()
def search_csv(tmp_path):
    return write_csv(tmp_path / "news.csv", sample_examples(120))


def make_task(csv, out, search, train=None):
    config = json.loads(json.dumps(BASE)) | {"search": search}
    config["train"] |= train or {}
    return AutoTask.create(task_type="text_classification", dataset=csv, out=out, config=config,
                           description="Classify news sentiment", backbones=["tiny-bert"])


@pytest.mark.slow
def test_search_prunes_a_bad_trial_reports_all_trials_and_trains_the_best(search_csv, tmp_path):
    import optuna

    run = tmp_path / "run"
    search = {"trials": 4, "space": {"learning_rate": [1e-7, 1e-2, "log"]}, "pruner": "median"}
    task = make_task(search_csv, run, search, {"epochs": 3})
    # queue known trials in the study the run will open (same storage and name): two good learning
    # rates start the median, then a learning rate too small to learn anything must be pruned
    run.mkdir()
    study = optuna.create_study(study_name=f"autoglm-{task.spec.spec_hash()}", storage=f"sqlite:///{run / 'search.db'}",
                                direction="maximize")
    for lr in (5e-3, 4e-3, 1e-7):
        study.enqueue_trial({"learning_rate": lr})
    pipeline = task.auto_build()
    assert pipeline.stages()[:2] == ["data", "search"]
    report = pipeline.launch(overwrite=False, resume=True, progress=False)

    stage = next(s for s in report.stages if s.stage == "search")
    m = stage.metrics
    assert m["n_trials"] == 4 and m["metric"] == "val_macro_f1" and m["storage"].startswith("sqlite:///")
    states = {t["params"]["learning_rate"]: t["state"] for t in m["trials"]}
    assert states[1e-7] == "pruned", states
    assert m["n_pruned"] >= 1 and m["n_complete"] >= 2
    assert all(t["intermediate"] for t in m["trials"])  # per-epoch values were reported
    best = max((t for t in m["trials"] if t["state"] == "complete"), key=lambda t: t["value"])
    assert m["best_trial"] == best["number"] and best["params"]["learning_rate"] >= 1e-4
    assert stage.artifacts == {"plot": "search.png"} and (run / "search.png").stat().st_size > 5000
    # the best trial replaced the candidate list, and the train stage used its parameters
    assert [c.name for c in report.candidates] == [f"s{best['number']}-c0-tiny-bert"]
    train = next(s for s in report.stages if s.stage == "train")
    assert train.metrics["train_config"]["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
    assert report.best is not None and report.best.candidate == report.candidates[0].name
    on_disk = json.loads((run / "report.json").read_text())
    assert any(s["stage"] == "search" and s["metrics"]["trials"] for s in on_disk["stages"])

    # the study lives in the storage: a search stage lost after a crash resumes with its finished
    # trials instead of starting over (no new trial is run, the same best comes out)
    (run / "stages" / "search.json").unlink()
    again = make_task(search_csv, run, search, {"epochs": 3}).auto_build().launch(resume=True, progress=False)
    m2 = next(s for s in again.stages if s.stage == "search").metrics
    assert m2["n_trials"] == 4 and m2["best_trial"] == m["best_trial"]


@pytest.mark.parametrize(("search", "train", "pattern"), [
    ({"space": {"learnin_rate": [1e-5, 1e-3]}}, None, r"search.space.learnin_rate: not a TrainConfig field.*'learning_rate'"),
    ({"space": {"learning_rate": [1e-3, 1e-5]}}, None, r"search.space.learning_rate: the range needs numbers with low < high"),
    ({"space": {"learning_rate": [0, 1e-3, "log"]}}, None, r"search.space.learning_rate: a log range needs low > 0"),
    ({"space": {"epochs": [2, 4]}}, {"epochs": 3}, r"search.space.epochs is searched but train.epochs is also set"),
    ({"space": {}}, None, r"search.space is empty"),
])
def test_a_bad_search_space_fails_at_plan_time_naming_the_field(search_csv, tmp_path, search, train, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_task(search_csv, tmp_path / "run", search, train).auto_build()
    assert not (tmp_path / "run").exists()


def test_an_unusable_storage_url_is_a_clear_error_without_the_password(search_csv, tmp_path):
    search = {"trials": 1, "storage": "nosuchdb://user:secret@host/db", "space": {"epochs": [1, 2]}}
    with pytest.raises(ConfigError, match=r"search.storage 'nosuchdb://user:\*\*\*@host/db': cannot open") as err:
        make_task(search_csv, tmp_path / "run", search).auto_build().launch(progress=False)
    assert "secret" not in str(err.value)

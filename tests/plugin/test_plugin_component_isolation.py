"""The task-type contract as a third-party plugin meets it: the core times ``built.predict`` (the
documented latency contract, so a non-torch model is timed too); a plugin model whose prediction
raises while it is timed costs the latency numbers only, with the plugin named; a plugin evaluator's
numbers show in report.md and report.html of a classification run; ``autoglm predict`` serves a
saved model that is no classifier. Tiny fixtures: each test takes seconds."""

import csv
import json
import random
import sys
from pathlib import Path

import pytest

from autoglm_core import AutoTask, Evaluator, get_manager, hookimpl

PACKAGE = Path(__file__).parent / "packages" / "autoglm_text_regression"
PLUGIN = "latency-contract-plugin"


@pytest.fixture
def regression(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGE.parent))
    sys.modules.pop("autoglm_text_regression", None)
    import autoglm_text_regression

    return autoglm_text_regression


def write_scores(path: Path, rows: int = 60) -> Path:
    rng = random.Random(1)
    words = {"great": 2.0, "good": 1.0, "bad": -1.0, "awful": -2.0}
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for _ in range(rows):
            picked = rng.sample(list(words), 2)
            out.writerow([" ".join(["the", "room", *picked]), f"{sum(words[w] for w in picked) + rng.random():.3f}"])
    return path


def register_variant(regression, name, model_class):
    """A task type of a third-party plugin (``PLUGIN``) whose models are ``model_class``."""

    class Variant(regression.TextRegression):
        def candidates(self, spec):
            return regression.autoglm_generate_candidates(spec.model_copy(update={"task_type": regression.TASK}))[:1]

        def train(self, context, candidate):
            built = super().train(context, candidate)
            return model_class(model=built.model, tokenizer=None, labels=[], task_type=name, candidate=candidate)

    Variant.name = name
    get_manager().registry("task type").register(Variant, plugin=PLUGIN)
    return Variant


def run(tmp_path, task_type, **config):
    config = {"evaluate": {"latency_repeats": 1, "latency_batch_sizes": [1, 4]}, **config}
    task = AutoTask.create(task_type=task_type, dataset=write_scores(tmp_path / "scores.csv"), out=tmp_path / "run",
                           config=config)
    return task.auto_build().launch(progress=False)


def test_the_core_times_built_predict_of_a_model_that_is_not_torch(regression, tmp_path):
    calls: list[int] = []

    class Counted(regression.BuiltModel):  # predicts values; no predict_proba of its own, no torch module
        def predict(self, texts, batch_size=32, max_length=128):
            calls.append(len(texts))
            return self.model.predict(list(texts))

    register_variant(regression, "scores_counted", Counted)
    report = run(tmp_path, "scores_counted")
    assert report.best is not None
    assert set(report.best.latency_ms) == {"1", "4"} and all(ms > 0 for ms in report.best.latency_ms.values())
    assert calls and 1 in calls and 4 in calls  # the timed calls went through built.predict
    assert not any("latency" in note for note in report.best.notes)


def test_a_plugin_model_that_fails_when_timed_loses_its_latency_only_and_the_plugin_is_named(regression, tmp_path):
    class NoTiming(regression.BuiltModel):
        def predict(self, texts, batch_size=32, max_length=128):
            raise RuntimeError("this model only runs on the vendor's accelerator")

    register_variant(regression, "scores_untimed", NoTiming)
    report = run(tmp_path, "scores_untimed")
    best = report.best
    assert best is not None and "rmse" in best.metrics and best.latency_ms == {}
    note = next(n for n in best.notes if n.startswith("latency not measured"))
    assert PLUGIN in note and "scores_untimed" in note and "vendor's accelerator" in note
    assert "RuntimeError" in note and "internal error" not in note
    assert (tmp_path / "run" / "report.md").exists()  # the run went on to its report


class CharsEvaluator(Evaluator):
    name = "mean-test-chars"
    description = "mean characters per test text"

    def evaluate(self, built, context):
        test = context.splits.test
        return {"mean_test_chars": round(sum(len(e.text) for e in test) / len(test), 2)}


class EvaluatorPlugin:
    @hookimpl
    def autoglm_register_evaluators(self, register):
        register(CharsEvaluator)


def test_plugin_evaluator_metrics_show_in_report_md_and_html_of_a_classification_run(tmp_path):
    from autoglm_core.testing import sample_examples, write_csv

    get_manager().register(EvaluatorPlugin(), name="chars-evaluator")
    data = write_csv(tmp_path / "news.csv", sample_examples(48))
    config = {"train": {"epochs": 1, "batch_size": 16}, "zero_shot": {"enabled": False}, "compress": [],
              "evaluate": {"evaluators": ["mean-test-chars"], "latency_repeats": 1, "latency_batch_sizes": [1],
                           "latency_examples": 4}}
    report = AutoTask.create(task_type="text_classification", dataset=data, out=tmp_path / "run", config=config,
                             description="Classify financial news sentiment", backbones=["tiny-bert"]
                             ).auto_build().launch(progress=False)
    value = report.best.metrics["mean_test_chars"]
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    section = md.split("## Evaluator metrics")[1].split("\n## ")[0]
    assert "mean_test_chars" in section and f"{value:.3f}"[:4] in section
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert ">mean_test_chars<" in html and "macro" in md  # the classification columns stay


def test_autoglm_predict_serves_a_saved_model_that_is_no_classifier(regression, tmp_path, capsys):
    from autoglm_core.cli.main import main

    get_manager().register(regression, name="text-regression")
    ridge = regression.RidgeText.fit(["great stay", "good room", "bad food", "awful staff"], [2.0, 1.0, -1.0, -2.0],
                                     alpha=0.1)
    regression.RegressionModel(model=ridge, tokenizer=None, labels=[], task_type=regression.TASK).save(tmp_path / "m")
    assert main(["predict", str(tmp_path / "m"), "great room", "awful food"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [sorted(r) for r in out] == [["text", "value"]] * 2
    assert out[0]["text"] == "great room" and out[0]["value"] > out[1]["value"]
    # a file of texts too: one record per row, the row's id kept
    (tmp_path / "in.jsonl").write_text('{"id": 7, "text": "great room"}\n"awful food"\n', encoding="utf-8")
    assert main(["predict", str(tmp_path / "m"), "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "out.jsonl"), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r.get("id"), r["text"]) for r in rows] == [(7, "great room"), (None, "awful food")]
    assert [r["value"] for r in rows] == [o["value"] for o in out]

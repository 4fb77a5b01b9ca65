"""End to end on a tiny model: AutoTask.create -> auto_build -> launch, export, reload, resume."""

from __future__ import annotations

import json

import pytest

from autoglm_core import AutoTask, Compressor, hookimpl, load_model
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import ConfigError, UnknownNameError

FAST = {"train": {"epochs": 12, "learning_rate": 3e-3, "batch_size": 16}, "compress": [],
        "evaluate": {"latency_repeats": 1, "latency_examples": 8}}


@pytest.fixture()
def news_csv(tmp_path):
    return write_csv(tmp_path / "news.csv", sample_examples(120))


def make_task(news_csv, out, **kw):
    config = kw.pop("config", FAST)
    return AutoTask.create(task_type="text_classification", dataset=news_csv, out=out, config=config,
                           description="Classify financial news sentiment as positive, negative or neutral",
                           backbones=["tiny-bert"], **kw)


class Events:
    def __init__(self):
        self.started, self.finished = [], []

    @hookimpl
    def autoglm_stage_started(self, run_dir, stage, candidate):
        self.started.append(stage)

    @hookimpl
    def autoglm_stage_finished(self, run_dir, stage, result):
        self.finished.append(result.key)


@pytest.mark.slow
@pytest.mark.hook("autoglm_stage_started", "autoglm_stage_finished")
def test_end_to_end_tiny_run_exports_a_reloadable_model(news_csv, tmp_path):
    events = Events()
    get_manager().register(events, name="events")
    pipeline = make_task(news_csv, tmp_path / "run").auto_build()
    assert "c0-tiny-bert/train" in pipeline.stages() and "Candidates:" in str(pipeline)
    report = pipeline.launch(progress=False)
    run = tmp_path / "run"
    best = report.best
    assert best.variant == "fine-tuned" and best.metrics["accuracy"] >= 0.75
    zero = next(v for v in report.variants if v.variant == "zero-shot")
    assert best.metrics["accuracy"] > zero.metrics["accuracy"] - 1e-9
    assert set(best.latency_ms) == {"1", "32"} and best.size_mb > 0 and best.params > 0
    assert len(best.confusion_matrix) == 3 and set(best.per_class) == {"negative", "neutral", "positive"}
    for name in ("report.json", "report.md", "manifest.json", "confusion_matrix.png", "tradeoff.png",
                 "model/model.safetensors", "model/README.md", "model/autoglm_model.json"):
        assert (run / name).exists(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["seed"] == 0 and "torch" in manifest["versions"] and manifest["spec_hash"]
    on_disk = json.loads((run / "report.json").read_text())
    assert on_disk["best"]["metrics"] == best.metrics
    assert events.started[0] == "data" and events.finished[-1] == "export"
    # the exported model reloads (safetensors) and predicts the same as in the run
    texts = [ex.text for ex in sample_examples(12, seed=5)]
    reloaded = load_model(run / "model")
    assert reloaded.labels == ["positive", "negative", "neutral"]  # the spec's order
    m = reloaded.predict(texts)
    assert m == load_model(run / "candidates" / "c0-tiny-bert" / "model").predict(texts)


@pytest.mark.slow
def test_resume_skips_finished_stages_and_a_crash_loses_only_the_stage_in_flight(news_csv, tmp_path, monkeypatch):
    class Crash(Compressor):
        name = "crash"

        def compress(self, built, context):
            raise KeyboardInterrupt  # like a kill during the compress stage

    class Plugin:
        @hookimpl
        def autoglm_register_compressors(self, register):
            register(Crash)

    get_manager().register(Plugin(), name="crashy")
    config = {**FAST, "compress": ["crash"]}
    with pytest.raises(KeyboardInterrupt):
        make_task(news_csv, tmp_path / "run", config=config).auto_build().launch(progress=False)
    stages = sorted(p.name for p in (tmp_path / "run" / "stages").iterdir())
    assert stages == ["baselines.json", "c0-tiny-bert__evaluate.json", "c0-tiny-bert__train.json",
                      "c0-tiny-bert__zero_shot.json", "data.json"]
    # without --resume the earlier run is protected
    with pytest.raises(ConfigError, match="already holds a run"):
        make_task(news_csv, tmp_path / "run", config=config).auto_build().launch(progress=False)
    # resume: training is not repeated; the crashing stage now "works"
    from autoglm_core.tasks.text_classification import plugin as text_classification

    def no_training(*a, **k):
        raise AssertionError("train ran again")

    monkeypatch.setattr(text_classification.TextClassification, "train", no_training)
    monkeypatch.setattr(Crash, "compress", lambda self, built, context: built)
    report = make_task(news_csv, tmp_path / "run", config=config).auto_build().launch(resume=True, progress=False)
    assert any(v.variant == "crash" for v in report.variants)
    assert report.best is not None


@pytest.mark.slow
def test_resume_refuses_a_different_task(news_csv, tmp_path):
    make_task(news_csv, tmp_path / "run", config={**FAST, "train": {"epochs": 1}}).auto_build().launch(progress=False)
    with pytest.raises(ConfigError, match="different task or configuration"):
        make_task(news_csv, tmp_path / "run", config={**FAST, "train": {"epochs": 2}}).auto_build().launch(resume=True)


@pytest.mark.hook("autoglm_register_compressors")
def test_failing_optional_stage_is_recorded_and_the_run_goes_on(news_csv, tmp_path):
    class Broken(Compressor):
        name = "broken"

        def compress(self, built, context):
            raise RuntimeError("quantization backend missing")

    class Plugin:
        @hookimpl
        def autoglm_register_compressors(self, register):
            register(Broken)

    get_manager().register(Plugin(), name="broken-plugin")
    report = make_task(news_csv, tmp_path / "run", config={**FAST, "train": {"epochs": 2}, "compress": ["broken"]}
                       ).auto_build().launch(progress=False)
    failed = [s for s in report.stages if s.status == "failed"]
    assert [s.key for s in failed] == ["c0-tiny-bert/compress/broken"]
    assert "quantization backend missing" in failed[0].notes[0]
    assert any("broken" in w for w in report.warnings) and report.best.variant == "fine-tuned"


@pytest.mark.slow
def test_objectives_drive_selection(news_csv, tmp_path):
    report = make_task(news_csv, tmp_path / "run", max_latency_ms=1e-6).auto_build().launch(progress=False)
    assert not report.best.meets_objectives
    assert "no variant meets every objective" in report.selection_reason


def test_plan_time_errors(news_csv, tmp_path):
    with pytest.raises(UnknownNameError, match="unknown backbone 'minilmm'.*Did you mean 'minilm'"):
        AutoTask.create(dataset=news_csv, description="Classify news", backbones=["minilmm"]).auto_build()
    with pytest.raises(UnknownNameError, match="unknown compressor 'int9'"):
        make_task(news_csv, tmp_path / "r", config={"compress": ["int9"]}).auto_build()
    with pytest.raises(ConfigError, match=r"field 'train.epochs'"):
        make_task(news_csv, tmp_path / "r", config={"train": {"epochs": "many"}})
    with pytest.raises(UnknownNameError, match="unknown task type 'text_clasification'.*Did you mean 'text_classification'"):
        AutoTask.create(task_type="text_clasification", dataset=news_csv, description="x")


def test_from_description_infers_the_task_type(news_csv):
    task = AutoTask.from_description("判断新闻是正面还是负面", dataset=news_csv)
    assert task.spec.task_type == "text_classification" and task.spec.language == "zh"


@pytest.mark.slow
@pytest.mark.hook("autoglm_register_attacks", "autoglm_register_defenses")
def test_attack_and_defense_stages_feed_robustness_and_selection(news_csv, tmp_path):
    import copy

    from autoglm_core import Attack, Defense

    class DropWords(Attack):
        """Keeps only the first word of each text: a crude, deterministic attack."""

        name = "drop-words"

        def attack(self, built, examples, context):
            texts = [e.text.split()[0] for e in examples]
            pred = built.predict(texts)
            acc = sum(p == e.label for p, e in zip(pred, examples, strict=True)) / len(examples)
            return {"accuracy_under_attack": acc, "examples": len(examples)}

    class Copy(Defense):
        name = "copy"

        def defend(self, built, context):
            out = copy.deepcopy(built)
            out.meta = {"note": "identity defense (test)"}
            return out

    class Plugin:
        @hookimpl
        def autoglm_register_attacks(self, register):
            register(DropWords)

        @hookimpl
        def autoglm_register_defenses(self, register):
            register(Copy)

    get_manager().register(Plugin(), name="robustness-test")
    config = {**FAST, "attack": ["drop-words"], "defend": ["copy"]}
    report = make_task(news_csv, tmp_path / "run", config=config, min_robust_accuracy=0.99).auto_build().launch(progress=False)
    tuned = next(v for v in report.variants if v.variant == "fine-tuned")
    defended = next(v for v in report.variants if v.variant == "copy")
    assert 0 <= tuned.robustness["drop-words:accuracy_under_attack"] <= 1
    assert tuned.robustness["robust_accuracy"] == tuned.robustness["drop-words:accuracy_under_attack"]
    assert defended.robustness["robust_accuracy"] == pytest.approx(tuned.robustness["robust_accuracy"])
    assert "note: identity defense (test)" in defended.notes
    assert not report.best.meets_objectives  # nobody keeps 99% accuracy with one word
    assert "robust accuracy" in " ".join(report.best.notes)
    assert "drop-words:accuracy_under_attack" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.slow
def test_default_compression_is_int8_when_installed_and_reported(news_csv, tmp_path):
    if "int8" not in get_manager().registry("compressor"):
        pytest.skip("autoglm-plugin-int8 is not installed")
    config = {k: v for k, v in FAST.items() if k != "compress"}  # compress left unset: the default applies
    pipeline = make_task(news_csv, tmp_path / "run", config=config).auto_build()
    assert [r.name for r in pipeline.compress] == ["int8"]
    report = pipeline.launch(progress=False)
    int8 = next(v for v in report.variants if v.variant == "int8")
    tuned = next(v for v in report.variants if v.variant == "fine-tuned")
    assert int8.size_mb < tuned.size_mb
    assert abs(int8.metrics["accuracy"] - tuned.metrics["accuracy"]) <= 0.2
    md = (tmp_path / "run" / "report.md").read_text()
    assert "## Compression (against the fine-tuned fp32 model)" in md and "| c0-tiny-bert | int8 |" in md
    again = load_model(tmp_path / "run" / "candidates" / "c0-tiny-bert" / "int8")
    assert again.format == "int8"

"""`--track tensorboard`: event files per candidate, read back with TensorBoard's EventAccumulator."""

from __future__ import annotations

import json

import pytest

from autoglm_core.cli.main import main
from autoglm_core.testing import sample_examples, write_csv

pytest.importorskip("tensorboard", reason="the tensorboard tracker needs tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


@pytest.mark.slow
def test_autoglm_run_track_tensorboard_writes_steps_epochs_and_hparams_per_candidate(tmp_path, capsys):
    data = write_csv(tmp_path / "news.csv", sample_examples(60))
    out = tmp_path / "run"
    code = main(["run", "Classify financial news sentiment as positive, negative or neutral", "--data", str(data),
                 "--out", str(out), "--track", "tensorboard", "--backbone", "tiny-bert", "--epochs", "2",
                 "--compress", "", "--no-zero-shot"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "tracker 'tensorboard' failed" not in captured.out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    cand = report["candidates"][0]["name"]
    train = next(s for s in report["stages"] if s["stage"] == "train")

    ea = EventAccumulator(str(out / "tensorboard" / cand), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    scalars = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "val/accuracy", "val/macro_f1", "epoch/train_loss",
            "test/fine-tuned/accuracy"} <= scalars
    steps = [e.step for e in ea.Scalars("train/loss")]
    assert steps == list(range(1, train["metrics"]["steps"] + 1))  # one point per optimizer step
    assert [e.step for e in ea.Scalars("val/accuracy")] == [1, 2]  # one per epoch
    assert [round(e.value, 5) for e in ea.Scalars("val/accuracy")] == [round(h["val_accuracy"], 5)
                                                                       for h in train["metrics"]["history"]]
    assert ea.Scalars("test/fine-tuned/accuracy")[0].value == pytest.approx(report["best"]["metrics"]["accuracy"])
    # hparams: the candidate's training parameters with its fine-tuned test metrics
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = ea.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in content and "_hparams_/session_start_info" in content
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["candidate.backbone"].string_value == "tiny-bert"
    assert start.hparams["train.epochs"].number_value == 2
    assert "hparam/accuracy" in scalars

    run = EventAccumulator(str(out / "tensorboard" / "run"))
    run.Reload()
    assert any(t.startswith("stage_seconds/") for t in run.Tags()["scalars"])

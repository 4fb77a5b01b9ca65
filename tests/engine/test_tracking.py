"""Experiment trackers: the Tracker contract fed by stage hooks and the training loop, failures
that cost the run one warning, plan-time name checks, lazy imports, and line-mode progress."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
import time

import pytest

from autoglm_core import AutoTask, Tracker, hookimpl
from autoglm_core.cli.main import main
from autoglm_core.engine.progress import StageProgress
from autoglm_core.plugin.manager import get_manager, reset_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.training.terminal import line_mode
from autoglm_core.types.errors import UnknownNameError
from autoglm_core.types.schemas import PipelineConfig, StageResult

FAST = {"train": {"epochs": 3, "learning_rate": 3e-3, "batch_size": 16}, "compress": [],
        "zero_shot": {"enabled": False}, "evaluate": {"latency_repeats": 1, "latency_examples": 8}}
CALLS: list[tuple[str, tuple, dict]] = []


class Recorder(Tracker):
    name = "recorder"
    description = "records every call (tests)"

    def __getattribute__(self, item):
        attr = object.__getattribute__(self, item)
        if item in ("start_run", "log_params", "log_metrics", "log_artifact", "set_tags", "flush", "end_run"):
            def record(*args, **kwargs):
                CALLS.append((item, args, kwargs))
                return attr(*args, **kwargs)
            return record
        return attr


class Broken(Tracker):
    name = "broken"
    description = "a server that is down: every metric call fails"

    def log_metrics(self, metrics, *, step=None, scope=None):
        raise ConnectionError("connection refused by 127.0.0.1:9")


class Hanging(Tracker):
    name = "hanging"
    description = "a server that never answers"
    release = threading.Event()

    def start_run(self, run_dir, name, params, tags):
        self.release.wait(60)


class TrackerPlugin:
    @hookimpl
    def autoglm_register_trackers(self, register):
        register(Recorder)
        register(Broken)
        register(Hanging)


def _train_stage(report):
    return next(s for s in report.stages if s.key.endswith("/train"))


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """One tiny run with three trackers: one that works, one that fails, one that hangs."""
    tmp = tmp_path_factory.mktemp("tracked")
    data = write_csv(tmp / "news.csv", sample_examples(60))
    reset_manager()
    get_manager().register(TrackerPlugin(), name="test-trackers")
    CALLS.clear()
    err = io.StringIO()
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOGLM_TRACK_TIMEOUT_S", "2")
    mp.setenv("CI", "true")
    try:
        task = AutoTask.create(task_type="text_classification", dataset=data, out=tmp / "run",
                               config={**FAST, "track": ["recorder", "broken", "hanging"]},
                               description="Classify financial news sentiment as positive, negative or neutral",
                               backbones=["tiny-bert"])
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(err):
            report = task.auto_build().launch()
        seconds = time.perf_counter() - t0
    finally:
        Hanging.release.set()
        mp.undo()
        reset_manager()
    return report, list(CALLS), err.getvalue(), seconds


@pytest.mark.hook("autoglm_register_trackers")
def test_tracker_gets_run_params_steps_epochs_variants_and_artifacts(tracked_run):
    report, calls, _, _ = tracked_run
    names = [c[0] for c in calls]
    assert names[0] == "start_run" and names[-1] == "end_run" and names.count("start_run") == 1
    _, (run_dir, _, params, tags), _ = calls[0]
    assert params["spec.task_type"] == "text_classification" and params["config.train.epochs"] == 3
    assert tags["autoglm.seed"] == "0" and any(k.startswith("autoglm.data.") and k.endswith("sha256") for k in tags)
    assert calls[-1][1] == ("FINISHED",)
    cand = report.candidates[0].name
    metrics = [(c[1][0], c[2].get("step"), c[2].get("scope")) for c in calls if c[0] == "log_metrics"]
    steps = [step for m, step, scope in metrics if scope == cand and "train_loss" in m]
    assert steps == sorted(steps) and len(steps) == _train_stage(report).metrics["steps"] > 3  # one per optimizer step
    epochs = [step for m, step, scope in metrics if scope == cand and "val_accuracy" in m]
    assert epochs == list(range(1, len(_train_stage(report).metrics["history"]) + 1))
    fine = [m for m, step, scope in metrics if scope == f"{cand}/fine-tuned"]
    assert fine and fine[0]["accuracy"] == pytest.approx(report.best.metrics["accuracy"])
    assert "latency_ms_b1" in fine[0]
    logged = {str(c[1][0].name) for c in calls if c[0] == "log_artifact"}
    assert {"report.html", "report.json", "report.md", "model"} <= logged
    cand_params = [c[1][0] for c in calls if c[0] == "log_params" and c[2].get("scope") == cand]
    assert any(p.get("candidate.backbone") == "tiny-bert" for p in cand_params)
    assert any("train.learning_rate" in p for p in cand_params)


def test_failing_and_hanging_trackers_give_one_warning_each_and_the_run_finishes(tracked_run):
    report, _, _, seconds = tracked_run
    broken = [w for w in report.warnings if "'broken'" in w]
    hanging = [w for w in report.warnings if "'hanging'" in w]
    assert len(broken) == 1 and "connection refused" in broken[0] and "disabled" in broken[0]
    assert len(hanging) == 1 and "no answer within 2s" in hanging[0]
    assert report.best is not None and report.exported_model == "model"
    html = (report.run_dir and open(f"{report.run_dir}/report.html", encoding="utf-8").read())
    assert "tracker &#x27;broken&#x27; failed" in html  # the warning reaches the page too


def test_progress_is_plain_lines_without_a_terminal(tracked_run):
    report, _, err, _ = tracked_run
    assert "\r" not in err and "\x1b" not in err  # no bars, no cursor moves
    lines = err.splitlines()
    cand = report.candidates[0].name
    assert f"[autoglm] {cand}/train: started" in lines
    assert any(line.startswith(f"[autoglm] {cand}/train: ok in ") for line in lines)
    assert sum(line.startswith("[autoglm]   epoch ") for line in lines) == len(_train_stage(report).metrics["history"])


def test_progress_on_a_terminal_rewrites_one_line_per_stage(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    out = Tty()
    assert line_mode(out) is False and line_mode(io.StringIO()) is True
    progress = StageProgress(out)
    progress.autoglm_stage_started(run_dir="r", stage="train", candidate="c0")
    progress.on_train_epoch(1, {"epoch": 1, "train_loss": 0.5})  # the bar shows epochs on a terminal
    result = StageResult(key="c0/train", stage="train", candidate="c0", started_at="t", finished_at="t", duration_s=1.5)
    progress.autoglm_stage_finished(run_dir="r", stage="train", result=result)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.startswith("\r") and "c0/train" in text and "1.5s" in text
    monkeypatch.setenv("CI", "1")
    assert line_mode(Tty()) is True


def test_unknown_tracker_fails_at_plan_time_with_did_you_mean(tmp_path, monkeypatch):
    get_manager().register(TrackerPlugin(), name="test-trackers")
    data = write_csv(tmp_path / "news.csv", sample_examples(30))
    task = AutoTask.create(task_type="text_classification", dataset=data, out=tmp_path / "run",
                           config={**FAST, "track": ["recordr"]}, backbones=["tiny-bert"])
    with pytest.raises(UnknownNameError, match="Did you mean 'recorder'"):
        task.auto_build()
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("AUTOGLM_TRACK", "broken,hangin")
    task = AutoTask.create(task_type="text_classification", dataset=data, out=tmp_path / "run", config=FAST,
                           backbones=["tiny-bert"])
    with pytest.raises(UnknownNameError, match="hanging"):
        task.auto_build()


def test_cli_track_is_repeatable_and_checked(tmp_path, capsys):
    get_manager().register(TrackerPlugin(), name="test-trackers")
    data = write_csv(tmp_path / "news.csv", sample_examples(30))
    code = main(["run", "news sentiment", "--data", str(data), "--backbone", "tiny-bert", "--out",
                 str(tmp_path / "run"), "--dry-run", "--track", "recorder", "--track", "mlfow"])
    err = capsys.readouterr().err
    assert code == 2 and "mlfow" in err and "Traceback" not in err


def test_track_does_not_change_the_config_hash():
    from autoglm_core.engine.runner import config_hash

    assert config_hash(PipelineConfig(track=["mlflow"])) == config_hash(PipelineConfig())


def test_cli_import_does_not_import_tracker_libraries():
    code = ("import sys; from autoglm_core.cli.main import build_parser; from autoglm_core.plugin.manager import get_manager; "
            "build_parser(get_manager()); "
            "bad = [m for m in ('mlflow', 'tensorboard', 'torch.utils.tensorboard') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

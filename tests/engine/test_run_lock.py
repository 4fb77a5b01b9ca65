"""One run per run folder: a second process on the same --out (plain, --overwrite, --resume)
refuses at once with exit 2 naming the holder's pid; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autoglm_core.cli.main import main
from autoglm_core.engine.run_lock import LOCK_FILE, RunDirInUseError, hold_run_dir
from autoglm_core.testing import sample_examples, write_csv

HOLDER = ("import sys, time\nfrom autoglm_core.engine.run_lock import hold_run_dir\n"
          "with hold_run_dir(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(60)\n")
DESCRIPTION = "Classify financial news sentiment as positive, negative or neutral"


def _hold(run_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture()
def news_csv(tmp_path):
    return write_csv(tmp_path / "news.csv", sample_examples(60))


@pytest.mark.parametrize("flags", [[], ["--overwrite"], ["--resume"]])
def test_second_run_on_a_held_folder_refuses_at_once(tmp_path, news_csv, capsys, flags):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{}")  # the other run's files must survive --overwrite
    holder = _hold(run_dir)
    try:
        start = time.perf_counter()
        rc = main(["run", DESCRIPTION, "--data", str(news_csv), "--out", str(run_dir), "--backbone", "tiny-bert",
                   "--compress", "", *flags])
        err = capsys.readouterr().err
        assert rc == 2 and f"is in use by another run (pid {holder.pid})" in err and "Traceback" not in err
        assert time.perf_counter() - start < 30
        assert (run_dir / "manifest.json").read_text() == "{}"
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE, "manifest.json"]
    finally:
        _stop(holder)


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    holder = _hold(run_dir)
    dead = holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert (run_dir / LOCK_FILE).read_text().strip() == str(dead)
    with hold_run_dir(run_dir):
        assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(RunDirInUseError, match=f"pid {os.getpid()}"):  # and it is really held
            with hold_run_dir(run_dir):
                pass


def test_a_folder_made_only_for_the_lock_is_removed(tmp_path):
    with pytest.raises(RuntimeError):
        with hold_run_dir(tmp_path / "new"):
            raise RuntimeError("data failed to load")
    assert not (tmp_path / "new").exists()


RUN = f"""
import sys
from autoglm_core import AutoTask
task = AutoTask.create(task_type="text_classification", dataset=sys.argv[1], out=sys.argv[2],
                       description={DESCRIPTION!r}, backbones=["tiny-bert"],
                       config={{"train": {{"epochs": 1, "batch_size": 16, "max_steps": 2}}, "compress": [],
                               "zero_shot": {{"enabled": False}},
                               "evaluate": {{"latency_repeats": 1, "latency_examples": 4}}}})
report = task.auto_build().launch(progress=False)
print("done", report.best.model_dir, flush=True)
"""


@pytest.mark.slow  # a real tiny run in a second process; the holder tests above cover the CLI path
def test_overwrite_during_a_real_run_is_refused_and_the_run_keeps_its_folder(tmp_path, news_csv, capsys):
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    first = subprocess.Popen([sys.executable, "-c", RUN, str(news_csv), str(run_dir)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (run_dir / "manifest.json").exists():  # the run is under way
            assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.stderr else ""
            time.sleep(0.05)
        rc = main(["run", DESCRIPTION, "--data", str(news_csv), "--out", str(run_dir), "--backbone", "tiny-bert",
                   "--compress", "", "--overwrite"])
        assert rc == 2 and f"pid {first.pid}" in capsys.readouterr().err
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            _stop(first)
    assert first.returncode == 0, err[-2000:]
    assert "done" in out
    report = json.loads((run_dir / "report.json").read_text())
    assert report["exported_model"] == "model" and (run_dir / "model" / "model.safetensors").exists()
    with hold_run_dir(run_dir):  # released at the end of the run
        pass

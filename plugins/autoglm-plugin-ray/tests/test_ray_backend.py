"""The ray search backend against a real Ray: a local ray.init(num_cpus=2), and a two-node cluster
(`ray start --head` plus a second `ray start --address`) on 127.0.0.1 joined by address."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autoglm_core.cli.main import main
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv

pytest.importorskip("ray", reason="the ray search backend needs ray (pip install ./plugins/autoglm-plugin-ray)")

from autoglm_plugin_ray import RayBackend  # noqa: E402

# 1 epoch of tiny BERT on 60 rows: what the trials cost is Ray's start-up, not training
BASE = {"train": {"batch_size": 8, "epochs": 1}, "compress": [], "zero_shot": {"enabled": False},
        "evaluate": {"latency_repeats": 1, "latency_examples": 4}}
SPACE = {"learning_rate": [1e-4, 1e-2, "log"]}


@pytest.fixture()
def news_csv(tmp_path):
    return write_csv(tmp_path / "news.csv", sample_examples(60))


def run(csv, out, search, *extra, capsys):
    config = out.parent / f"{out.name}.json"
    config.write_text(json.dumps(BASE | {"search": search}), encoding="utf-8")
    code = main(["run", "Classify news sentiment", "--data", str(csv), "--backbone", "tiny-bert", "--config",
                 str(config), "--out", str(out), "--no-progress", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    assert "Number of trials" not in captured.out  # Tune's tables go to stderr, not into the command's output
    return json.loads((out / "report.json").read_text(encoding="utf-8")), captured.err


def search_metrics(report):
    return next(s for s in report["stages"] if s["stage"] == "search")["metrics"]


def check_trials(m, backend):
    assert m["backend"] == backend and m["n_trials"] == 2 and m["n_complete"] == 2 and m["n_failed"] == 0
    for t in m["trials"]:
        assert t["state"] == "complete" and list(t["intermediate"]) == ["1"]  # epoch 1's value
        assert t["value"] == pytest.approx(t["intermediate"]["1"]) and t["duration_s"] > 0
    best = max(m["trials"], key=lambda t: t["value"])  # max: val_macro_f1, ties to the first trial
    assert m["best_trial"] == best["number"] and m["best_value"] == best["value"]


def test_the_entry_point_registers_the_ray_backend():
    entry = get_manager().registry("search backend").entry("ray")
    assert entry.obj is RayBackend and entry.plugin != "<programmatic>"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 2 minutes on a quiet 2-core machine; Ray's start-up is slow when it is busy
def test_ray_backend_on_a_local_ray_gives_the_optuna_report_and_resume_does_not_rerun(news_csv, tmp_path, capsys):
    search = {"trials": 2, "space": SPACE, "backend_options": {"num_cpus": 2}}
    ray_report, _ = run(news_csv, tmp_path / "ray", search, "--search-backend", "ray", capsys=capsys)
    opt_report, _ = run(news_csv, tmp_path / "optuna", {"trials": 2, "space": SPACE}, capsys=capsys)
    m, o = search_metrics(ray_report), search_metrics(opt_report)

    assert set(m) == set(o) and all(set(t) == set(u) for t in m["trials"] for u in o["trials"])  # same format
    check_trials(m, "ray")
    check_trials(o, "optuna")
    # OptunaSearch runs the run's own seeded TPE on the same study: the same proposals as the optuna backend
    # (two start-up trials are drawn from the seeded generator, whatever finishes first)
    assert [t["params"] for t in m["trials"]] == [t["params"] for t in o["trials"]]
    assert all(t["worker"].startswith("ray:") for t in m["trials"])
    # the best trial became the candidate and was trained again with its parameters, as with optuna
    assert ray_report["candidates"][0]["name"] == f"s{m['best_trial']}-c0-tiny-bert"
    train = next(s for s in ray_report["stages"] if s["stage"] == "train")
    assert train["metrics"]["train_config"]["learning_rate"] == pytest.approx(m["best_params"]["learning_rate"])
    run_dir = tmp_path / "ray"
    assert (run_dir / "search.png").is_file() and (run_dir / "report.html").is_file()
    trained = sorted(p.name for p in (run_dir / "ray").glob("train-*"))  # one Ray Train run per trial
    assert len(trained) == 2

    # --resume of the finished run: the search stage is recorded, so Ray is not started and nothing reruns
    stage_file = run_dir / "stages" / "search.json"
    before = stage_file.read_bytes()
    again, _ = run(news_csv, run_dir, search, "--search-backend", "ray", "--resume", capsys=capsys)
    assert stage_file.read_bytes() == before and search_metrics(again)["trials"] == m["trials"]
    assert sorted(p.name for p in (run_dir / "ray").glob("train-*")) == trained


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli(*args: str, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "ray.scripts.scripts", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"{' '.join(cmd)}: {out.stdout[-2000:]} {out.stderr[-2000:]}"


def stop_ray_under(temp_dir: str) -> None:
    """Stop the Ray processes of this test's cluster only: those whose command line names its temp dir.
    (`ray stop` would stop every Ray on the machine, other users' too.)"""
    def ours() -> list[int]:
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if temp_dir.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while ours() and time.monotonic() < deadline:
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two Ray nodes start, then two trials each start Ray Train on their node
def test_ray_backend_runs_the_trials_across_a_two_node_cluster_by_address(news_csv, tmp_path, capsys, monkeypatch):
    temp_dir = tempfile.mkdtemp(prefix="agray-")  # short: Ray's Unix sockets live under it
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    try:
        # the nodes have one CPU each, and each trial's Ray Train worker needs one: two trials at once
        # can only run one on each node
        # every fixed default port is replaced by a free one: two nodes on one machine (and any other
        # Ray here) would otherwise collide on the agent's 52365 and the client server's 10001
        ray_cli("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                "--temp-dir", temp_dir, "--include-dashboard", "false", "--disable-usage-stats",
                "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
                env=env)
        ray_cli("start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                "--temp-dir", temp_dir, "--disable-usage-stats", "--dashboard-agent-listen-port", str(free_port()),
                env=env)
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
        report, _ = run(news_csv, tmp_path / "cluster", {"trials": 2, "space": SPACE}, "--search-backend", "ray",
                        capsys=capsys)
        m = search_metrics(report)
        check_trials(m, "ray")
        assert len({t["worker"] for t in m["trials"]}) == 2, m["trials"]  # one trial on each node
        assert report["candidates"][0]["name"] == f"s{m['best_trial']}-c0-tiny-bert"
    finally:
        stop_ray_under(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_cluster_that_is_not_there_is_a_clear_error(news_csv, tmp_path, capsys):
    config = tmp_path / "search.json"
    config.write_text(json.dumps(BASE | {"search": {"trials": 1, "space": SPACE, "backend": "ray",
                                                     "backend_options": {"address": f"127.0.0.1:{free_port()}"}}}))
    code = main(["run", "Classify news sentiment", "--data", str(news_csv), "--backbone", "tiny-bert", "--config",
                 str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot join the Ray cluster at '127.0.0.1:" in err and "Traceback" not in err


def test_bad_ray_options_fail_at_plan_time(news_csv, tmp_path, capsys):
    config = tmp_path / "search.json"
    config.write_text(json.dumps(BASE | {"search": {"trials": 1, "space": SPACE, "backend": "ray",
                                                     "backend_options": {"num_worker": 2}}}))
    code = main(["run", "Classify news sentiment", "--data", str(news_csv), "--backbone", "tiny-bert", "--config",
                 str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "search.backend_options of search backend 'ray'" in err and "num_worker" in err

"""Search workers sharing one Optuna study: `--workers N` / `autoglm search-worker RUN_DIR` against SQLite
(and PostgreSQL where a server can be started): no duplicate trials, a killed worker's trial is failed
by heartbeat and retried, the budget is shared."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autoglm_core import AutoTask
from autoglm_core.testing import sample_examples, write_csv

BASE = {"train": {"batch_size": 8, "patience": 10, "epochs": 1}, "compress": [], "zero_shot": {"enabled": False},
        "evaluate": {"latency_repeats": 1, "latency_examples": 4}}
SPACE = {"learning_rate": [1e-4, 1e-2, "log"]}
CLI = [sys.executable, "-c", "import sys; from autoglm_core.cli.main import main; sys.exit(main())"]


@pytest.fixture()
def csv(tmp_path):
    return write_csv(tmp_path / "news.csv", sample_examples(80))


def make_task(csv, out, search):
    config = json.loads(json.dumps(BASE)) | {"search": search}
    return AutoTask.create(task_type="text_classification", dataset=csv, out=out, config=config,
                           description="Classify news sentiment", backbones=["tiny-bert"])


def study_of(task, url):
    import optuna

    return optuna.load_study(study_name=f"autoglm-{task.spec.spec_hash()}", storage=url)


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def check_shared_study(report, study, budget, workers):
    import optuna

    m = next(s for s in report.stages if s.stage == "search").metrics
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # each trial number once
    # the budget is shared: at most workers-1 extra trials when processes start the last one together
    assert budget <= len(study.trials) <= budget + workers - 1, numbers
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    lrs = [t.params["learning_rate"] for t in study.trials]
    assert len(set(lrs)) == len(lrs), lrs  # differently seeded samplers: no duplicated parameters
    assert {t.user_attrs["worker"] for t in study.trials} <= set(range(workers))
    assert m["workers"] == workers and m["n_trials"] == len(study.trials)
    best = max(complete, key=lambda t: t.value)
    assert m["best_trial"] == best.number and m["best_value"] == pytest.approx(best.value)
    assert report.candidates[0].name.startswith(f"s{best.number}-")
    return m


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(csv, tmp_path):
    run = tmp_path / "run"
    task = make_task(csv, run, {"trials": 4, "workers": 2, "space": SPACE, "pruner": "none"})
    report = task.auto_build().launch(progress=False)
    m = check_shared_study(report, study_of(task, f"sqlite:///{run / 'search.db'}"), budget=4, workers=2)
    assert m["n_failed"] == 0 and (run / "search-job.json").is_file()


FAKE_WORKER = textwrap.dedent("""
    import sys, time
    import optuna
    from autoglm_core.training.search import open_storage, parse_dimension, suggest
    url, name = sys.argv[1], sys.argv[2]
    study = optuna.load_study(study_name=name, storage=open_storage(url, 1))
    trial = study.ask()
    suggest(trial, {"learning_rate": parse_dimension("learning_rate", [1e-4, 1e-2, "log"])})
    study._storage.record_heartbeat(trial._trial_id)
    print(trial.params["learning_rate"], flush=True)
    time.sleep(600)  # "training": killed by the test
""")


@pytest.mark.slow
def test_killed_worker_trial_is_failed_and_retried_by_a_search_worker(csv, tmp_path):
    import optuna

    from autoglm_core.plugin.context import RunContext
    from autoglm_core.training.search_workers import write_job

    run = tmp_path / "run"
    run.mkdir()
    url = f"sqlite:///{run / 'search.db'}"
    task = make_task(csv, run, {"trials": 2, "heartbeat_s": 1, "space": SPACE, "pruner": "none"})
    pipeline = task.auto_build()
    optuna.create_study(study_name=f"autoglm-{task.spec.spec_hash()}", storage=url, direction="maximize")
    ctx = RunContext(run_dir=run, spec=task.spec, config=task.config, manager=task.manager,
                     candidates=list(pipeline.candidates))
    write_job(ctx, list(pipeline.candidates))
    # a worker that holds trial 0 (heartbeat sent) and dies with SIGKILL: no chance to mark it failed
    fake = subprocess.Popen([sys.executable, "-c", FAKE_WORKER, url, f"autoglm-{task.spec.spec_hash()}"],
                            stdout=subprocess.PIPE, text=True, env=env())
    lr0 = float(fake.stdout.readline())
    fake.send_signal(signal.SIGKILL)
    fake.wait()
    assert study_of(task, url).trials[0].state == optuna.trial.TrialState.RUNNING
    time.sleep(2.5)  # the grace period (2 x heartbeat_s) passes without a heartbeat
    out = subprocess.run([*CLI, "search-worker", str(run), "--worker-index", "1"], capture_output=True, text=True,
                         env=env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "search worker 1: ran 2 trial(s)" in out.stdout
    trials = study_of(task, url).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] + [optuna.trial.TrialState.COMPLETE] * 2
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == 0)
    assert retry.params["learning_rate"] == pytest.approx(lr0)  # the same parameters, tried again
    assert {t.user_attrs["worker"] for t in trials[1:]} == {1}
    # the run then finds the budget used and takes the best of the shared study
    report = pipeline.launch(resume=True, progress=False)
    m = next(s for s in report.stages if s.stage == "search").metrics
    assert m["n_trials"] == 3 and m["n_failed"] == 1 and m["n_complete"] == 2


def test_search_worker_without_a_search_job_is_a_clear_error(tmp_path):
    out = subprocess.run([*CLI, "search-worker", str(tmp_path)], capture_output=True, text=True, env=env(), timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "search-job.json: no search job here" in out.stderr


def test_workers_flag_without_search_section_is_a_clear_error(csv, tmp_path):
    out = subprocess.run([*CLI, "run", "Classify news sentiment", "--data", str(csv), "--out", str(tmp_path / "r"),
                          "--workers", "2"], capture_output=True, text=True, env=env(), timeout=120)
    assert out.returncode == 2 and "--workers" in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture()
def postgres(tmp_path):
    """A throw-away PostgreSQL server on 127.0.0.1 (initdb + pg_ctl), run as a non-root user."""
    pytest.importorskip("psycopg2", reason="psycopg2 not installed (pip install 'autoglm-core[search]')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed (Debian: apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        as_user = ["runuser", "-u", "postgres", "--"]
    # not under tmp_path: pytest's base folder is private to root, and the server runs as postgres
    data = Path(tempfile.mkdtemp(prefix="autoglm-pg-"))
    if as_user:
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = data / "db"

    def run(*cmd):
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)

    r = run(str(bindir / "initdb"), "-D", str(db), "-U", "autoglm", "--auth=trust")
    if r.returncode:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"initdb failed: {r.stderr[-300:]}")
    r = run(str(bindir / "pg_ctl"), "-D", str(db), "-l", str(data / "log"), "-w", "-o",
            f"-h 127.0.0.1 -p {port} -k {data}", "start")
    if r.returncode:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {r.stderr[-300:]}")
    try:
        # the driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, the extra installs psycopg2
        yield f"postgresql+psycopg2://autoglm@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(db), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(csv, tmp_path, postgres):
    run = tmp_path / "run"
    task = make_task(csv, run, {"trials": 3, "workers": 2, "space": SPACE, "pruner": "none", "storage": postgres})
    report = task.auto_build().launch(progress=False)
    m = check_shared_study(report, study_of(task, postgres), budget=3, workers=2)
    assert m["storage"] == postgres and not (run / "search.db").exists()

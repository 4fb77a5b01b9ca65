"""Several processes working on one Optuna study: ``search.workers: N`` (or ``autoglm run --workers N``)
starts N-1 ``autoglm search-worker RUN_DIR`` processes next to the run, and the same command started by
hand (on this machine or, with a shared RDB ``search.storage`` and run folder, on another) joins a running
search. Every process opens the study through the storage, so Optuna hands out trial numbers and the
database keeps one record per trial; the run picks the best trial once no trial is left running.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from autoglm_core.io import atomic_write_json
from autoglm_core.training.search import counted_trials, open_study, quiet, run_trials
from autoglm_core.types.errors import ConfigError

log = logging.getLogger(__name__)

JOB_FILE = "search-job.json"  # what a worker needs to rebuild the run's context


def write_job(ctx: Any, planned: list[Any]) -> Path:
    path = Path(ctx.run_dir) / JOB_FILE
    atomic_write_json(path, {
        "spec": ctx.spec.model_dump(mode="json"),
        # exclude_unset keeps which train fields the user set: the search space may not name those
        "config": ctx.config.model_dump(mode="json", exclude_unset=True),
        "candidates": [c.model_dump(mode="json") for c in planned],
    })
    return path


def read_job(run_dir: Path) -> dict[str, Any]:
    import json

    path = Path(run_dir) / JOB_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no search job here. Start `autoglm run` with a 'search:' section (and --out "
                          f"{run_dir}) first; its search stage writes this file.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the search job: {exc}") from None


def worker_context(run_dir: Path) -> tuple[Any, Any, list[Any]]:
    """The run's context rebuilt from its job file, with the data re-read (deterministic by seed)."""
    from autoglm_core.plugin.context import RunContext
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.schemas import CandidateSpec, PipelineConfig, TaskSpec, validate

    job = read_job(run_dir)
    where = str(Path(run_dir) / JOB_FILE)
    spec = validate(TaskSpec, job["spec"], source=where)
    config = validate(PipelineConfig, job["config"], source=where)
    planned = [validate(CandidateSpec, c, source=where) for c in job["candidates"]]
    manager = get_manager()
    ctx = RunContext(run_dir=Path(run_dir), spec=spec, config=config, manager=manager, candidates=planned,
                     progress=False)
    task_type = manager.registry("task type").get(spec.task_type)()
    ctx.splits = task_type.load_data(ctx)
    return ctx, task_type, planned


def run_worker(run_dir: Path, worker: int) -> int:
    """One worker: join the study and run trials until its budget is used up; returns trials run."""
    ctx, task_type, planned = worker_context(run_dir)
    session = open_study(ctx, task_type, planned, worker=worker)
    return run_trials(session, ctx.config.search.trials, ctx.config.search.timeout_s)


def search_with_workers(ctx: Any, session: dict[str, Any]) -> None:
    """The run's side: start workers-1 worker processes, take trials itself, then wait until the budget
    is used and nothing is running (a dead worker's trial is failed by heartbeat and retried here)."""
    import optuna
    from optuna.storages import fail_stale_trials

    search = ctx.config.search
    cmd = [sys.executable, "-c", "import sys; from autoglm_core.cli.main import main; sys.exit(main())",
           "search-worker", str(Path(ctx.run_dir).resolve())]
    procs = [subprocess.Popen([*cmd, "--worker-index", str(i)]) for i in range(1, search.workers)]
    study, t0 = session["study"], time.perf_counter()
    try:
        while True:
            left = None if search.timeout_s is None else search.timeout_s - (time.perf_counter() - t0)
            if left is None or left > 0:
                run_trials(session, search.trials, left)
            quiet(fail_stale_trials, study)
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            alive = [p for p in procs if p.poll() is None]
            if not running and not alive:
                out_of_time = left is not None and left <= 0
                if counted_trials(study) >= search.trials or out_of_time:
                    break
                continue  # a worker died and its trial was queued again: run it here
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    failed = [i + 1 for i, p in enumerate(procs) if p.returncode]
    if failed:
        log.warning("search worker(s) %s exited with an error; their trials were retried by the others", failed)

"""The ``ray`` search backend: the search's trials as Ray Tune trials, each trained by Ray Train.

Sampling stays Optuna's: Ray Tune's ``OptunaSearch`` runs on the run's own study (the same storage,
study name and seeded TPE sampler as the ``optuna`` backend) with the core's search space, so every
Ray trial is a trial of that study with its parameters, per-epoch values and final value, and the core
reads them back, picks the best trial and writes the report exactly as for the ``optuna`` backend.
OptunaSearch rather than ASHA: ASHA only stops trials (it samples at random), so it would replace the
seeded TPE proposals and give trial records that no longer match the ``optuna`` backend's; and Ray's
stopping would not be recorded as Optuna's ``pruned`` state. Trials therefore run to their configured
epochs (FIFO); ``search.pruner`` does not apply here.

Each trial is a small Tune function that starts a ``TorchTrainer`` (``ScalingConfig(num_workers=...,
use_gpu=False)``). Its workers join Ray's gloo process group and run the core's own accelerate loop
through :func:`autoglm_core.fit_search_trial`, which rebuilds the run from ``search-job.json`` (so every
node must see the run folder at the same path, as for ``autoglm search-worker``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from pydantic import Field

from autoglm_core import ConfigError, SearchBackend, StrictModel

log = logging.getLogger(__name__)

#: environment passed on to the trial processes of a cluster joined by address (offline model loading, ...)
#: Ray gives its raylet a fixed 30 s to register at start-up, which a loaded machine can miss
LOCAL_START_ATTEMPTS = 3
TRIAL_MEMORY = 64 * 2**20  # bytes reserved by a trial's own Tune process
PASS_ENV_PREFIXES = ("AUTOGLM_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_NUM_THREADS")


class RayOptions(StrictModel):
    address: str | None = Field(None, description="Ray cluster to join ('HOST:PORT' or 'auto'); None: RAY_ADDRESS, "
                                "else a local Ray started for the search with num_cpus CPUs")
    num_cpus: int = Field(2, ge=1, le=4096, description="CPUs of the local Ray (ignored when joining a cluster)")
    num_workers: int | None = Field(None, ge=1, le=4096, description="Ray Train workers (processes) per trial; "
                                    "None: train.num_processes")
    cpus_per_worker: float = Field(1.0, gt=0, le=1024, allow_inf_nan=False,
                                   description="CPUs reserved by each Ray Train worker")
    trial_cpus: float = Field(0.0, ge=0, le=1024, allow_inf_nan=False,
                              description="CPUs reserved by a trial's own Tune process (it only waits for its workers)")
    max_concurrent_trials: int | None = Field(None, ge=1, le=100_000,
                                              description="None: as many as the cluster's CPUs allow")
    storage_path: str | None = Field(None, description="Ray's results folder (absolute path or URI); None: "
                                     "<run_dir>/ray. On several machines it must be shared storage")


class RayBackend(SearchBackend):
    name = "ray"
    description = "Ray Tune trials (OptunaSearch on the run's study), each trained by Ray Train's TorchTrainer"
    Options = RayOptions

    def run(self, context: Any, session: dict[str, Any]) -> None:
        from .study import counted_trials, requeue_running

        search = context.config.search
        study = session["study"]
        requeue_running(study)  # trials a killed earlier driver left running: run them again
        left = search.trials - counted_trials(study)
        if left <= 0:
            log.info("search: the study already holds %d trials; nothing to run on Ray", counted_trials(study))
            return
        workers = self.options.num_workers or context.config.train.num_processes
        if context.config.train.batch_size % workers:
            raise ConfigError(f"search.backend_options.num_workers={workers}: train.batch_size="
                              f"{context.config.train.batch_size} is the global batch and must divide by it.")
        import ray

        started, temp = connect(self.options)
        try:
            tune_trials(context, session, self.options, workers, left)
        finally:
            if started:
                ray.shutdown()
            if temp:  # the local Ray's session files (sockets, logs): nothing to keep once it is down
                shutil.rmtree(temp, ignore_errors=True)


def connect(options: RayOptions) -> tuple[bool, str | None]:
    """Join the cluster by address, else start a local Ray; returns whether this call connected, and
    the local Ray's temporary folder."""
    import ray

    if ray.is_initialized():  # the caller's own Ray session
        return False, None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from an offline machine
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        check_reachable(address)
        env = {k: v for k, v in os.environ.items() if k.startswith(PASS_ENV_PREFIXES)}
        try:
            ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"search backend 'ray': cannot join the Ray cluster at {address!r} "
                              f"(search.backend_options.address / RAY_ADDRESS): {exc}") from None
        return True, None
    # Ray's session files (sockets, logs) go to a fresh temporary folder, not a shared /tmp/ray; a
    # folder inside the run would overflow the length limit of a Unix socket path
    temp = tempfile.mkdtemp(prefix="autoglm-ray-")
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            ray.init(num_cpus=options.num_cpus, include_dashboard=False, _temp_dir=temp, log_to_driver=False)
            return True, temp
        except Exception as exc:  # Ray raises a bare Exception when its raylet misses the start-up limit
            ray.shutdown()
            if attempt == LOCAL_START_ATTEMPTS:
                shutil.rmtree(temp, ignore_errors=True)
                raise ConfigError(f"search backend 'ray': could not start a local Ray ({LOCAL_START_ATTEMPTS} "
                                  f"attempts): {exc} Is the machine overloaded? Start Ray yourself (`ray start "
                                  f"--head`) and set RAY_ADDRESS, or use --search-backend optuna.") from None
            log.warning("search backend 'ray': a local Ray did not start (%s); trying again", exc)
    return True, temp


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail at once on a cluster that is not there: ray.init waits for minutes on a dead address."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # 'auto' and other forms Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(f"search backend 'ray': cannot join the Ray cluster at {address!r} "
                          f"(search.backend_options.address / RAY_ADDRESS): {exc}. Is `ray start --head` running "
                          f"there?") from None


def tune_trials(context: Any, session: dict[str, Any], options: RayOptions, workers: int, n: int) -> None:
    from ray import tune

    from .searcher import StudySearch
    from .trial import run_trial

    search = context.config.search
    run_dir = str(Path(context.run_dir).resolve())
    storage = options.storage_path or str(Path(run_dir) / "ray")
    mode = "min" if session["direction"] == "minimize" else "max"
    searcher = StudySearch(space=session["sample"], metric="objective", mode=mode, sampler=session["sampler"],
                           study_name=session["name"], storage=session["storage"])
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, run_dir=run_dir, workers=workers, cpus_per_worker=options.cpus_per_worker,
                             storage=storage, direction=session["direction"]),
        # Ray refuses a request of nothing: a trial that reserves no CPU asks for a little memory instead
        {"cpu": options.trial_cpus, "memory": TRIAL_MEMORY})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, metric="objective", mode=mode, num_samples=n,
                                    max_concurrent_trials=options.max_concurrent_trials,
                                    time_budget_s=search.timeout_s),
        run_config=tune.RunConfig(name="search", storage_path=storage, verbose=0),
    )
    log.info("search: %d trial(s) on Ray (%d Ray Train worker(s) of %g CPU each per trial)", n, workers,
             options.cpus_per_worker)
    # Tune prints its experiment tables on stdout, where `autoglm run --json` writes the report; and
    # study.ask() on a storage with heartbeats warns that only optimize() sends them (see requeue_running)
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        tuner.fit()  # failed trials are recorded as failed in the study; the core reports them

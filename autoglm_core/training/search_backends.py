"""Search backends: what runs the trials of the run's Optuna study.

The search stage opens the study (storage, sampler, objective; :func:`autoglm_core.training.search.open_study`),
hands it to the backend named by ``search.backend``, and afterwards reads every trial back from the study
to pick the best one and write the report. A backend therefore only decides *where and how* trials run;
the trial records, the best-trial rule and the report are the same for every backend. The built-in
``optuna`` backend runs them in this process (plus ``search.workers - 1`` worker processes); a plugin
(``autoglm-plugin-ray``) registers others through ``autoglm_register_search_backends``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from autoglm_core.plugin.components import Component
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.training.distributed_setup import WORKER_ENV
from autoglm_core.training.search import trial_setup, trial_training
from autoglm_core.training.search_workers import search_with_workers, worker_context
from autoglm_core.types.errors import UnknownNameError

DEFAULT_BACKEND = "optuna"


class SearchBackend(Component):
    """Runs the trials of a search. ``Options`` are read from ``search.backend_options``.

    :meth:`run` gets the run's context and the open search ``session``, a dict with:

    * ``study`` (the Optuna study, in ``search.storage``), ``storage`` (its Optuna storage object),
      ``sampler`` (TPE with the run's seed), ``name`` (study name), ``direction`` (``maximize``/``minimize``),
      ``metric`` (the validation metric, without ``val_``);
    * ``sample(trial) -> params``: draws one trial's parameters from ``search.space`` (an Optuna trial,
      or anything with ``suggest_float/int/categorical``);
    * ``objective(trial) -> value``: trains one trial in this process and reports per-epoch values.

    It returns when the study holds ``search.trials`` trials (finished or pruned) or the time budget is
    spent. Trials that should count must end up in ``study`` with their parameters, per-epoch values
    (``trial.report``) and final value; remote trials can train through :func:`fit_search_trial`.
    """

    kind: ClassVar[str] = "search backend"

    def run(self, context: Any, session: dict[str, Any]) -> None:
        raise NotImplementedError


class OptunaBackend(SearchBackend):
    """Trials in this process, one at a time, plus ``search.workers - 1`` ``autoglm search-worker``
    processes sharing the study (docs/distributed.md)."""

    name = DEFAULT_BACKEND
    description = "Optuna in this process (and search.workers-1 worker processes sharing the study)"

    def run(self, context: Any, session: dict[str, Any]) -> None:
        search_with_workers(context, session)


@hookimpl
def autoglm_register_search_backends(register: Any) -> None:
    register(OptunaBackend)


def backend_for(config: Any, manager: Any) -> SearchBackend:
    """The configured backend with its options checked; an unknown name names the known ones (and the
    plugin to install for a well-known one)."""
    search = config.search
    try:
        cls = manager.registry("search backend").get(search.backend)
    except UnknownNameError as exc:
        raise UnknownNameError(f"search.backend (--search-backend): {exc}") from None
    return cls(search.backend_options, where=f"search.backend_options of search backend {search.backend!r}")


def fit_search_trial(run_dir: str | Path, params: dict[str, Any]) -> dict[str, Any]:
    """Train one trial with ``params`` (as sampled from ``search.space``) in *this* process, for a backend
    whose trials run elsewhere (another process or machine that sees the run folder). The run's
    context is rebuilt from ``<run_dir>/search-job.json`` and the data re-read (deterministic by seed);
    the candidate and TrainConfig are made exactly as the in-process objective makes them. Inside a
    distributed group (``AUTOGLM_DIST_WORKER=1`` and a torch process group) every rank calls this and
    trains its share. Returns ``{"epochs": {epoch: value}, "value": objective}`` (value: the best epoch's
    validation metric, as the in-process objective returns)."""
    import os

    import torch.distributed as dist


    if dist.is_available() and dist.is_initialized():
        # a launcher (Ray Train) started the process group: the loop joins it as a torchrun worker does
        # (split batches, rank 0 decides early stopping) instead of launching processes of its own
        os.environ[WORKER_ENV] = "1"
    ctx, task_type, planned = worker_context(Path(run_dir))
    setup = trial_setup(ctx, task_type, planned)
    cand, cfg = trial_training(ctx, setup, params)
    metric = setup["metric"]
    epochs: dict[int, float] = {}

    def on_epoch(epoch: int, record: dict[str, float]) -> None:
        if f"val_{metric}" in record:
            epochs[int(epoch)] = float(record[f"val_{metric}"])

    _, result = task_type.fit(ctx, cand, cfg, on_epoch=on_epoch, desc=f"trial {cand.name}")
    values = [h[f"val_{metric}"] for h in result.history if f"val_{metric}" in h] or list(epochs.values())
    value = (min(values) if setup["direction"] == "minimize" else max(values)) if values else None
    return {"epochs": epochs, "value": value}

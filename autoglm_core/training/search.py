"""Budgeted search over backbones and training hyper-parameters with Optuna.

When ``search:`` is set in the PipelineConfig, a ``search`` stage runs after ``data``: each Optuna
trial picks a backbone and TrainConfig values from ``search.space``, fine-tunes (in
``train.num_processes`` processes when set) and reports the validation metric after every epoch, so
that the pruner (median) stops trials that are worse than the median of earlier trials at the same
epoch. The best trial becomes the run's only candidate; the usual train/evaluate/compress stages
follow. The study lives in ``search.storage`` (default ``sqlite:///<run_dir>/search.db``): a killed
search resumes with its finished trials, and an RDB URL shared by several machines lets them work
on one study.

This module is the study itself (the space, the objective, running trials); the search stage's
work (running the study through its backend, the best trial, the plot) is
:mod:`autoglm_core.training.search_run`, and where trials run :mod:`autoglm_core.training.search_backends`.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import warnings
from pathlib import Path
from typing import Any

from autoglm_core.plugin.context import RunContext
from autoglm_core.training.loop import LOWER_IS_BETTER
from autoglm_core.types.errors import ConfigError, did_you_mean
from autoglm_core.types.schemas import CandidateSpec, SearchConfig, TrainConfig

log = logging.getLogger(__name__)

BACKBONE = "backbone"


# --------------------------------------------------------------------------- the space


def parse_dimension(name: str, value: Any) -> dict[str, Any]:
    """One entry of ``search.space`` -> {"kind": "float"|"int"|"categorical", ...}; errors name the field."""
    where = f"search.space.{name}"
    if isinstance(value, dict):
        if "choices" in value:
            choices = value["choices"]
            if set(value) != {"choices"} or not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: give {{choices: [a, b, ...]}} with a non-empty list and nothing else.")
            return {"kind": "categorical", "choices": choices}
        unknown = set(value) - {"low", "high", "log", "step"}
        if unknown or not {"low", "high"} <= set(value):
            raise ConfigError(f"{where}: a range is {{low, high}} with optional log and step (got keys {sorted(value)}).")
        low, high, log_, step = value["low"], value["high"], bool(value.get("log", False)), value.get("step")
    elif isinstance(value, list) and len(value) in (2, 3) and all(_is_number(v) for v in value[:2]) and (
            len(value) == 2 or value[2] in ("log", "linear")):
        low, high, log_, step = value[0], value[1], len(value) == 3 and value[2] == "log", None
    elif isinstance(value, list) and value:
        return {"kind": "categorical", "choices": value}
    else:
        raise ConfigError(f"{where}: expected [low, high], [low, high, 'log'], a list of choices or a mapping; "
                          f"got {value!r}.")
    if not (_is_number(low) and _is_number(high)) or low >= high:
        raise ConfigError(f"{where}: the range needs numbers with low < high (got {low!r}, {high!r}).")
    if log_ and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0 (got {low!r}).")
    kind = "int" if isinstance(low, int) and isinstance(high, int) and not isinstance(step, float) else "float"
    return {"kind": kind, "low": low, "high": high, "log": log_, "step": step}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_space(search: SearchConfig, explicit_train_fields: set[str]) -> dict[str, dict[str, Any]]:
    """Validate every name and range (plan time, before any work)."""
    fields = set(TrainConfig.model_fields)
    dims: dict[str, dict[str, Any]] = {}
    if not search.space:
        raise ConfigError("search.space is empty: name at least one TrainConfig field or 'backbone' to search over.")
    for name, value in search.space.items():
        if name != BACKBONE and name not in fields:
            raise ConfigError(
                f"search.space.{name}: not a TrainConfig field nor 'backbone'.{did_you_mean(name, [*fields, BACKBONE])} "
                f"Searchable: backbone, {', '.join(sorted(fields))}."
            )
        if name in explicit_train_fields:
            raise ConfigError(f"search.space.{name} is searched but train.{name} is also set; remove one of them.")
        dims[name] = parse_dimension(name, value)
        if name == BACKBONE and dims[name]["kind"] != "categorical":
            raise ConfigError("search.space.backbone: give a list of backbone names, e.g. [minilm, tiny-bert].")
    return dims


def suggest(trial: Any, dims: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, d in dims.items():
        if d["kind"] == "categorical":
            out[name] = trial.suggest_categorical(name, d["choices"])
        elif d["kind"] == "int":
            out[name] = trial.suggest_int(name, d["low"], d["high"], log=d["log"], step=d["step"] or 1)
        else:
            out[name] = trial.suggest_float(name, d["low"], d["high"], log=d["log"], step=d["step"])
    return out


# --------------------------------------------------------------------------- the study


def redact(url: str) -> str:
    """Hide a password in an RDB URL before it goes into the report."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def storage_url(search: SearchConfig, run_dir: Path) -> str:
    return search.storage or f"sqlite:///{Path(run_dir).resolve() / 'search.db'}"


def backbone_choices(dims: dict[str, dict[str, Any]], planned: list[CandidateSpec]) -> dict[str, CandidateSpec]:
    if BACKBONE not in dims:
        return {c.backbone: c for c in planned}
    from autoglm_core.models.candidates import resolve_backbone

    out: dict[str, CandidateSpec] = {}
    for i, name in enumerate(dims[BACKBONE]["choices"]):
        match = next((c for c in planned if c.backbone == name or c.name == name), None)
        out[str(name)] = match or resolve_backbone(str(name), i)
    return out


def check_searchable(task_type: Any) -> None:
    """Plan time: search trains every trial through the task type's ``fit`` (the shared loop)."""
    if not task_type.searchable():
        raise ConfigError(f"search is not supported for task type {task_type.name!r}: it does not train through "
                          f"the shared training loop (TaskType.fit). Remove 'search:' from the config.")


def search_metric(ctx: Any, task_type: Any) -> tuple[str, str]:
    """(metric, optuna direction): search.metric, else train.early_stopping_metric, else the task type's own."""
    metric = ctx.config.search.metric or ctx.config.train.early_stopping_metric or task_type.train_metric
    return metric, "minimize" if metric in LOWER_IS_BETTER else "maximize"


def require_optuna() -> Any:
    """optuna, or a ConfigError that says how to get it (it is an optional extra)."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("the 'search:' section needs Optuna: pip install 'autoglm-core[search]' "
                          "(or pip install optuna), or remove 'search:' from the config.") from None
    return optuna


def open_study(ctx: RunContext, task_type: Any, planned: list[CandidateSpec], *, worker: int = 0) -> dict[str, Any]:
    """Open (or create) the run's study and build the objective; the run and every search worker call
    this with the same context, so they share one study. Worker W samples with seed + W: with one seed
    every worker would draw the same first parameters."""
    optuna = require_optuna()
    search: SearchConfig = ctx.config.search
    setup = trial_setup(ctx, task_type, planned)
    dims, choices, metric, direction = setup["dims"], setup["choices"], setup["metric"], setup["direction"]
    url = storage_url(search, ctx.run_dir)
    name = search.study_name or f"autoglm-{ctx.spec.spec_hash()}"
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1) if search.pruner == "median"
              else optuna.pruners.NopPruner())
    seed = (search.sampler_seed if search.sampler_seed is not None else ctx.seed) + worker
    # constant_liar: a trial still running elsewhere counts as a bad result, so concurrent workers do
    # not all sample next to the same promising point
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=search.workers > 1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = open_storage(url, search.heartbeat_s)
        study = optuna.create_study(study_name=name, storage=storage,
                                    direction=direction, pruner=pruner, sampler=sampler, load_if_exists=True)
    except Exception as exc:  # bad URL, missing driver, unreachable server
        raise ConfigError(f"search.storage {redact(url)!r}: cannot open the Optuna study: {exc}") from None

    def objective(trial: Any) -> float:
        trial.set_user_attr("worker", worker)
        params = suggest(trial, dims)
        cand, cfg = trial_training(ctx, setup, params)

        def report(epoch: int, record: dict[str, float]) -> None:
            value = record.get(f"val_{metric}")
            if value is None:
                return
            trial.report(float(value), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}: val_{metric}={value:.4f}")

        _, result = task_type.fit(ctx, cand, cfg, on_epoch=report, desc=f"trial {trial.number} {cand.name}")
        values = [h[f"val_{metric}"] for h in result.history if f"val_{metric}" in h]
        if not values:
            raise RuntimeError("the trial produced no validation metric")
        return min(values) if direction == "minimize" else max(values)

    return {"study": study, "objective": objective, "choices": choices, "metric": metric, "direction": direction,
            "name": name, "url": url, "dims": dims, "storage": storage, "sampler": sampler, "seed": seed,
            "sample": functools.partial(suggest, dims=dims)}  # picklable: Ray keeps its searcher in checkpoints


def trial_setup(ctx: Any, task_type: Any, planned: list[CandidateSpec]) -> dict[str, Any]:
    """What every trial shares, wherever it runs: the space, the backbones to choose from, the metric."""
    check_searchable(task_type)
    search: SearchConfig = ctx.config.search
    dims = check_space(search, set(ctx.config.train.model_fields_set))
    choices = backbone_choices(dims, planned)
    if BACKBONE not in dims and len(choices) > 1:
        dims = {BACKBONE: {"kind": "categorical", "choices": list(choices)}, **dims}
    if not ctx.splits.validation:
        raise ConfigError("search needs a validation split to score trials: set split.validation > 0 "
                          "(or give --validation FILE).")
    metric, direction = search_metric(ctx, task_type)
    return {"dims": dims, "choices": choices, "metric": metric, "direction": direction}


def trial_training(ctx: Any, setup: dict[str, Any], params: dict[str, Any]) -> tuple[CandidateSpec, TrainConfig]:
    """One trial's candidate and TrainConfig from its sampled parameters."""
    choices = setup["choices"]
    cand = choices[str(params.get(BACKBONE, next(iter(choices))))]
    cfg = ctx.train_config(cand).model_copy(update={k: v for k, v in params.items() if k != BACKBONE})
    return cand, TrainConfig.model_validate(cfg.model_dump())


def open_storage(url: str, heartbeat_s: float) -> Any:
    """The RDB storage with heartbeats: a trial whose process died (killed worker, lost machine) stops
    beating, is marked failed after 2 x heartbeat_s by the next process that starts a trial, and a copy
    with the same parameters is queued (Optuna's RetryFailedTrialCallback)."""
    import optuna
    from optuna import storages

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}  # wait for SQLite's lock
    # Optuna 4.9 renamed the retry callback and its argument; both queue a copy with the same parameters
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        retry = {"heartbeat_stale_trial_callback": storages.RetryHeartbeatStaleTrialCallback(max_retry=3)}
    else:
        retry = {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=3)}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.9; the API has held
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=max(1, int(heartbeat_s)),
                                   grace_period=max(2, int(2 * heartbeat_s)), **retry)


def counted_trials(study: Any) -> int:
    """Trials that use up the budget: finished ones and those running now (failed ones are retried)."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
    return len(study.get_trials(deepcopy=False, states=states))


def quiet(fn: Any, *args: Any) -> Any:
    """Call an Optuna function marked experimental without its warning."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return fn(*args)


def run_trials(session: dict[str, Any], trials: int, timeout_s: float | None) -> int:
    """Start one trial at a time until the shared study holds ``trials`` counted trials (or the time
    budget is spent); returns how many this process ran. Two processes that look at the same moment
    can both start the last trial, so a study with W processes may end up to W-1 trials over budget."""
    from optuna.storages import fail_stale_trials

    study, t0, ran = session["study"], time.perf_counter(), 0
    while timeout_s is None or time.perf_counter() - t0 < timeout_s:
        quiet(fail_stale_trials, study)  # before counting: a dead worker's trial must not hold a budget slot
        if counted_trials(study) >= trials:
            break
        study.optimize(session["objective"], n_trials=1, gc_after_trial=True)
        ran += 1
    return ran

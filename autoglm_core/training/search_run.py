"""The search stage's work: run the study (:mod:`autoglm_core.training.search`) through the
backend ``search.backend`` names, pick the best trial as the run's candidate, and plot the trials.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from autoglm_core.training.search import BACKBONE, open_study, redact
from autoglm_core.training.search_backends import backend_for
from autoglm_core.training.search_workers import write_job
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import CandidateSpec, SearchConfig


def run_search(ctx: Any, task_type: Any, planned: list[CandidateSpec]) -> tuple[CandidateSpec, dict[str, Any]]:
    """Run (or resume) the study; returns the best trial's candidate and the stage metrics."""
    import optuna

    search: SearchConfig = ctx.config.search
    session = open_study(ctx, task_type, planned)
    study, choices, metric = session["study"], session["choices"], session["metric"]
    name, url, direction = session["name"], session["url"], session["direction"]
    t0 = time.perf_counter()
    write_job(ctx, planned)  # lets `autoglm search-worker RUN_DIR` join, also when started by hand
    # the built-in optuna backend, also with one process, waits for trials of hand-started workers, and
    # for a trial left running by a killed earlier run until its heartbeat is stale, then reruns it
    backend_for(ctx.config, ctx.manager).run(ctx, session)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError(f"search: none of {len(study.trials)} trial(s) completed within the budget "
                          f"(trials={search.trials}, timeout_s={search.timeout_s}); raise search.timeout_s.")
    best = study.best_trial
    cand = choices[str(best.params.get(BACKBONE, next(iter(choices))))]
    overrides = {**cand.train_overrides, **{k: v for k, v in best.params.items() if k != BACKBONE}}
    desc = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    chosen = cand.model_copy(update={
        "name": f"s{best.number}-{cand.name}", "train_overrides": overrides,
        "reason": f"Optuna search: best of {len(study.trials)} trials, val {metric} {best.value:.4f} ({desc})",
    })
    trials = [{
        "number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params,
        "worker": t.user_attrs.get("worker"),
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
        "duration_s": round(t.duration.total_seconds(), 2) if t.duration else None,
    } for t in study.trials]
    metrics = {
        "study_name": name, "storage": redact(url), "direction": direction, "metric": f"val_{metric}",
        "budget": {"trials": search.trials, "timeout_s": search.timeout_s}, "workers": search.workers,
        "backend": search.backend,
        "n_trials": len(trials), "n_complete": len(complete),
        "n_pruned": sum(t["state"] == "pruned" for t in trials),
        "n_failed": sum(t["state"] == "fail" for t in trials),
        "best_trial": best.number, "best_value": best.value, "best_params": best.params,
        "candidate": chosen.model_dump(mode="json"), "trials": trials,
        "seconds_this_run": round(time.perf_counter() - t0, 2),
    }
    return chosen, metrics


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def plot_trials(metrics: dict[str, Any], path: Path) -> bool:
    """search.png: the value of every trial (pruned ones marked) and the per-epoch curves."""
    trials = metrics.get("trials") or []
    if not trials:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"complete": "tab:blue", "pruned": "tab:orange", "fail": "tab:red", "running": "tab:gray"}
    for t in trials:
        value = t["value"]
        if value is None and t["intermediate"]:
            value = list(t["intermediate"].values())[-1]
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            a1.scatter(t["number"], value, color=colours.get(t["state"], "black"),
                       marker="*" if t["number"] == metrics.get("best_trial") else "o",
                       s=160 if t["number"] == metrics.get("best_trial") else 40)
        if t["intermediate"]:
            xs = [int(k) for k in t["intermediate"]]
            a2.plot(xs, list(t["intermediate"].values()), marker=".", color=colours.get(t["state"], "black"),
                    alpha=0.8, linestyle="--" if t["state"] == "pruned" else "-")
    for state, colour in colours.items():
        if any(t["state"] == state for t in trials):
            a1.scatter([], [], color=colour, label=state)
    from matplotlib.ticker import MaxNLocator

    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.legend(fontsize=8)
    a1.set_xlabel("trial")
    a1.set_ylabel(metrics.get("metric", "value"))
    a1.set_title(f"{metrics.get('n_trials')} trials, best #{metrics.get('best_trial')} (star)")
    a2.set_xlabel("epoch")
    a2.set_ylabel(metrics.get("metric", "value"))
    a2.set_title("per-epoch validation (dashed: pruned)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True

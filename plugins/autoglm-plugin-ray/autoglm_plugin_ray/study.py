"""The run's Optuna study as the Ray backend sees it: its budget and the trials a killed driver left."""

from __future__ import annotations

from typing import Any


def counted_trials(study: Any) -> int:
    """Trials that use up the budget, as the core counts them: finished, pruned and running ones."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))


def requeue_running(study: Any) -> list[int]:
    """Fail the trials still marked running and queue a copy of each with the same parameters.

    Ray trials are created with ``study.ask()`` in the driver, which sends no heartbeat; a trial is
    only left running when that driver died (a killed run that is resumed), so nobody else will
    finish it. Returns the numbers of the failed trials."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
    return [t.number for t in stale]

"""Ray Tune's OptunaSearch, recording what the core's objective records.

The core's objective reports the validation metric of every epoch (``trial.report(value, epoch)``) and
returns the best epoch's value. A Ray trial reports one Tune result per epoch with ``value`` (that
epoch's metric), ``epoch`` and ``objective`` (the best so far, which Tune's metric is set to, so the
trial's final value is the best epoch's as well); this searcher stores ``value`` at step ``epoch``
instead of OptunaSearch's ``objective`` at Tune's iteration counter, and which Ray node trained it as
the trial's ``worker``.
"""

from __future__ import annotations

from typing import Any

from ray.tune.search.optuna import OptunaSearch


class StudySearch(OptunaSearch):
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        if result.get("value") is not None and result.get("epoch") is not None:
            ot_trial.report(float(result["value"]), int(result["epoch"]))
        if result.get("worker"):
            ot_trial.set_user_attr("worker", result["worker"])

    # the study itself is the record (and --resume reads it); Tune's own searcher checkpoint would
    # pickle the storage and the space for nothing
    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None

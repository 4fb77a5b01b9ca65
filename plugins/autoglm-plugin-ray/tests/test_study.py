"""What the ray backend does to the run's study before it starts Ray: trials a killed driver left
running are failed and queued again with their parameters, and the budget counts as the core counts it."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna", reason="search needs optuna (pip install 'autoglm-core[search]')")

from autoglm_plugin_ray.study import counted_trials, requeue_running  # noqa: E402


def test_a_trial_left_running_is_failed_and_queued_again_with_its_parameters(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'search.db'}", direction="maximize")
    done = study.ask()
    done.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    study.tell(done, 0.5)
    orphan = study.ask()  # what a killed driver leaves behind
    lr = orphan.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    assert counted_trials(study) == 2  # a running trial holds a budget slot, as in the core

    assert requeue_running(study) == [orphan.number]
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[orphan.number] == optuna.trial.TrialState.FAIL
    assert counted_trials(study) == 1  # failed trials are retried, not counted
    retry = study.ask()  # the next trial Ray's searcher asks for is the queued copy
    assert retry.suggest_float("learning_rate", 1e-4, 1e-2, log=True) == lr  # the same parameters
    assert retry.user_attrs["retry_of"] == orphan.number
    assert requeue_running(study) == [retry.number] and not requeue_running(study)

"""The search-backend seam: a backend registered by a plugin runs the trials, the core reports them;
unknown names and missing plugins are clear errors at plan time."""

from __future__ import annotations

import json

import pytest

from autoglm_core import AutoTask, SearchBackend, StrictModel, hookimpl
from autoglm_core.cli.main import main
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import AutoGLMError

BASE = {"train": {"batch_size": 8, "epochs": 1}, "compress": [], "zero_shot": {"enabled": False},
        "evaluate": {"latency_repeats": 1, "latency_examples": 4}}
SPACE = {"learning_rate": [1e-4, 1e-2, "log"]}


class QueueOptions(StrictModel):
    rates: list[float]


class QueueBackend(SearchBackend):
    """Runs exactly the learning rates it is given, through the session's objective."""

    name = "queued"
    Options = QueueOptions

    def run(self, context, session):
        study = session["study"]
        for lr in self.options.rates:
            study.enqueue_trial({"learning_rate": lr})
        study.optimize(session["objective"], n_trials=len(self.options.rates))


class QueuePlugin:
    @hookimpl
    def autoglm_register_search_backends(self, register):
        register(QueueBackend)


@pytest.fixture()
def news_csv(tmp_path):
    return write_csv(tmp_path / "news.csv", sample_examples(60))


def make_task(csv, out, search):
    config = json.loads(json.dumps(BASE)) | {"search": search}
    return AutoTask.create(task_type="text_classification", dataset=csv, out=out, config=config,
                           description="Classify news sentiment", backbones=["tiny-bert"])


@pytest.mark.slow
@pytest.mark.hook("autoglm_register_search_backends")
def test_a_plugin_backend_runs_the_trials_and_the_core_reports_them(news_csv, tmp_path):
    get_manager().register(QueuePlugin(), name="test-search-backends")
    rates = [3e-3, 2e-4]
    search = {"trials": 2, "space": SPACE, "backend": "queued", "backend_options": {"rates": rates}}
    report = make_task(news_csv, tmp_path / "run", search).auto_build().launch(progress=False)
    m = next(s for s in report.stages if s.stage == "search").metrics
    assert m["backend"] == "queued" and m["n_trials"] == 2 and m["n_complete"] == 2
    assert [t["params"]["learning_rate"] for t in m["trials"]] == rates  # exactly what the backend ran
    assert all(list(t["intermediate"]) == ["1"] for t in m["trials"])  # the objective reported epoch 1
    best = max(m["trials"], key=lambda t: t["value"])
    assert m["best_trial"] == best["number"]
    assert report.candidates[0].name == f"s{best['number']}-c0-tiny-bert"


def test_backend_options_are_checked_by_the_backend_at_plan_time(news_csv, tmp_path):
    get_manager().register(QueuePlugin(), name="test-search-backends")
    search = {"trials": 2, "space": SPACE, "backend": "queued", "backend_options": {"rate": [1e-3]}}
    with pytest.raises(AutoGLMError, match=r"search.backend_options of search backend 'queued'.*rate"):
        make_task(news_csv, tmp_path / "run", search).auto_build()
    assert not (tmp_path / "run" / "search.db").exists()  # nothing ran


def test_the_default_backend_is_optuna(news_csv, tmp_path):
    task = make_task(news_csv, tmp_path / "run", {"trials": 1, "space": SPACE})
    assert task.config.search.backend == "optuna"
    assert get_manager().registry("search backend").entry("optuna").plugin == "autoglm_core.training.search_backends"


def run_cli(csv, tmp_path, backend, capsys):
    config = tmp_path / "search.json"
    config.write_text(json.dumps(BASE | {"search": {"trials": 1, "space": SPACE}}), encoding="utf-8")
    code = main(["run", "Classify news sentiment", "--data", str(csv), "--backbone", "tiny-bert", "--config",
                 str(config), "--out", str(tmp_path / "run"), "--search-backend", backend, "--no-progress"])
    return code, capsys.readouterr().err


def test_search_backend_ray_without_the_plugin_names_the_install(news_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOGLM_DISABLE_PLUGINS", "ray")  # as if autoglm-plugin-ray were not installed
    code, err = run_cli(news_csv, tmp_path, "ray", capsys)
    assert code == 2, err
    assert "unknown search backend 'ray'" in err and "pip install ./plugins/autoglm-plugin-ray" in err
    assert "search.backend (--search-backend)" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "search.db").exists()


def test_a_misspelt_search_backend_suggests_the_known_one(news_csv, tmp_path, capsys):
    code, err = run_cli(news_csv, tmp_path, "optuan", capsys)
    assert code == 2 and "Did you mean 'optuna'?" in err and "Traceback" not in err


def test_search_backend_without_a_search_section_is_refused(news_csv, tmp_path, capsys):
    code = main(["run", "Classify news sentiment", "--data", str(news_csv), "--backbone", "tiny-bert",
                 "--out", str(tmp_path / "run"), "--search-backend", "optuna", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--search-backend" in err and "no 'search:' section" in err

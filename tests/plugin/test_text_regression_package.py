"""Done-when of the task-type contract: a text-regression task type written from the guide alone
(tests/plugin/packages/autoglm_text_regression, facade imports only) runs end to end: selection on
held-out data, its metrics in report.md and report.html, and `autoglm predict` working."""

import ast
import csv
import json
import random
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent / "packages" / "autoglm_text_regression"


@pytest.fixture
def regression(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGE.parent))
    sys.modules.pop("autoglm_text_regression", None)
    import autoglm_text_regression

    from autoglm_core import get_manager

    get_manager().register(autoglm_text_regression, name="text-regression")
    return autoglm_text_regression


def write_data(path: Path, rows: int = 90) -> Path:
    rng = random.Random(0)
    words = {"great": 2.0, "good": 1.0, "bad": -1.0, "awful": -2.0}
    filler = ["the", "food", "service", "was", "and", "room", "staff"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for _ in range(rows):
            picked = rng.sample(list(words), 2)
            text = " ".join(rng.sample(filler, 3) + picked)
            out.writerow([text, f"{sum(words[w] for w in picked) + rng.uniform(-0.2, 0.2):.3f}"])
    return path


def test_the_package_imports_only_the_facade():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in modules if m and m.startswith("autoglm_core")}
    assert ours == {"autoglm_core"}


def test_text_regression_runs_end_to_end(regression, tmp_path, capsys):
    from autoglm_core import AutoTask
    from autoglm_core.cli.main import main

    data = write_data(tmp_path / "scores.csv")
    task = AutoTask.create(task_type="text_regression", dataset=data, description="predict review scores",
                           out=tmp_path / "run", config={"evaluate": {"evaluators": ["size"]}})
    report = task.auto_build().launch(progress=False)

    assert report.data.label_counts == {} and sum(report.data.split_sizes.values()) == 90
    assert report.best is not None and report.best.candidate in ("ridge-0.1", "ridge-100")
    # selection decided on held-out RMSE (lower is better), never on the test split
    assert "val_rmse" in report.selection_reason and "lower" in report.selection_reason
    trained = [v for v in report.variants if v.variant == "fine-tuned"]
    assert report.best.metrics["val_rmse"] == min(v.metrics["val_rmse"] for v in trained)
    assert report.best.latency_ms  # built.predict was timed

    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "rmse" in md and "mae" in md and "Labels:" not in md and "macro-F1" not in md
    assert "held-out rmse" in md and "held-out rmse | test rmse | fold" in md
    assert "params" in md.split("## Evaluator metrics")[1]  # the plugin evaluator's numbers
    assert "rmse" in html and "macro-F1" not in html and ">params<" in html

    assert main(["predict", str(tmp_path / "run" / "model"), "great food and good staff",
                 "awful room and bad service"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [set(line) for line in lines] == [{"text", "value"}] * 2
    assert lines[0]["value"] > lines[1]["value"]


def test_a_task_type_without_held_out_metrics_fails_at_plan_time(regression, tmp_path):
    from autoglm_core import AutoTask, ConfigError

    class NoHeldOut(regression.TextRegression):
        name = "text_regression_test_only"
        reports_held_out = False

        def candidates(self, spec):  # the package's generator proposes for its own task type only
            return regression.autoglm_generate_candidates(spec.model_copy(update={"task_type": "text_regression"}))

    from autoglm_core import get_manager

    get_manager().registry("task type").register(NoHeldOut, plugin="text-regression")
    task = AutoTask.create(task_type="text_regression", dataset=write_data(tmp_path / "d.csv"), out=tmp_path / "r")
    task.spec = task.spec.model_copy(update={"task_type": "text_regression_test_only"})
    with pytest.raises(ConfigError, match=r"reports no held-out metrics.*val_rmse.*reports_held_out = True"):
        task.auto_build()

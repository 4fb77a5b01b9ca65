"""The mlflow tracker against real MLflow stores: the default SQLite store in the run folder (read
back with the client), an `mlflow server` on 127.0.0.1 over HTTP, and a dead server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autoglm_core.cli.main import main
from autoglm_core.testing import sample_examples, write_csv

pytest.importorskip("mlflow", reason="the mlflow tracker needs mlflow (pip install ./plugins/autoglm-plugin-mlflow)")

from autoglm_plugin_mlflow import MlflowTracker  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

RUN_ARGS = ["--backbone", "tiny-bert", "--epochs", "2", "--compress", "", "--no-zero-shot", "--overwrite"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runs_by_name(client: MlflowClient) -> dict[str, object]:
    exp = client.get_experiment_by_name("autoglm")
    assert exp is not None
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


@pytest.mark.slow
def test_autoglm_run_track_mlflow_logs_nested_runs_metrics_and_artifacts(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = write_csv(tmp_path / "news.csv", sample_examples(60))
    out = tmp_path / "fin"
    code = main(["run", "Classify financial news sentiment as positive, negative or neutral", "--data", str(data),
                 "--out", str(out), "--track", "mlflow", *RUN_ARGS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "tracker 'mlflow' failed" not in captured.out + captured.err
    client = MlflowClient(tracking_uri=f"sqlite:///{out.resolve() / 'mlflow.db'}")
    runs = runs_by_name(client)
    parent, cand, fine = runs["fin"], runs["c0-tiny-bert"], runs["fine-tuned"]
    assert parent.info.status == cand.info.status == fine.info.status == "FINISHED"
    assert cand.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert fine.data.tags["mlflow.parentRunId"] == cand.info.run_id
    # params: spec, config, candidate; tags: the manifest
    assert parent.data.params["spec.task_type"] == "text_classification"
    assert parent.data.params["config.train.epochs"] == "2"
    assert cand.data.params["candidate.backbone"] == "tiny-bert"
    assert parent.data.tags["autoglm.seed"] == "0" and "autoglm.version.torch" in parent.data.tags
    assert len(parent.data.tags["autoglm.data.0.sha256"]) == 64
    # metrics: one train_loss per optimizer step, validation per epoch, final metrics of the variant
    import json

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    train = next(s for s in report["stages"] if s["stage"] == "train")
    losses = client.get_metric_history(cand.info.run_id, "train_loss")
    assert sorted(m.step for m in losses) == list(range(1, train["metrics"]["steps"] + 1))
    val = client.get_metric_history(cand.info.run_id, "val_accuracy")
    assert sorted(m.step for m in val) == [1, 2]
    assert fine.data.metrics["accuracy"] == pytest.approx(report["best"]["metrics"]["accuracy"])
    assert parent.data.metrics["best.accuracy"] == pytest.approx(report["best"]["metrics"]["accuracy"])
    # artefacts: report, plots, the exported model with its model card
    top = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "report.json", "report.md", "model", "plots"} <= top
    model = {f.path for f in client.list_artifacts(parent.info.run_id, "model")}
    assert "model/README.md" in model and "model/model.safetensors" in model
    assert parent.data.tags["autoglm.model_card"] == "model/README.md"


@pytest.mark.slow
def test_dead_server_costs_one_warning_and_the_run_finishes(tmp_path, monkeypatch, capsys):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    data = write_csv(tmp_path / "news.csv", sample_examples(60))
    out = tmp_path / "run"
    code = main(["run", "news sentiment", "--data", str(data), "--out", str(out), "--track", "mlflow", *RUN_ARGS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = (out / "report.json").read_text(encoding="utf-8")
    assert report.count("tracker 'mlflow' failed") == 1
    assert captured.out.count("tracker 'mlflow' failed") == 1  # printed once with the other warnings
    assert (out / "model" / "README.md").is_file() and (out / "report.html").is_file()


@pytest.mark.skipif(shutil.which("mlflow") is None and not (Path(sys.executable).parent / "mlflow").exists(),
                    reason="the mlflow command is not installed")
@pytest.mark.slow
def test_logs_to_an_mlflow_server_over_http(tmp_path):
    port = free_port()
    exe = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "false"},
        start_new_session=True)
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:  # bounded wait for the server to answer
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mlflow server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        tracker = MlflowTracker({"tracking_uri": uri, "request_timeout_s": 30})
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "report.md").write_text("# report\n", encoding="utf-8")
        tracker.start_run(tmp_path / "run", "http-run", {"spec.task_type": "text_classification"}, {"autoglm.seed": "3"})
        for step in range(1, 6):
            tracker.log_metrics({"train_loss": 1.0 / step}, step=step, scope="c0")
        tracker.log_metrics({"accuracy": 0.75}, scope="c0/fine-tuned")
        tracker.log_artifact(tmp_path / "run" / "report.md")
        tracker.end_run()
        client = MlflowClient(tracking_uri=uri)
        runs = runs_by_name(client)
        parent, cand = runs["http-run"], runs["c0"]
        assert parent.data.params["spec.task_type"] == "text_classification"
        assert parent.data.tags["autoglm.seed"] == "3"
        assert [m.value for m in sorted(client.get_metric_history(cand.info.run_id, "train_loss"),
                                        key=lambda m: m.step)] == pytest.approx([1, 0.5, 1 / 3, 0.25, 0.2])
        assert runs["fine-tuned"].data.metrics["accuracy"] == 0.75
        assert runs["fine-tuned"].data.tags["mlflow.parentRunId"] == cand.info.run_id
        assert [f.path for f in client.list_artifacts(parent.info.run_id)] == ["report.md"]
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=20)
        log.close()

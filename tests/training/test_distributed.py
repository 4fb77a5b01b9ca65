"""Training in 2 processes (torch.distributed.run + accelerate, gloo on CPU) with a tiny BERT.

Correctness: with the global batch B split across 2 ranks (accelerate ``split_batches``), every
optimizer step sees the same B examples as one process with batch B, and DDP averages the two
half-batch mean gradients = the full-batch mean gradient. The end parameters must agree with the
single-process run within ATOL (measured ~2e-7: float summation order and per-slice padding).
"""

from __future__ import annotations

import re
import time

import pytest

from autoglm_core.testing import sample_examples, tiny_text_classifier, write_csv
from autoglm_core.training.distributed_setup import DistributedTrainingError, usable_cpus
from autoglm_core.training.finetune import fine_tune
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import PipelineConfig, TrainConfig, validate

ATOL = 1e-5  # max |param_2proc - param_1proc| after 8 AdamW steps; the params themselves move ~4e-3

needs_two_cpus = pytest.mark.skipif(usable_cpus() < 2, reason="needs 2 CPU cores for 2 processes")

BASE = dict(epochs=2, learning_rate=1e-3, batch_size=16, warmup_ratio=0.0, max_length=32)


@pytest.fixture(scope="module")
def dist_setup():
    """One tokenizer and one initial model shared by every run, so that only the number of processes differs."""
    examples = sample_examples(64)  # 64 = 4 full batches of 16: no padded last batch
    built = tiny_text_classifier(texts=[e.text for e in examples])
    cfg = built.model.config
    cfg.hidden_dropout_prob = 0.0  # dropout masks differ per rank; without dropout the maths is identical
    cfg.attention_probs_dropout_prob = 0.0
    return examples, built, cfg, {k: v.clone() for k, v in built.model.state_dict().items()}


def fresh(setup):
    _, built, cfg, state = setup
    model = type(built.model)(cfg)
    model.load_state_dict(state)
    return model


def max_diff(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


def train(setup, validation=(), **overrides):
    examples, built, _, _ = setup
    return fine_tune(fresh(setup), built.tokenizer, examples, list(validation), built.labels,
                     TrainConfig(**(BASE | overrides)), seed=0, device="cpu", progress=False)


@pytest.mark.slow
@needs_two_cpus
def test_sync_two_processes_end_with_the_parameters_of_one_process(dist_setup):
    one = train(dist_setup)
    two = train(dist_setup, num_processes=2)
    assert two.num_processes == 2 and one.num_processes == 1
    assert two.steps == one.steps == 8 and two.syncs == 8  # one gradient all-reduce per step
    moved = max_diff(one.model, fresh(dist_setup))
    assert moved > 1e-3  # training really changed the weights, so agreement below means something
    assert max_diff(one.model, two.model) < ATOL
    # control: what each rank would do alone (batch B/2) is far outside the tolerance
    half = train(dist_setup, batch_size=8, max_steps=8)
    assert max_diff(half.model, two.model) > 100 * ATOL
    assert [round(h["train_loss"], 4) for h in two.history] == [round(h["train_loss"], 4) for h in one.history]


@pytest.mark.slow
@needs_two_cpus
def test_accumulate_syncs_every_k_micro_batches_and_matches_one_process(dist_setup):
    two = train(dist_setup, num_processes=2, sync_mode="accumulate", sync_every=2)
    assert two.steps == 4 and two.syncs == 4  # 8 micro-batches, an all-reduce every 2nd
    one = train(dist_setup, gradient_accumulation_steps=2)
    assert max_diff(one.model, two.model) < ATOL


@pytest.mark.slow
@needs_two_cpus
def test_local_sgd_with_lora_averages_parameters_and_returns_a_merged_model(dist_setup):
    examples = dist_setup[0]
    res = train(dist_setup, validation=examples[:12], num_processes=2, sync_mode="local-sgd", sync_every=2,
                method="lora", learning_rate=5e-3)
    assert type(res.model).__name__ == "BertForSequenceClassification"  # LoRA merged, no peft wrapper
    assert not any("lora" in k for k in res.model.state_dict())
    assert res.steps == 8 and res.syncs == 8 // 2 + 2  # every 2 steps + once per epoch before validation
    assert [h["epoch"] for h in res.history] == [1, 2] and "val_macro_f1" in res.history[0]
    assert res.best_epoch in (1, 2)
    assert max_diff(res.model, fresh(dist_setup)) > 1e-4  # merged LoRA deltas changed the weights


def test_more_processes_than_cores_is_a_clear_error(dist_setup, tmp_path):
    too_many = usable_cpus() + 1
    with pytest.raises(ConfigError, match=rf"train.num_processes={too_many} asks for more training processes than "
                                          rf"this machine can run: it has {usable_cpus()} usable CPU"):
        train(dist_setup, num_processes=too_many, batch_size=16 * too_many)
    # the CLI says it at plan time, before any work, in one paragraph with exit code 2
    from autoglm_core.cli.main import main

    csv = write_csv(tmp_path / "d.csv", sample_examples(30))
    assert main(["run", "Classify news sentiment", "--data", str(csv), "--backbone", "tiny-bert",
                 "--num-processes", str(too_many), "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


@needs_two_cpus
def test_batch_that_does_not_split_evenly_is_a_clear_error(dist_setup):
    with pytest.raises(ConfigError, match=r"train.batch_size=15 cannot be split evenly across train.num_processes=2"):
        train(dist_setup, num_processes=2, batch_size=15)


def test_unknown_sync_mode_names_the_field_and_the_choices():
    with pytest.raises(ConfigError) as err:
        validate(PipelineConfig, {"train": {"sync_mode": "async"}}, source="cfg.yaml")
    msg = str(err.value)
    assert "cfg.yaml" in msg and "train.sync_mode" in msg and "'async'" in msg
    assert "'sync', 'accumulate' or 'local-sgd'" in msg


@pytest.mark.slow
@needs_two_cpus
def test_a_crashing_worker_stops_the_run_with_its_rank_and_error_and_the_run_resumes(tmp_path, monkeypatch):
    from autoglm_core import AutoTask

    csv = write_csv(tmp_path / "news.csv", sample_examples(60))
    config = {"train": {"epochs": 2, "batch_size": 8, "num_processes": 2}, "compress": [],
              "zero_shot": {"enabled": False}, "evaluate": {"latency_repeats": 1, "latency_examples": 4}}

    def task():
        return AutoTask.create(task_type="text_classification", dataset=csv, out=tmp_path / "run", config=config,
                               description="Classify news sentiment", backbones=["tiny-bert"])

    # rank 1 raises at its 3rd micro-batch while rank 0 waits in the gradient all-reduce
    monkeypatch.setenv("AUTOGLM_DIST_FAULT", "1:3")
    t0 = time.perf_counter()
    with pytest.raises(DistributedTrainingError) as err:
        task().auto_build().launch(progress=False)
    assert time.perf_counter() - t0 < 240  # torchrun stops rank 0: no hang
    msg = str(err.value)
    assert "worker rank 1 of 2 raised RuntimeError: injected fault" in msg and "--resume" in msg
    stages = tmp_path / "run" / "stages"
    assert (stages / "data.json").exists() and not _train_done(stages / "c0-tiny-bert__train.json")

    monkeypatch.delenv("AUTOGLM_DIST_FAULT")
    report = task().auto_build().launch(resume=True, progress=False)
    train_stage = next(s for s in report.stages if s.key == "c0-tiny-bert/train")
    assert train_stage.status == "ok" and train_stage.metrics["train_config"]["num_processes"] == 2
    assert report.best is not None and (tmp_path / "run" / "model" / "model.safetensors").exists()


# --------------------------------------------------------------------------- two nodes on one machine


def _train_done(path) -> bool:
    """A train stage that failed may be recorded (status "failed"): --resume runs it again."""
    import json

    return path.exists() and json.loads(path.read_text())["status"] == "ok"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_env(rank: int, port: int, job_dir) -> dict[str, str]:
    return {"AUTOGLM_NNODES": "2", "AUTOGLM_NODE_RANK": str(rank), "AUTOGLM_RDZV_ENDPOINT": f"127.0.0.1:{port}",
            "AUTOGLM_RDZV_ID": f"test-{port}", "AUTOGLM_DIST_JOB_DIR": str(job_dir)}


def start_node(rank: int, port: int, job_dir):
    """Node ``rank`` > 0 as its own process: it joins every job the head posts in ``job_dir``."""
    import os
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from autoglm_core.training.distributed import serve_node; "
            "sys.exit(serve_node(Path(sys.argv[1]), 1, progress=False, idle_timeout_s=300))")
    return subprocess.Popen([sys.executable, "-c", code, str(job_dir)], env={**os.environ, **node_env(rank, port, job_dir)})


@pytest.mark.slow
@needs_two_cpus
def test_two_nodes_of_one_process_each_end_with_the_parameters_of_one_process(dist_setup, tmp_path, monkeypatch):
    from autoglm_core.training.distributed import finish_nodes

    port, job_dir = free_port(), tmp_path / "job"
    other = start_node(1, port, job_dir)
    try:
        for k, v in node_env(0, port, job_dir).items():
            monkeypatch.setenv(k, v)
        two = train(dist_setup)  # num_processes=1 per node, 2 nodes: world size 2
        finish_nodes(job_dir, ok=True)
        assert other.wait(120) == 0  # the other node returns once the head says the run is over
    finally:
        other.kill()
    for k in node_env(0, port, job_dir):
        monkeypatch.delenv(k)
    one = train(dist_setup)
    assert two.num_processes == 2 and two.steps == one.steps == 8
    assert max_diff(one.model, fresh(dist_setup)) > 1e-3
    assert max_diff(one.model, two.model) < ATOL
    assert not (job_dir / "out").exists() or not list((job_dir / "out").glob("*rank1*"))  # rank 0 writes alone


def test_multi_node_settings_that_cannot_work_are_clear_errors(monkeypatch, tmp_path):
    from autoglm_core.training.distributed_setup import node_setup

    monkeypatch.setenv("AUTOGLM_NNODES", "2")
    monkeypatch.setenv("AUTOGLM_NODE_RANK", "2")
    with pytest.raises(ConfigError, match="--node-rank must be between 0 and --nnodes - 1"):
        node_setup()
    monkeypatch.setenv("AUTOGLM_NODE_RANK", "1")
    monkeypatch.setenv("AUTOGLM_RDZV_ENDPOINT", "nohost")
    with pytest.raises(ConfigError, match="--rdzv-endpoint must be HOST:PORT"):
        node_setup()
    # the CLI: a batch that does not split across 2 nodes is refused at plan time, exit 2, no run folder
    from autoglm_core.cli.main import main

    for k in ("AUTOGLM_NNODES", "AUTOGLM_NODE_RANK", "AUTOGLM_RDZV_ENDPOINT"):
        monkeypatch.delenv(k)
    monkeypatch.delenv("AUTOGLM_DIST_JOB_DIR", raising=False)
    csv = write_csv(tmp_path / "d.csv", sample_examples(30))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {batch_size: 15}\n")
    args = ["run", "Classify news sentiment", "--data", str(csv), "--backbone", "tiny-bert", "--config", str(cfg),
            "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "127.0.0.1:1", "--out", str(tmp_path / "r")]
    assert main(args) == 2
    assert not (tmp_path / "r" / "stages").exists()


def _descendants(pid: int) -> list[int]:
    from pathlib import Path

    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


@pytest.mark.slow
@needs_two_cpus
def test_killing_a_node_is_a_named_error_on_the_other_and_resume_finishes(tmp_path):
    """Two `autoglm run` processes, the same command but --node-rank; node 1 dies in training."""
    import os
    import signal
    import subprocess
    import sys

    csv = write_csv(tmp_path / "news.csv", sample_examples(120))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {epochs: 6, patience: 6, batch_size: 8, dist_timeout_s: 60}\ncompress: []\n"
                   "zero_shot: {enabled: false}\nevaluate: {latency_repeats: 1, latency_examples: 4}\n")
    out, port = tmp_path / "run", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGLM_DIST")}

    def node(rank: int, *extra: str):
        cmd = [sys.executable, "-m", "autoglm_core.cli.main", "run", "Classify news sentiment", "--data", str(csv),
               "--backbone", "tiny-bert", "--config", str(cfg), "--out", str(out), "--no-progress", "--nnodes", "2",
               "--node-rank", str(rank), "--rdzv-endpoint", f"127.0.0.1:{port}", *extra]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    head, other = node(0), node(1)
    progress = out / ".dist-job" / "progress.jsonl"
    deadline = time.monotonic() + 300
    while not (progress.exists() and progress.read_text().strip()):  # rank 0 finished an epoch
        assert time.monotonic() < deadline and head.poll() is None, head.communicate()[0][-3000:]
        time.sleep(0.1)
    for pid in reversed(_descendants(other.pid)):  # the whole machine goes down
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    t0 = time.monotonic()
    text = head.communicate(timeout=180)[0]
    assert time.monotonic() - t0 < 120  # a named error well within the collective timeout, no hang
    assert head.returncode == 2, text[-3000:]
    # torchrun's c10d rendezvous numbers the ranks in arrival order: the lost one may be 0 or 1
    assert "distributed training failed" in text and "--resume" in text
    assert re.search(r"Ranks \[[01]\] reported no error: they were killed or lost their node", text), text[-3000:]
    assert "Traceback" not in text
    assert not _train_done(out / "stages" / "c0-tiny-bert__train.json")

    head, other = node(0, "--resume"), node(1)
    text = head.communicate(timeout=900)[0]
    assert head.returncode == 0, text[-3000:]
    assert other.wait(60) == 0  # node 1 hears that the run is over
    import json

    stage = json.loads((out / "stages" / "c0-tiny-bert__train.json").read_text())
    assert stage["status"] == "ok" and (out / "model" / "model.safetensors").exists()

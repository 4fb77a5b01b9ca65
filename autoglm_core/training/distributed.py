"""Training in several processes: torch.distributed.run (torchrun) launches the workers, accelerate
wraps the model in DDP (CPU: gloo, GPU: NCCL) and shards the batches.

The parent process (the pipeline) never joins the process group. It writes a *job folder*::

    job.json        TrainConfig, seed, device, model class
    data.json       training and validation examples, labels
    init/           the model to start from + tokenizer (safetensors; identical start on every rank)

and runs ``python -m torch.distributed.run --nproc_per_node N -m autoglm_core.training.distributed_worker JOB``.
Every worker loads ``init/`` and trains through the same loop as one process: a classification job
calls :func:`autoglm_core.training.finetune.fine_tune`; any other task type's job names its training
recipe (:mod:`autoglm_core.training.recipe`), which the worker imports to build the same LoopSpec
from ``data.json``. ``batch_size`` is the *global* batch, accelerate's ``split_batches`` gives each
rank its slice of every batch. Rank 0 writes ``out/`` (model) and ``result.json``; the parent loads it.

Failures: a worker that raises writes ``error_rank<R>.json`` (type, message, traceback) and exits;
torchrun then stops the other workers; the parent raises :class:`DistributedTrainingError` naming
the first failing rank. A worker stuck in a collective fails after ``train.dist_timeout_s``.

Several machines: see docs/distributed.md (``AUTOGLM_TORCHRUN_ARGS`` and ``AUTOGLM_DIST_JOB_DIR``).
This module is the launch (the parent and the other nodes); the environment and the plan-time
checks are :mod:`autoglm_core.training.distributed_setup`, the worker side
:mod:`autoglm_core.training.distributed_worker`.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autoglm_core.training.distributed_setup import (
    FINISHED_FILE,
    JOB_DIR_ENV,
    TORCHRUN_ARGS_ENV,
    WORKER_ENV,
    DistributedTrainingError,
    NodeSetup,
    check_num_processes,
    node_setup,
    resolve_device,
)
from autoglm_core.training.loop import TrainResult
from autoglm_core.types.data import Example
from autoglm_core.types.schemas import TrainConfig

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- parent side


def classification_data(train: Sequence[Example], validation: Sequence[Example], labels: Sequence[str]) -> dict[str, Any]:
    return {
        "labels": list(labels),
        "train": [{"text": ex.text, "label": ex.label} for ex in train],
        "validation": [{"text": ex.text, "label": ex.label} for ex in validation],
    }


def write_job(job_dir: Path, model: Any, tokenizer: Any, data: dict[str, Any], config: TrainConfig, seed: int,
              device: str, progress: bool, desc: str, recipe: str | None = None) -> None:
    (job_dir / "init").mkdir(parents=True, exist_ok=True)
    model.save_pretrained(job_dir / "init", safe_serialization=True)
    tokenizer.save_pretrained(job_dir / "init")
    (job_dir / "data.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    job = {"config": config.model_dump(mode="json"), "seed": seed, "device": device, "progress": progress,
           "desc": desc, "model_class": type(model).__name__, "recipe": recipe, "created": time.time()}
    # job.json last: remote workers wait for it, so everything it refers to is there when it appears
    tmp = job_dir / "job.json.partial"
    tmp.write_text(json.dumps(job), encoding="utf-8")
    tmp.rename(job_dir / "job.json")


def torchrun_command(job_dir: Path, num_processes: int, nodes: NodeSetup | None = None) -> list[str]:
    extra = os.environ.get(TORCHRUN_ARGS_ENV)
    nodes = nodes or node_setup()
    if nodes.multi:
        rdzv = nodes.torchrun_args()
    else:  # --standalone: local rendezvous on a free port
        rdzv = shlex.split(extra) if extra else ["--standalone"]
    return [sys.executable, "-m", "torch.distributed.run", *rdzv, f"--nproc_per_node={num_processes}",
            "--max_restarts=0", "-m", "autoglm_core.training.distributed_worker", str(job_dir)]


def _pump(stream: Any, log_path: Path, echo: bool) -> None:
    with open(log_path, "ab") as fh:
        for chunk in iter(lambda: stream.read1(4096), b""):
            fh.write(chunk)
            fh.flush()
            if echo:
                sys.stderr.buffer.write(chunk)
                sys.stderr.buffer.flush()


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """Stop torchrun and its workers (their own process group, started by us)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def worker_error(job_dir: Path, returncode: int, log_path: Path) -> DistributedTrainingError:
    errors = []
    for path in job_dir.glob("error_rank*.json"):
        try:
            errors.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    if errors:
        # the first rank to fail is the cause; the others usually fail after it (connection closed)
        first = min(errors, key=lambda e: e["time"])
        others = sorted(e["rank"] for e in errors if e is not first)
        tail = first["traceback"].strip().splitlines()[-6:]
        more = f" Ranks {others} failed after it." if others else ""
        silent = sorted(set(range(int(first["world_size"]))) - {int(e["rank"]) for e in errors})
        if silent:  # a rank that was killed (or whose machine went down) writes nothing
            more += (f" Ranks {silent} reported no error: they were killed or lost their node, and the rank(s) above "
                     f"failed waiting for them.")
        return DistributedTrainingError(
            f"distributed training failed: worker rank {first['rank']} of {first['world_size']} raised "
            f"{first['type']}: {first['message']}.{more} The train stage was not recorded as done: fix the cause and "
            f"rerun with --resume. Last lines of its traceback: " + " | ".join(x.strip() for x in tail)
        )
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:] if log_path.exists() else ""
    return DistributedTrainingError(
        f"distributed training failed: torchrun exited with status {returncode} and no worker reported an error "
        f"(killed by a signal or out of memory?). The train stage was not recorded as done; rerun with --resume. "
        f"Launcher output (end): {tail}"
    )


def fine_tune_distributed(model: Any, tokenizer: Any, train: Sequence[Example], validation: Sequence[Example],
                          labels: Sequence[str], config: TrainConfig, *, seed: int = 0, device: str = "auto",
                          progress: bool = True, desc: str = "train",
                          on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> Any:
    """:func:`autoglm_core.training.finetune.fine_tune` in ``config.num_processes`` processes; returns its TrainResult."""
    return run_distributed(model, tokenizer, classification_data(train, validation, labels), config, seed=seed,
                           device=device, progress=progress, desc=desc, on_epoch=on_epoch)


def run_distributed(model: Any, tokenizer: Any, data: dict[str, Any], config: TrainConfig, *, recipe: str | None = None,
                    seed: int = 0, device: str = "auto", progress: bool = True, desc: str = "train",
                    on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> Any:
    """The shared loop in ``config.num_processes`` processes on ``data``: the classification loop
    without ``recipe``, else the LoopSpec that recipe builds (see :mod:`autoglm_core.training.recipe`)."""
    device = resolve_device(device)
    n = config.num_processes
    nodes = node_setup()
    check_num_processes(n, device, config.batch_size, nnodes=nodes.nnodes)
    given = os.environ.get(JOB_DIR_ENV)
    job_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="autoglm-dist-"))
    job_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("job.json", "result.json", "progress.jsonl", "launcher.log", "out"):
        p = job_dir / stale
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    for p in job_dir.glob("error_rank*.json"):
        p.unlink()
    try:
        write_job(job_dir, model, tokenizer, data, config, seed, device, progress, desc, recipe)
        cmd = torchrun_command(job_dir, n, nodes)
        log.info("%s: launching %d training processes on this node (%d node(s)): %s", desc, n, nodes.nnodes,
                 shlex.join(cmd))
        env = dict(os.environ)
        env.pop(WORKER_ENV, None)
        log_path = job_dir / "launcher.log"
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        pump = threading.Thread(target=_pump, args=(proc.stdout, log_path, progress), daemon=True)
        pump.start()
        progress_path, seen = job_dir / "progress.jsonl", 0
        try:
            while True:
                done = proc.poll() is not None
                if on_epoch is not None and progress_path.exists():
                    lines = progress_path.read_text(encoding="utf-8").splitlines()
                    for line in lines[seen:]:
                        rec = json.loads(line)
                        on_epoch(int(rec["epoch"]), rec)  # may raise (pruning): the finally stops the workers
                    seen = len(lines)
                if done:
                    break
                time.sleep(0.3)
        finally:
            _stop(proc)
            pump.join(5)
        if proc.returncode != 0 or not (job_dir / "result.json").exists():
            raise worker_error(job_dir, proc.returncode, log_path)
        info = json.loads((job_dir / "result.json").read_text(encoding="utf-8"))
        import transformers

        cls = getattr(transformers, info["model_class"])
        trained = cls.from_pretrained(job_dir / "out", use_safetensors=True)
        if device == "cuda":
            trained = trained.to("cuda")
        trained.eval()
        return TrainResult(model=trained, **{k: v for k, v in info.items() if k != "model_class"})
    finally:
        if not given:
            shutil.rmtree(job_dir, ignore_errors=True)
        else:  # workers started later on other machines must not pick up this finished job
            (job_dir / "job.json").unlink(missing_ok=True)


# --------------------------------------------------------------------------- other nodes


def finish_nodes(job_dir: Path, ok: bool, message: str = "") -> None:
    """Tell the other nodes that the head's run is over (they exit from :func:`serve_node`)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    tmp = job_dir / (FINISHED_FILE + ".partial")
    tmp.write_text(json.dumps({"ok": ok, "message": message, "time": time.time()}), encoding="utf-8")
    tmp.rename(job_dir / FINISHED_FILE)


def serve_node(job_dir: Path, num_processes: int, *, poll_s: float = 0.5, idle_timeout_s: float = 3600.0,
               progress: bool = True) -> int:
    """Run this node's share of every training job the head node (rank 0) posts in ``job_dir``.

    A node of rank > 0 has no pipeline of its own: each time the head writes ``job.json`` (one per
    train stage or search trial) it starts torchrun with this node's rank, which joins the head's
    rendezvous; it returns when the head writes :data:`FINISHED_FILE`. Returns the exit code.
    """
    nodes = node_setup()
    done_stamp = None
    started = quiet_since = time.monotonic()
    started_wall = time.time()
    while True:
        finished = job_dir / FINISHED_FILE
        try:
            info = json.loads(finished.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        # a marker left by an earlier run (written before this node started) is not the end of this one
        if info is not None and float(info.get("time", 0)) >= started_wall - 1.0:
            log.info("node %d: the head node's run is over (%s)", nodes.node_rank, "ok" if info.get("ok") else "failed")
            return 0 if info.get("ok") else 1
        job_path = job_dir / "job.json"
        try:
            stamp = json.loads(job_path.read_text(encoding="utf-8")).get("created")
        except (OSError, ValueError):
            stamp = None
        if stamp is None or stamp == done_stamp:
            if time.monotonic() - max(quiet_since, started) > idle_timeout_s:
                raise DistributedTrainingError(
                    f"node {nodes.node_rank}: no training job appeared in {job_dir} for {idle_timeout_s:g}s; is the "
                    f"head node (--node-rank 0) running with the same --out/{JOB_DIR_ENV}?")
            time.sleep(poll_s)
            continue
        cmd = torchrun_command(job_dir, num_processes, nodes)
        log.info("node %d: joining training job %s: %s", nodes.node_rank, stamp, shlex.join(cmd))
        env = dict(os.environ)
        env.pop(WORKER_ENV, None)
        out = None if progress else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        try:
            returncode = proc.wait()
        except BaseException:
            proc.terminate()  # torchrun stops its workers on SIGTERM
            proc.wait()
            raise
        if returncode != 0:
            raise worker_error(job_dir, returncode, job_dir / "launcher.log")
        done_stamp, quiet_since = stamp, time.monotonic()

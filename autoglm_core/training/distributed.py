"""Training in several processes: torch.distributed.run (torchrun) launches the workers, accelerate
wraps the model in DDP (CPU: gloo, GPU: NCCL) and shards the batches.

The parent process (the pipeline) never joins the process group. It writes a *job folder*::

    job.json        TrainConfig, seed, device, model class
    data.json       training and validation examples, labels
    init/           the model to start from + tokenizer (safetensors; identical start on every rank)

and runs ``python -m torch.distributed.run --nproc_per_node N -m autoglm_core.training.distributed JOB``.
Every worker loads ``init/`` and trains through the same loop as one process: a classification job
calls :func:`autoglm_core.training.finetune.fine_tune`; any other task type's job names its training
recipe (:mod:`autoglm_core.training.recipe`), which the worker imports to build the same LoopSpec
from ``data.json``. ``batch_size`` is the *global* batch, accelerate's ``split_batches`` gives each
rank its slice of every batch. Rank 0 writes ``out/`` (model) and ``result.json``; the parent loads it.

Failures: a worker that raises writes ``error_rank<R>.json`` (type, message, traceback) and exits;
torchrun then stops the other workers; the parent raises :class:`DistributedTrainingError` naming
the first failing rank. A worker stuck in a collective fails after ``train.dist_timeout_s``.

Several machines: see docs/distributed.md (``AUTOGLM_TORCHRUN_ARGS`` and ``AUTOGLM_DIST_JOB_DIR``).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core.types.data import Example
from autoglm_core.types.errors import AutoGLMError, ConfigError
from autoglm_core.types.schemas import TrainConfig

log = logging.getLogger(__name__)

WORKER_ENV = "AUTOGLM_DIST_WORKER"
#: extra torchrun arguments (replace the default ``--standalone``), e.g. for several machines:
#: "--nnodes 2 --node_rank 0 --rdzv_backend c10d --rdzv_endpoint head:29500 --rdzv_id myjob"
TORCHRUN_ARGS_ENV = "AUTOGLM_TORCHRUN_ARGS"
#: job folder on storage that every machine sees (default: a fresh temporary folder)
JOB_DIR_ENV = "AUTOGLM_DIST_JOB_DIR"
#: fault injection for tests: "RANK:STEP" makes that rank raise at that micro-batch
FAULT_ENV = "AUTOGLM_DIST_FAULT"
#: several machines (set by ``autoglm run --nnodes/--node-rank/--rdzv-endpoint``, or by hand)
NNODES_ENV, NODE_RANK_ENV, RDZV_ENDPOINT_ENV, RDZV_ID_ENV = (
    "AUTOGLM_NNODES", "AUTOGLM_NODE_RANK", "AUTOGLM_RDZV_ENDPOINT", "AUTOGLM_RDZV_ID")
#: written by the head node when its run ends, so that the other nodes' ``autoglm run`` returns
FINISHED_FILE = "finished.json"


@dataclass(frozen=True)
class NodeSetup:
    """Where this machine stands in a multi-node job (torchrun's c10d rendezvous)."""

    nnodes: int = 1
    node_rank: int = 0
    endpoint: str = ""
    rdzv_id: str = "autoglm"

    @property
    def multi(self) -> bool:
        return self.nnodes > 1

    def torchrun_args(self) -> list[str]:
        # is_host makes node 0 host the rendezvous store even when every node resolves the endpoint
        # to itself (two "nodes" on one machine in tests)
        return ["--nnodes", str(self.nnodes), "--node_rank", str(self.node_rank), "--rdzv_backend", "c10d",
                "--rdzv_endpoint", self.endpoint, "--rdzv_id", self.rdzv_id,
                "--rdzv_conf", f"is_host={1 if self.node_rank == 0 else 0}"]


def node_setup() -> NodeSetup:
    """The multi-node settings from the environment; a clear error when they do not fit together."""
    raw = {k: os.environ.get(k, "").strip() for k in (NNODES_ENV, NODE_RANK_ENV, RDZV_ENDPOINT_ENV, RDZV_ID_ENV)}
    try:
        nnodes = int(raw[NNODES_ENV] or 1)
        rank = int(raw[NODE_RANK_ENV] or 0)
    except ValueError as exc:
        raise ConfigError(f"{NNODES_ENV} and {NODE_RANK_ENV} must be whole numbers ({exc}).") from None
    setup = NodeSetup(nnodes, rank, raw[RDZV_ENDPOINT_ENV], raw[RDZV_ID_ENV] or "autoglm")
    if nnodes < 1 or not 0 <= rank < nnodes:
        raise ConfigError(f"--node-rank must be between 0 and --nnodes - 1 ({nnodes - 1}), got {rank}.")
    if setup.multi:
        host, sep, port = setup.endpoint.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"--rdzv-endpoint must be HOST:PORT of node 0 (e.g. 10.0.0.1:29500), got "
                              f"{setup.endpoint!r}; every node passes the same one.")
        if not os.environ.get(JOB_DIR_ENV):
            raise ConfigError(f"training on {nnodes} nodes needs a job folder that every node sees: set "
                              f"{JOB_DIR_ENV} (autoglm run sets it to <out>/.dist-job).")
    return setup


class DistributedTrainingError(AutoGLMError):
    """A training worker failed; the message names the rank and its error."""


def in_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_num_processes(n: int, device: str, batch_size: int | None = None, *, field: str = "train.num_processes",
                        nnodes: int = 1) -> None:
    """A clear error before anything starts when N processes (per node) cannot run here."""
    if n < 1:
        raise ConfigError(f"{field} must be at least 1, got {n}.")
    if device == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        if n > gpus:
            raise ConfigError(
                f"{field}={n} asks for more processes than this machine has GPUs ({gpus}); one process per GPU. "
                f"Lower {field}, or spread the run over several machines (docs/distributed.md)."
            )
    else:
        cpus = usable_cpus()
        if n > cpus:
            raise ConfigError(
                f"{field}={n} asks for more training processes than this machine can run: it has {cpus} usable CPU "
                f"core(s) (os.sched_getaffinity / os.cpu_count()), and each process needs at least one. Lower "
                f"{field} to {cpus} or less, or spread the run over several machines (docs/distributed.md)."
            )
    world = n * nnodes
    if batch_size is not None and batch_size % world:
        across = f"{field}={n}" if nnodes == 1 else f"{world} processes ({nnodes} nodes x {field}={n})"
        raise ConfigError(
            f"train.batch_size={batch_size} cannot be split evenly across {across}: batch_size is the global "
            f"batch (each process gets batch_size / num_processes examples). Choose a multiple of {world}."
        )


def refuse_single_process(task_type: Any, num_processes: int, nnodes: int = 1) -> None:
    """A plan-time error when the task type cannot train in several processes (it says why)."""
    reason = task_type.single_process_reason
    if reason is None:
        return
    asked = f"train.num_processes={num_processes}" + (f" on {nnodes} nodes" if nnodes > 1 else "")
    raise ConfigError(
        f"{asked}: task type {task_type.name!r} trains in one process only: {reason}. Set train.num_processes=1 "
        f"(CLI: drop --num-processes) and train on one machine."
    )


def distributed_wanted(config: TrainConfig) -> bool:
    """Whether training leaves this process: several processes here, or several machines."""
    return config.num_processes > 1 or node_setup().multi


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
            "--max_restarts=0", "-m", "autoglm_core.training.distributed", str(job_dir)]


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
    from autoglm_core.training.loop import TrainResult

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


# --------------------------------------------------------------------------- worker side


def worker_accelerator(use_cpu: bool, accumulation: int, config: TrainConfig) -> Any:
    """The Accelerator of a worker: batches split across ranks (global batch = batch_size, the same
    data order as one process), and a collective timeout so that a dead peer cannot hang the rest."""
    from datetime import timedelta

    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, InitProcessGroupKwargs

    pg = InitProcessGroupKwargs(backend="gloo" if use_cpu else "nccl", timeout=timedelta(seconds=config.dist_timeout_s))
    return Accelerator(cpu=use_cpu, gradient_accumulation_steps=accumulation,
                       dataloader_config=DataLoaderConfiguration(split_batches=True), kwargs_handlers=[pg])


def _wait_for_job(job_dir: Path, timeout_s: float = 600.0) -> dict[str, Any]:
    """Workers on other machines may start before the head node has written the job."""
    path = job_dir / "job.json"
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no job.json in {job_dir} after {timeout_s:g}s")
        time.sleep(1.0)
    return json.loads(path.read_text(encoding="utf-8"))


def _fault_loss(spec: str, rank: int) -> Any:
    want_rank, _, want_step = spec.partition(":")
    if int(want_rank) != rank:
        return None
    calls = {"n": 0}

    def loss(model: Any, batch: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] >= int(want_step or 1):
            raise RuntimeError(f"injected fault ({FAULT_ENV}={spec}) at micro-batch {calls['n']}")
        return model(**batch).loss

    return loss


def worker_main(job_dir: str) -> int:
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    os.environ[WORKER_ENV] = "1"
    root = Path(job_dir)
    try:
        job = _wait_for_job(root)
        config = TrainConfig.model_validate(job["config"])
        data = json.loads((root / "data.json").read_text(encoding="utf-8"))
        import transformers

        from autoglm_core.training.finetune import fine_tune

        cls = getattr(transformers, job["model_class"])
        model = cls.from_pretrained(root / "init", use_safetensors=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(root / "init")
        progress_path = root / "progress.jsonl"

        def on_epoch(epoch: int, record: dict[str, float]) -> None:
            with open(progress_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

        fault = os.environ.get(FAULT_ENV)
        loss = _fault_loss(fault, rank) if fault else None
        show = job["progress"] and rank == 0
        if job.get("recipe"):
            from autoglm_core.training.loop import run_loop
            from autoglm_core.training.recipe import resolve_recipe

            spec = resolve_recipe(job["recipe"])(model, tokenizer, data, config, job["seed"])
            result = run_loop(model, spec, config, seed=job["seed"], device=job["device"], progress=show,
                              desc=job["desc"], on_epoch=on_epoch, compute_loss=loss)
        else:
            train = [Example(text=d["text"], label=d["label"]) for d in data["train"]]
            validation = [Example(text=d["text"], label=d["label"]) for d in data["validation"]]
            result = fine_tune(model, tokenizer, train, validation, data["labels"], config, seed=job["seed"],
                               device=job["device"], progress=show, desc=job["desc"], on_epoch=on_epoch,
                               compute_loss=loss)
        if rank == 0:
            result.model.save_pretrained(root / "out", safe_serialization=True)
            info = {**{k: v for k, v in vars(result).items() if k != "model"},
                    "model_class": type(result.model).__name__}
            tmp = root / "result.json.partial"
            tmp.write_text(json.dumps(info), encoding="utf-8")
            tmp.rename(root / "result.json")
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
        return 0
    except BaseException as exc:
        import traceback

        err = {"rank": rank, "world_size": world, "type": type(exc).__name__, "message": str(exc),
               "traceback": traceback.format_exc(), "time": time.time(), "host": os.uname().nodename}
        (root / f"error_rank{rank}.json").write_text(json.dumps(err), encoding="utf-8")
        raise


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m torch.distributed.run --nproc_per_node N -m autoglm_core.training.distributed JOB_DIR",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(worker_main(sys.argv[1]))

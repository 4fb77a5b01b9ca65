"""The worker side of distributed training: what every process that torchrun starts runs.

``python -m torch.distributed.run --nproc_per_node N -m autoglm_core.training.distributed_worker JOB``:
every worker loads the job folder that :func:`autoglm_core.training.distributed.run_distributed`
wrote, trains through the shared loop (the classification loop, or the LoopSpec of the job's
recipe), and rank 0 writes ``out/`` and ``result.json``. A worker that raises writes
``error_rank<R>.json`` for the parent to report.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from autoglm_core.training.distributed_setup import FAULT_ENV, WORKER_ENV
from autoglm_core.training.finetune import fine_tune
from autoglm_core.training.loop import run_loop
from autoglm_core.training.recipe import resolve_recipe
from autoglm_core.types.data import Example
from autoglm_core.types.schemas import TrainConfig


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
        print("usage: python -m torch.distributed.run --nproc_per_node N -m autoglm_core.training.distributed_worker JOB_DIR",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(worker_main(sys.argv[1]))

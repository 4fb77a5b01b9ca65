"""How the processes of a distributed run keep their models in step (``train.sync_mode``).

* ``sync``: accelerate all-reduces the gradients at every optimizer step (DDP);
* ``accumulate``: ``sync_every`` micro-batches per optimizer step, no all-reduce in between;
* ``local-sgd``: no gradient all-reduce; the parameters are averaged every ``sync_every`` steps
  (accelerate's LocalSGD, which the loop itself sets up and steps) and at the end of every epoch.

Early stopping and the time budget are decided on rank 0 and broadcast (:func:`agree`), so the
processes can never disagree about when to stop. In one process every function here is a no-op
or the plain case, so the shared loop reads the same either way.
"""

from __future__ import annotations

from typing import Any

from autoglm_core.training.distributed_setup import in_worker
from autoglm_core.types.schemas import TrainConfig


def accumulation_steps(config: TrainConfig) -> int:
    """Micro-batches per optimizer step: ``sync_every`` in 'accumulate' mode, else gradient_accumulation_steps."""
    return config.sync_every if config.sync_mode == "accumulate" else config.gradient_accumulation_steps


def make_accelerator(use_cpu: bool, accumulation: int, config: TrainConfig) -> Any:
    """The loop's Accelerator: a plain one in one process, :func:`worker_accelerator` in a worker."""
    if in_worker():
        return worker_accelerator(use_cpu, accumulation, config)
    from accelerate import Accelerator

    return Accelerator(cpu=use_cpu, gradient_accumulation_steps=accumulation)


def worker_accelerator(use_cpu: bool, accumulation: int, config: TrainConfig) -> Any:
    """The Accelerator of a worker: batches split across ranks (global batch = batch_size, the same
    data order as one process), and a collective timeout so that a dead peer cannot hang the rest."""
    from datetime import timedelta

    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, InitProcessGroupKwargs

    pg = InitProcessGroupKwargs(backend="gloo" if use_cpu else "nccl", timeout=timedelta(seconds=config.dist_timeout_s))
    return Accelerator(cpu=use_cpu, gradient_accumulation_steps=accumulation,
                       dataloader_config=DataLoaderConfiguration(split_batches=True), kwargs_handlers=[pg])


def agree(accelerator: Any, value: Any) -> Any:
    """Rank 0's ``value`` on every rank. Early stopping and the time budget are decided on rank 0
    only, so that the processes can never disagree about when to stop (a disagreement would leave
    the others waiting in an all-reduce)."""
    if accelerator.num_processes == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def average_parameters(accelerator: Any, model: Any) -> None:
    """Parameter averaging across processes (what accelerate's LocalSGD does every K steps)."""
    accelerator.wait_for_everyone()
    for param in model.parameters():
        param.data = accelerator.reduce(param.data, reduction="mean")


def shard_batch(batch: dict[str, Any], rank: int, world: int) -> dict[str, Any]:
    """This rank's contiguous slice of a batch built by a function (what accelerate's
    ``split_batches`` does to a DataLoader's batches), so that N processes see the global batch.
    A batch with fewer rows than processes is used whole by every rank: an empty slice has no loss."""
    rows = next((len(v) for v in batch.values() if hasattr(v, "shape")), 0)
    if rows < world:
        return batch
    per, extra = divmod(rows, world)
    start = rank * per + min(rank, extra)
    stop = start + per + (1 if rank < extra else 0)
    return {k: v[start:stop] if hasattr(v, "shape") and len(v) == rows else v for k, v in batch.items()}

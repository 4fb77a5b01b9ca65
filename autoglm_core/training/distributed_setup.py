"""Where training runs: the environment of distributed training (one machine or several), the
checks that say before any work whether N processes can run here, and whether this process is a
worker of a distributed job.

The launch of the workers is :mod:`autoglm_core.training.distributed`, the worker's entry point
:mod:`autoglm_core.training.distributed_worker`, and how the processes keep their models in step
:mod:`autoglm_core.training.sync_modes`. Several machines: see docs/distributed.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from autoglm_core.types.errors import AutoGLMError, ConfigError
from autoglm_core.types.schemas import TrainConfig

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


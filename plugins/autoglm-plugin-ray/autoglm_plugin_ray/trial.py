"""One Ray Tune trial: a TorchTrainer whose workers train the sampled parameters with the core's loop."""

from __future__ import annotations

from typing import Any


def run_trial(config: dict[str, Any], *, run_dir: str, workers: int, cpus_per_worker: float, storage: str,
              direction: str) -> None:
    """The Tune function: train through Ray Train, then report every epoch's value to Tune in order."""
    from ray import tune
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trial_id = tune.get_context().get_trial_id()
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"run_dir": run_dir, "params": dict(config)},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(name=f"train-{trial_id}", storage_path=storage),
    )
    record = trainer.fit().return_value  # rank 0's return value
    if not record or not record.get("epochs"):
        raise RuntimeError("the trial produced no validation metric")
    best = None
    for epoch, value in sorted(record["epochs"].items()):
        better = best is None or (value < best if direction == "minimize" else value > best)
        best = value if better else best
        tune.report({"epoch": int(epoch), "value": value, "objective": best, "worker": record.get("worker")})


def train_worker(loop_config: dict[str, Any]) -> dict[str, Any]:
    """Every Ray Train worker: the core's trial training inside Ray's process group."""
    import ray

    from autoglm_core import fit_search_trial

    record = fit_search_trial(loop_config["run_dir"], loop_config["params"])
    record["worker"] = f"ray:{ray.get_runtime_context().get_node_id()[:12]}"
    return record

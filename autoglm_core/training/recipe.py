"""A task type's training as a *recipe*: a module-level function that turns plain data (a JSON-able
payload) into the :class:`~autoglm_core.training.loop.LoopSpec` of the shared loop.

Naming the function (``"package.module:function"``) rather than passing the LoopSpec is what lets
the same training run in several processes: every torchrun worker imports the function and builds
the same spec from the same payload, so one process and N processes train through identical code.
``run_recipe`` picks one process or :mod:`autoglm_core.training.distributed` from the config.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from autoglm_core.training.distributed import run_distributed
from autoglm_core.training.distributed_setup import distributed_wanted, in_worker
from autoglm_core.training.loop import EpochCallback, LoopSpec, LossFn, TrainResult, run_loop
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import TrainConfig

#: recipe(model, tokenizer, payload, config, seed) -> LoopSpec
Recipe = Callable[[Any, Any, dict[str, Any], TrainConfig, int], LoopSpec]


def resolve_recipe(target: str) -> Recipe:
    module, sep, attr = target.partition(":")
    if not sep:
        raise ConfigError(f"training recipe {target!r} must be 'package.module:function'.")
    fn: Recipe = getattr(importlib.import_module(module), attr)
    return fn


def run_recipe(recipe: str, payload: dict[str, Any], model: Any, tokenizer: Any, config: TrainConfig, *,
               seed: int = 0, device: str = "auto", progress: bool = True, desc: str = "train",
               on_epoch: EpochCallback | None = None, compute_loss: LossFn | None = None) -> TrainResult:
    """Train ``model`` with the LoopSpec ``recipe`` builds from ``payload``: in this process, or in
    ``config.num_processes`` processes (and several machines) when the config asks for it."""
    if not in_worker() and distributed_wanted(config):
        if compute_loss is None:
            return run_distributed(model, tokenizer, payload, config, recipe=recipe, seed=seed, device=device,
                                   progress=progress, desc=desc, on_epoch=on_epoch)
        # a custom loss (a closure) cannot be sent to other processes
        import logging

        logging.getLogger(__name__).warning("%s: custom loss function given; training in one process instead of %d",
                                            desc, config.num_processes)
        config = config.model_copy(update={"num_processes": 1})
    spec = resolve_recipe(recipe)(model, tokenizer, payload, config, seed)
    return run_loop(model, spec, config, seed=seed, device=device, compute_loss=compute_loss, progress=progress,
                    desc=desc, on_epoch=on_epoch)

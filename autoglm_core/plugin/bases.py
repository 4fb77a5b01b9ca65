"""What each registry accepts: the base class a registered component must extend.

Named as ``module:Class`` and imported only when the registries are built, so the plugin core does
not import the engine (the tracker base lives there) when it is imported."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

_COMPONENTS = "autoglm_core.plugin.components"


@dataclass(frozen=True)
class BaseSpec:
    target: str  # "module:Class"
    instance: bool = False  # True: register an instance of the class (Benchmark), else the class

    def resolve(self) -> type:
        module, _, attr = self.target.partition(":")
        cls: type = getattr(importlib.import_module(module), attr)
        return cls


REGISTRY_BASES: dict[str, BaseSpec] = {
    "task type": BaseSpec("autoglm_core.plugin.task_type:TaskType"),
    "decoder": BaseSpec(f"{_COMPONENTS}:Decoder"),
    "zero-shot scorer": BaseSpec(f"{_COMPONENTS}:ZeroShotScorer"),
    "evaluator": BaseSpec(f"{_COMPONENTS}:Evaluator"),
    "benchmark": BaseSpec(f"{_COMPONENTS}:Benchmark", instance=True),
    "compressor": BaseSpec(f"{_COMPONENTS}:Compressor"),
    "model format": BaseSpec(f"{_COMPONENTS}:ModelFormat"),
    "attack": BaseSpec(f"{_COMPONENTS}:Attack"),
    "defense": BaseSpec(f"{_COMPONENTS}:Defense"),
    "data loader": BaseSpec(f"{_COMPONENTS}:DataLoader"),
    "tracker": BaseSpec("autoglm_core.plugin.tracker:Tracker"),
    "search backend": BaseSpec("autoglm_core.training.search_backends:SearchBackend"),
}

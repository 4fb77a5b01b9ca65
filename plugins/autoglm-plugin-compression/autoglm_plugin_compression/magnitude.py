"""Global unstructured magnitude pruning (torch.nn.utils.prune), made permanent.

The smallest-|w| weights across all encoder Linear layers together are set to zero (one global
threshold, so layers that matter less lose more). The matrices keep their shape: this saves
nothing on disk or in dense CPU kernels by itself; it is the accuracy/sparsity curve and a start
for sparse kernels or compressed storage.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from autoglm_core import BuiltModel, Compressor, RunContext

from .common import (
    TrainingOptions,
    check_classifier,
    clone_model,
    copy_built,
    device_of,
    train_config,
    training_data,
)


class MagnitudePruning(Compressor):
    name = "prune-magnitude"
    description = "global unstructured L1 magnitude pruning of Linear weights at a chosen sparsity (optional fine-tune)"

    class Options(TrainingOptions):
        sparsity: float = Field(0.5, gt=0, lt=1, description="fraction of the pruned weights set to zero")
        scope: Literal["encoder", "all"] = Field(
            "encoder", description="encoder: Linear layers of the encoder; all: also pooler and classifier head")
        fine_tune: bool = Field(False, description="fine-tune after pruning (the pruning masks stay fixed)")

    def needs_training_data(self) -> bool:
        """Whether compress() trains (`autoglm compress` then holds out a test split)."""
        return bool(self.options.fine_tune)

    def compress(self, built: BuiltModel, context: RunContext | None = None) -> BuiltModel:
        import torch
        from torch import nn
        from torch.nn.utils import prune

        check_classifier(built, self.name)
        o = self.options
        train = val = None
        if o.fine_tune:  # fail on missing data before the work
            train, val = training_data(context, o, self.name, built.labels)
        model = clone_model(built.model)
        encoder = getattr(model.base_model, "encoder", None)
        root = encoder if (o.scope == "encoder" and encoder is not None) else model
        targets = [(m, "weight") for m in root.modules() if isinstance(m, nn.Linear)]
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=o.sparsity)
        meta: dict[str, Any] = {"compressor": self.name, "sparsity": o.sparsity, "scope": o.scope,
                                "pruned_layers": len(targets)}
        if o.fine_tune:
            from autoglm_core import fine_tune

            cfg = train_config(context, built, o, epochs=2, learning_rate=2e-5)
            res = fine_tune(model, built.tokenizer, train, val, built.labels, cfg, seed=o.seed,
                            device=device_of(context), desc=f"{self.name} fine-tune")
            model = res.model.cpu()
            meta["fine_tune"] = {"epochs_run": len(res.history), "best_epoch": res.best_epoch, "steps": res.steps}
            targets = [(m, "weight") for m in (getattr(model.base_model, "encoder", None) if o.scope == "encoder"
                                               else model).modules() if isinstance(m, nn.Linear)]
        for module, pname in targets:
            prune.remove(module, pname)  # bake the mask into the weight: a plain Linear again
        with torch.no_grad():
            zeros = sum(int((m.weight == 0).sum()) for m, _ in targets)
            total = sum(m.weight.numel() for m, _ in targets)
        meta["achieved_sparsity"] = zeros / max(total, 1)
        model.eval()
        return copy_built(built, model, f"prune-magnitude-{o.sparsity:g}", meta)

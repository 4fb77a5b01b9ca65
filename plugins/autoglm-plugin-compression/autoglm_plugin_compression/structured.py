"""Structured pruning: whole attention heads and feed-forward neurons are removed, so the weight
matrices shrink and the model is smaller and faster with ordinary dense kernels.

Importance is weight magnitude: a head scores the L2 norm of its query/key/value rows and output
columns, an FFN neuron the norm of its input row times that of its output column. Heads are
ranked globally (every layer keeps at least one); FFN neurons are ranked per layer and every
layer keeps the same number, so the result is still expressible in the Hugging Face layout
(``config.pruned_heads`` + ``config.intermediate_size``) and reloads with ``from_pretrained``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from autoglm_core import BuiltModel, Compressor, ConfigError, RunContext

from .common import (
    TrainingOptions,
    check_classifier,
    clone_model,
    copy_built,
    device_of,
    encoder_layers,
    train_config,
    training_data,
)


class StructuredPruning(Compressor):
    name = "prune-structured"
    description = "removes attention heads and FFN neurons (really smaller/faster; HF layout), optional fine-tune"

    class Options(TrainingOptions):
        sparsity: float = Field(0.3, gt=0, lt=1, description="fraction of heads and of FFN neurons removed")
        head_sparsity: float | None = Field(None, ge=0, lt=1, description="fraction of heads removed (default: sparsity)")
        ffn_sparsity: float | None = Field(None, ge=0, lt=1, description="fraction of FFN neurons removed (default: sparsity)")
        fine_tune: bool = Field(False, description="fine-tune after pruning to recover accuracy")

    def needs_training_data(self) -> bool:
        """Whether compress() trains (`autoglm compress` then holds out a test split)."""
        return bool(self.options.fine_tune)

    def compress(self, built: BuiltModel, context: RunContext | None = None) -> BuiltModel:
        check_classifier(built, self.name)
        o = self.options
        head_frac = o.sparsity if o.head_sparsity is None else o.head_sparsity
        ffn_frac = o.sparsity if o.ffn_sparsity is None else o.ffn_sparsity
        train = val = None
        if o.fine_tune:
            train, val = training_data(context, o, self.name, built.labels)
        model = clone_model(built.model)
        layers = encoder_layers(model, self.name)
        _check_bert_layer(layers[0], self.name)
        params_before = sum(p.numel() for p in model.parameters())
        removed_heads = prune_heads_by_magnitude(model, layers, head_frac)
        kept_ffn = prune_ffn_by_magnitude(model, layers, ffn_frac)
        meta: dict[str, Any] = {
            "compressor": self.name, "head_sparsity": head_frac, "ffn_sparsity": ffn_frac,
            "heads_removed": sum(len(v) for v in removed_heads.values()),
            "heads_total": model.config.num_attention_heads * len(layers),
            "intermediate_size": kept_ffn,
            "params_before": params_before, "params_after": sum(p.numel() for p in model.parameters()),
        }
        if o.fine_tune:
            from autoglm_core import fine_tune

            cfg = train_config(context, built, o, epochs=2, learning_rate=5e-5)
            res = fine_tune(model, built.tokenizer, train, val, built.labels, cfg, seed=o.seed,
                            device=device_of(context), desc=f"{self.name} fine-tune")
            model = res.model.cpu()
            meta["fine_tune"] = {"epochs_run": len(res.history), "best_epoch": res.best_epoch, "steps": res.steps}
        model.eval()
        return copy_built(built, model, f"prune-structured-{o.sparsity:g}", meta)


def _check_bert_layer(layer: Any, who: str) -> None:
    ok = all(hasattr(layer, a) for a in ("attention", "intermediate", "output")) and \
        hasattr(getattr(layer.intermediate, "dense", None), "weight")
    if not ok:
        raise ConfigError(f"compressor {who!r} supports BERT-style layers (attention/intermediate/output); "
                          f"got {type(layer).__name__}.")


def head_importance(layer: Any, n_heads: int) -> Any:
    import torch

    att = layer.attention
    d = att.self.query.weight.shape[0] // n_heads
    with torch.no_grad():
        score = torch.zeros(n_heads)
        for lin in (att.self.query, att.self.key, att.self.value):
            score += lin.weight.view(n_heads, d, -1).pow(2).sum(dim=(1, 2))
        score += att.output.dense.weight.view(-1, n_heads, d).pow(2).sum(dim=(0, 2))
    return score.sqrt()


def prune_heads_by_magnitude(model: Any, layers: Any, fraction: float) -> dict[int, list[int]]:
    """Remove the globally least important heads (each layer keeps one); returns {layer: heads}."""
    n_heads = model.config.num_attention_heads
    n_remove = round(fraction * n_heads * len(layers))
    if n_remove <= 0:
        return {}
    scored = []
    for li, layer in enumerate(layers):
        imp = head_importance(layer, layer.attention.self.num_attention_heads)
        scored += [(float(s), li, h) for h, s in enumerate(imp.tolist())]
    scored.sort()
    plan: dict[int, list[int]] = {}
    for _, li, h in scored:
        if sum(len(v) for v in plan.values()) >= n_remove:
            break
        if len(plan.get(li, [])) < n_heads - 1:
            plan.setdefault(li, []).append(h)
    model.prune_heads(plan)  # also records config.pruned_heads, which from_pretrained replays
    return plan


def prune_ffn_by_magnitude(model: Any, layers: Any, fraction: float) -> int:
    """Keep the same number of most important FFN neurons in every layer; returns that number."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    size = layers[0].intermediate.dense.weight.shape[0]
    keep = max(1, size - round(fraction * size))
    if keep == size:
        return size
    for layer in layers:
        w_in, w_out = layer.intermediate.dense.weight, layer.output.dense.weight
        with torch.no_grad():
            score = w_in.norm(dim=1) * w_out.norm(dim=0)
        index = torch.topk(score, keep).indices.sort().values
        layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, index, dim=0)
        layer.output.dense = prune_linear_layer(layer.output.dense, index, dim=1)
    model.config.intermediate_size = keep
    return keep

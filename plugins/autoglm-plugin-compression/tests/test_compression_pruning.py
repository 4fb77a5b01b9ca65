"""prune-magnitude and prune-structured on a tiny BERT: really sparse / really smaller, saved in
the HF layout and reloaded to the same outputs; bad options are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from autoglm_core.models.loading import load_model
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, tiny_text_classifier, write_csv
from autoglm_core.types.errors import AutoGLMError, UnknownNameError

TEXTS = [ex.text for ex in sample_examples(10, seed=5)]


def _compressor(name, **options):
    return get_manager().registry("compressor").get(name)(options=options)


@pytest.fixture(scope="module")
def prune_tiny():
    # 4 heads and 128 FFN neurons per layer, 2 layers
    return tiny_text_classifier(num_heads=4, intermediate_size=128)


def test_prune_magnitude_reaches_sparsity_and_reloads(prune_tiny, tmp_path):
    from torch import nn

    out = _compressor("prune-magnitude", sparsity=0.6).compress(prune_tiny, None)
    lin = [m for m in out.model.bert.encoder.modules() if isinstance(m, nn.Linear)]
    zeros = sum(int((m.weight == 0).sum()) for m in lin)
    total = sum(m.weight.numel() for m in lin)
    assert abs(zeros / total - 0.6) < 0.01
    assert abs(out.meta["achieved_sparsity"] - 0.6) < 0.01
    # permanent: plain parameters, no masks or hooks left
    assert not any(n.endswith(("weight_orig", "weight_mask")) for n, _ in out.model.named_parameters())
    assert not any(n.endswith("weight_mask") for n, _ in out.model.named_buffers())
    # global, not per-layer: layers end up with different sparsities
    per_layer = [float((m.weight == 0).float().mean()) for m in lin]
    assert max(per_layer) - min(per_layer) > 0.01
    # the classifier head is outside the default scope; the input model is untouched
    assert float((out.model.classifier.weight == 0).float().mean()) == 0.0
    assert float((prune_tiny.model.bert.encoder.layer[0].attention.self.query.weight == 0).float().mean()) == 0.0
    assert out.format == "hf" and out.variant == "prune-magnitude-0.6"
    out.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert np.allclose(again.predict_proba(TEXTS), out.predict_proba(TEXTS), atol=1e-6)


def test_prune_structured_shrinks_matrices_and_reloads(prune_tiny, tmp_path):
    out = _compressor("prune-structured", sparsity=0.5).compress(prune_tiny, None)
    layers = out.model.bert.encoder.layer
    heads = [layer.attention.self.num_attention_heads for layer in layers]
    assert sum(heads) == 4  # half of 2 x 4 heads removed, globally
    assert all(h >= 1 for h in heads)
    for layer, h in zip(layers, heads, strict=True):
        assert layer.attention.self.query.weight.shape == (h * 16, 64)
        assert layer.attention.output.dense.weight.shape == (64, h * 16)
        assert layer.intermediate.dense.weight.shape == (64, 64)
        assert layer.output.dense.weight.shape == (64, 64)
    assert out.model.config.intermediate_size == 64
    assert sum(len(v) for v in out.model.config.pruned_heads.values()) == 4
    assert out.meta["params_after"] < out.meta["params_before"]
    out.save(tmp_path / "s")
    again = load_model(tmp_path / "s")
    assert [layer.attention.self.num_attention_heads for layer in again.model.bert.encoder.layer] == heads
    assert np.allclose(again.predict_proba(TEXTS), out.predict_proba(TEXTS), atol=1e-6)
    fp32 = prune_tiny.save(tmp_path / "fp32")
    assert (tmp_path / "s" / "model.safetensors").stat().st_size < (fp32 / "model.safetensors").stat().st_size


def test_prune_structured_removes_least_important_heads(prune_tiny):
    import torch

    built = tiny_text_classifier(num_heads=4, intermediate_size=128)
    # make head 2 of layer 1 clearly the weakest
    att = built.model.bert.encoder.layer[1].attention
    with torch.no_grad():
        for lin in (att.self.query, att.self.key, att.self.value):
            lin.weight[32:48] *= 0.01
        att.output.dense.weight[:, 32:48] *= 0.01
    out = _compressor("prune-structured", head_sparsity=0.125, ffn_sparsity=0.0, sparsity=0.1).compress(built, None)
    assert out.model.config.pruned_heads == {1: [2]}
    assert out.model.config.intermediate_size == 128


def test_prune_fine_tune_uses_data_option_and_keeps_mask(prune_tiny, tmp_path):
    data = write_csv(tmp_path / "d.csv", sample_examples(60))
    out = _compressor("prune-magnitude", sparsity=0.5, fine_tune=True, data=str(data), max_steps=2,
                      batch_size=8).compress(prune_tiny, None)
    assert out.meta["fine_tune"]["steps"] == 2
    assert abs(out.meta["achieved_sparsity"] - 0.5) < 0.01  # zeros did not grow back
    s = _compressor("prune-structured", sparsity=0.25, fine_tune=True, data=str(data), max_steps=2,
                    batch_size=8).compress(prune_tiny, None)
    assert s.meta["fine_tune"]["steps"] == 2


def test_prune_fine_tune_uses_context_splits(prune_tiny):
    from autoglm_core import RunContext
    from autoglm_core.types.data import DataSplits

    ex = sample_examples(30)
    ctx = RunContext.standalone(splits=DataSplits(ex[:24], ex[24:], [], sorted({e.label for e in ex}), None))
    out = _compressor("prune-structured", sparsity=0.25, fine_tune=True, max_steps=1).compress(prune_tiny, ctx)
    assert out.meta["fine_tune"]["steps"] == 1


def test_prune_bad_options(prune_tiny):
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(AutoGLMError, match="sparsity"):
            _compressor("prune-magnitude", sparsity=bad)
        with pytest.raises(AutoGLMError, match="sparsity"):
            _compressor("prune-structured", sparsity=bad)
    with pytest.raises(UnknownNameError, match="Did you mean 'prune-magnitude'"):
        get_manager().registry("compressor").get("prune-magnitud")
    with pytest.raises(AutoGLMError, match="needs training data.*data=FILE"):
        _compressor("prune-structured", fine_tune=True).compress(prune_tiny, None)
    with pytest.raises(AutoGLMError, match="sparsty"):
        _compressor("prune-magnitude", sparsty=0.5)

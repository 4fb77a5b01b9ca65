"""The int8 compressor on a tiny BERT: quantizes, keeps predictions close, saves safely and
reloads in a fresh process to the same outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from autoglm_core.models.loading import load_model
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, tiny_text_classifier
from autoglm_core.types.errors import AutoGLMError, UnknownNameError

TEXTS = [ex.text for ex in sample_examples(12, seed=3)]


@pytest.fixture(scope="module")
def int8_tiny():
    import torch

    torch.manual_seed(0)
    built = tiny_text_classifier(hidden_size=64, num_layers=2)
    compressor = get_manager().registry("compressor").get("int8")()
    return built, compressor.compress(built, None)


def test_int8_is_registered_with_entry_point():
    entry = get_manager().registry("compressor").entry("int8")
    assert entry.plugin == "int8"


def test_int8_quantizes_linear_and_embeddings(int8_tiny):
    from torch import nn
    from torch.ao.nn.quantized import Embedding as QEmbedding
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    built, q = int8_tiny
    n_linear = sum(isinstance(m, nn.Linear) for m in built.model.modules())
    n_emb = sum(isinstance(m, nn.Embedding) for m in built.model.modules())
    assert sum(isinstance(m, QLinear) for m in q.model.modules()) == n_linear
    assert sum(isinstance(m, QEmbedding) for m in q.model.modules()) == n_emb
    assert not any(type(m) is nn.Linear for m in q.model.modules())
    assert q.format == "int8" and q.variant == "int8"
    assert q.meta["backend"] == "torch-ao" and "faster" in q.meta["backend_reason"]
    assert q.meta["quantized_modules"] == {"linear": n_linear, "embedding": n_emb}
    # the fp32 input is untouched
    assert sum(isinstance(m, nn.Linear) for m in built.model.modules()) == n_linear


def test_int8_outputs_stay_close_to_fp32(int8_tiny):
    built, q = int8_tiny
    p32 = built.predict_proba(TEXTS)
    p8 = q.predict_proba(TEXTS)
    assert p8.shape == p32.shape
    assert np.allclose(p8.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(p8 - p32).max() < 0.05
    assert not np.array_equal(p8, p32)  # it really is a different (quantized) computation


@pytest.mark.slow
def test_int8_save_has_no_pickle_and_reloads_in_fresh_process(int8_tiny, tmp_path):
    _, q = int8_tiny
    out = q.save(tmp_path / "m")
    files = {p.name for p in out.iterdir()}
    assert "int8_model.safetensors" in files and "config.json" in files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    meta = json.loads((out / "autoglm_model.json").read_text())
    assert meta["format"] == "int8" and meta["meta"]["backend"] == "torch-ao"
    # int8 weights are smaller than the fp32 ones
    fp32_dir = tmp_path / "fp32"
    int8_tiny[0].save(fp32_dir)
    assert (out / "int8_model.safetensors").stat().st_size < 0.5 * (fp32_dir / "model.safetensors").stat().st_size

    expected = q.predict_proba(TEXTS)
    script = (
        "import json, sys\n"
        "from autoglm_core.models.loading import load_model\n"
        "b = load_model(sys.argv[1])\n"
        "print(json.dumps({'format': b.format, 'labels': b.labels, 'p': b.predict_proba(json.loads(sys.argv[2])).tolist()}))\n"
    )
    res = subprocess.run([sys.executable, "-c", script, str(out), json.dumps(TEXTS)], capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["format"] == "int8" and got["labels"] == q.labels
    assert np.allclose(np.array(got["p"]), expected, atol=1e-6)


def test_int8_reload_in_process_matches(int8_tiny, tmp_path):
    _, q = int8_tiny
    q.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.meta["backend"] == "torch-ao"
    assert np.allclose(again.predict_proba(TEXTS), q.predict_proba(TEXTS), atol=1e-6)


def test_int8_linear_only_option(int8_tiny, tmp_path):
    from torch import nn

    built, _ = int8_tiny
    q = get_manager().registry("compressor").get("int8")(options={"embeddings": False}).compress(built, None)
    assert any(type(m) is nn.Embedding for m in q.model.modules())
    q.save(tmp_path / "lin")
    again = load_model(tmp_path / "lin")
    assert any(type(m) is nn.Embedding for m in again.model.modules())
    assert np.allclose(again.predict_proba(TEXTS), q.predict_proba(TEXTS), atol=1e-6)


def test_int8_bad_inputs(int8_tiny, tmp_path):
    built, q = int8_tiny
    registry = get_manager().registry("compressor")
    with pytest.raises(UnknownNameError, match="Did you mean 'int8'"):
        registry.get("int-8")
    with pytest.raises(AutoGLMError, match="backend"):
        registry.get("int8")(options={"backend": "onnx"})
    with pytest.raises(AutoGLMError, match="bakend"):
        registry.get("int8")(options={"bakend": "torch-ao"})
    with pytest.raises(AutoGLMError, match="already a 'int8' variant"):
        registry.get("int8")().compress(q, None)
    with pytest.raises(AutoGLMError, match="nothing to quantize"):
        registry.get("int8")(options={"linear": False, "embeddings": False}).compress(built, None)
    try:
        import torchao  # noqa: F401
    except ImportError:
        with pytest.raises(AutoGLMError, match="backend='torchao'.*pip install torchao"):
            registry.get("int8")(options={"backend": "torchao"}).compress(built, None)
    # a damaged saved model is a clear load error, not a traceback
    q.save(tmp_path / "bad")
    (tmp_path / "bad" / "int8_model.safetensors").unlink()
    with pytest.raises(AutoGLMError, match="int8_model.safetensors"):
        load_model(tmp_path / "bad")


def test_int8_saves_of_the_same_model_are_byte_identical(int8_tiny, tmp_path):
    import hashlib

    from autoglm_plugin_int8.quantize import WEIGHTS_FILE

    q = int8_tiny[1]
    digests = {hashlib.sha256((q.save(tmp_path / f"m{i}") / WEIGHTS_FILE).read_bytes()).hexdigest() for i in range(8)}
    assert len(digests) == 1, digests  # the metadata's order no longer changes from save to save
    again = load_model(tmp_path / "m0")
    np.testing.assert_allclose(again.predict_proba(TEXTS), q.predict_proba(TEXTS), atol=1e-6)

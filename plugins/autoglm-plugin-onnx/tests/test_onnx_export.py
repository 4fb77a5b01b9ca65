"""`autoglm export --format onnx [--int8]` and ONNX Runtime inference through Predictor.

Tolerances (stated in autoglm_plugin_onnx.export): fp32 ONNX vs torch probabilities within 1e-4;
INT8 ONNX (dynamic quantization) within 0.1 of fp32 torch, and the same label on most texts.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from autoglm_core.testing import trained_tiny_classifier
from autoglm_core.types.errors import AutoGLMError, ModelLoadError  # noqa: E402

TEXTS = ["Nokia profit rose in quarter 2", "Acme heavy losses", "board appointed",
         "Kone sales dropped in quarter 4 while debt rose and layoffs announced " * 3, "x", "Elisa contract signed"]




@pytest.fixture(scope="module")
def onnx_src_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx") / "model"
    trained_tiny_classifier(seed=1).save(d)
    return d


def _cli(argv):
    from autoglm_plugin_onnx import command as cmd_export

    from autoglm_core.cli.commands import predict as cmd_predict

    parser = argparse.ArgumentParser(prog="autoglm")
    sub = parser.add_subparsers(dest="command")
    cmd_predict.autoglm_add_commands(sub)
    cmd_export.autoglm_add_commands(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.mark.slow
def test_onnx_fp32_matches_torch(onnx_src_dir, tmp_path, capsys):
    from autoglm_plugin_onnx.export import FP32_TOLERANCE

    from autoglm_core.engine.predictor import Predictor

    out = tmp_path / "m-onnx"
    assert _cli(["export", str(onnx_src_dir), "--format", "onnx", "--out", str(out)]) == 0
    assert "largest probability difference" in capsys.readouterr().out
    meta = json.loads((out / "autoglm_model.json").read_text())
    assert meta["format"] == "onnx" and meta["onnx"]["int8"] is False
    assert meta["onnx"]["max_abs_diff"] <= FP32_TOLERANCE
    onnx_p, torch_p = Predictor.load(out), Predictor.load(onnx_src_dir)
    assert onnx_p.info["backend"] == "onnxruntime" and onnx_p.labels == torch_p.labels
    # dynamic axes: batch 1 and batch 4, short and long texts
    for bs in (1, 4):
        got, want = onnx_p.predict_proba(TEXTS, batch_size=bs), torch_p.predict_proba(TEXTS, batch_size=bs)
        np.testing.assert_allclose(got, want, atol=FP32_TOLERANCE)
    assert np.abs(want - want[0]).max() > 0.01  # texts really differ
    assert [r["label"] for r in onnx_p.predict(TEXTS)] == [r["label"] for r in torch_p.predict(TEXTS)]
    # the ONNX folder is a self-contained model directory for `autoglm predict`
    assert _cli(["predict", str(out), TEXTS[0]]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == torch_p.predict([TEXTS[0]])[0]["label"]


def test_onnx_int8_close_to_torch(onnx_src_dir, tmp_path):
    from autoglm_plugin_onnx.export import INT8_TOLERANCE, export_onnx

    from autoglm_core.engine.predictor import Predictor

    out = tmp_path / "m-int8"
    meta = export_onnx(onnx_src_dir, out, int8=True)
    assert meta["onnx"]["int8"] is True and meta["variant"].endswith("+onnx-int8")
    fp32_size = sum(f.stat().st_size for f in onnx_src_dir.glob("*.safetensors"))
    assert (out / "model.onnx").stat().st_size < fp32_size  # INT8 weights are smaller
    got = Predictor.load(out).predict_proba(TEXTS)
    want = Predictor.load(onnx_src_dir).predict_proba(TEXTS)
    assert np.abs(got - want).max() < INT8_TOLERANCE
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.8


def test_export_errors(onnx_src_dir, tmp_path):
    from autoglm_plugin_onnx.export import export_onnx

    from autoglm_core.models.loading import load_model

    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(AutoGLMError, match="not empty"):
        export_onnx(onnx_src_dir, out)
    assert (out / "keep.txt").exists()
    done = tmp_path / "done"
    export_onnx(onnx_src_dir, done)
    with pytest.raises(ModelLoadError, match="ONNX export; load it with"):
        load_model(done)
    with pytest.raises(ModelLoadError, match="does not exist"):
        export_onnx(tmp_path / "missing", tmp_path / "o")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind

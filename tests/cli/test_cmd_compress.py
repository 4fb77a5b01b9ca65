"""`autoglm compress MODEL_DIR --method ... --data FILE` on a tiny saved classifier."""

from __future__ import annotations

import json

import pytest

from autoglm_core.cli.main import main
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, tiny_text_classifier, write_csv


def _need(name):
    if name not in get_manager().registry("compressor"):
        pytest.skip(f"compressor {name!r} is not installed (plugins/autoglm-plugin-*)")


@pytest.fixture
def cc_model_and_data(tmp_path):
    built = tiny_text_classifier()
    model_dir = built.save(tmp_path / "model")
    data = write_csv(tmp_path / "data.csv", sample_examples(40))
    return model_dir, data, tmp_path


def _run(*argv):
    return main(["compress", *map(str, argv), "--repeats", "1", "--latency-examples", "8"])


def test_compress_int8_prints_table_and_saves(cc_model_and_data, capsys):
    _need("int8")
    model_dir, data, tmp = cc_model_and_data
    assert _run(model_dir, "--method", "int8", "--data", data, "--out", tmp / "q") == 0
    out = capsys.readouterr().out
    assert "| variant | accuracy | macro-F1 | ms/ex b1 | ms/ex b32 |" in out
    assert "fine-tuned (original)" in out and "| int8 |" in out
    assert "evaluated on all 40 rows" in out
    report = json.loads((tmp / "q" / "compression_report.json").read_text())
    fp32, q = report["rows"]
    assert q["size_mb"] < 0.5 * fp32["size_mb"]
    assert q["latency_ms_b1"] > 0 and q["latency_ms_b32"] > 0
    assert 0 <= q["accuracy"] <= 1
    meta = json.loads((tmp / "q" / "autoglm_model.json").read_text())
    assert meta["format"] == "int8"
    # refuses to overwrite without --overwrite
    assert _run(model_dir, "--method", "int8", "--data", data, "--out", tmp / "q") == 2
    assert "--overwrite" in capsys.readouterr().err


def test_compress_distill_holds_out_test_split(cc_model_and_data, capsys):
    _need("distill")
    model_dir, data, tmp = cc_model_and_data
    rc = _run(model_dir, "--method", "distill", "--option", "num_layers=1", "--option", "max_steps=2",
              "--option", "batch_size=8", "--data", data, "--out", tmp / "d")
    assert rc == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "distill trained on" in out and "held-out rows" in out
    report = json.loads((tmp / "d" / "compression_report.json").read_text())
    assert report["rows"][1]["params"] < report["rows"][0]["params"]
    assert report["options"]["num_layers"] == 1


def test_compress_bad_input(cc_model_and_data, capsys):
    _need("prune-magnitude")
    model_dir, data, tmp = cc_model_and_data
    assert _run(model_dir, "--method", "prune-magnitud", "--data", data) == 2
    assert "Did you mean 'prune-magnitude'" in capsys.readouterr().err
    assert _run(model_dir, "--method", "prune-magnitude", "--option", "sparsity=1.5", "--data", data) == 2
    err = capsys.readouterr().err
    assert "sparsity" in err and "--method prune-magnitude" in err and "Traceback" not in err
    assert _run(model_dir, "--method", "prune-magnitude", "--option", "sparsity", "--data", data) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert _run(model_dir, "--method", "prune-magnitude", "--data", tmp / "missing.csv") == 2
    assert "missing.csv" in capsys.readouterr().err
    # labels the model does not know
    bad = tmp / "bad.csv"
    bad.write_text("text,label\nprofit rose,bullish\n", encoding="utf-8")
    assert _run(model_dir, "--method", "prune-magnitude", "--data", bad) == 2
    assert "bullish" in capsys.readouterr().err
    # a model directory that is not a classifier
    from autoglm_core.models.tiny import tiny_gpt2_lm

    lm, tok = tiny_gpt2_lm([ex.text for ex in sample_examples(20)])
    lm.save_pretrained(tmp / "lm")
    tok.save_pretrained(tmp / "lm")
    assert _run(tmp / "lm", "--method", "prune-magnitude", "--data", data) == 2
    assert "not a sequence classifier" in capsys.readouterr().err

"""Predictor and `autoglm predict`: fp32 tiny models (and the int8 plugin when it is installed)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from autoglm_core.testing import trained_tiny_classifier
from autoglm_core.types.errors import AutoGLMError, DataError, ModelLoadError

TEXTS = ["Nokia profit rose in quarter 2", "Acme heavy losses", "board appointed",
         "Kone sales dropped in quarter 4 while debt rose and layoffs announced", "x"]




@pytest.fixture(scope="module")
def predict_model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pred") / "model"
    trained_tiny_classifier().save(d)
    return d


def _cli(argv: list[str]) -> int:
    from autoglm_core.cli.commands import predict as cmd_predict

    parser = argparse.ArgumentParser(prog="autoglm")
    cmd_predict.autoglm_add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.mark.slow
def test_predict_matches_model_and_keeps_order(predict_model_dir):
    from autoglm_core.engine.predictor import Predictor
    from autoglm_core.models.loading import load_model

    p = Predictor.load(predict_model_dir)
    assert p.labels == ["negative", "neutral", "positive"]
    assert p.info["backend"] == "torch" and p.info["model"] == "tiny-bert"
    want = load_model(predict_model_dir).predict_proba(TEXTS, batch_size=1)
    for bs in (1, 2, 32):  # length-sorted batching must give back rows in input order
        got = p.predict_proba(TEXTS, batch_size=bs)
        np.testing.assert_allclose(got, want, atol=1e-5)
    rows = p.predict(TEXTS, batch_size=2)
    assert [r["label"] for r in rows] == [p.labels[i] for i in want.argmax(1)]
    assert len({r["label"] for r in rows}) >= 1
    for r in rows:
        assert set(r["probabilities"]) == set(p.labels)
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # the sharpened head makes texts differ: a row mix-up would be visible
    assert np.abs(want - want[0]).max() > 0.01
    assert p.predict([]) == []
    assert len(p.predict("one text")) == 1


def test_predict_rejects_non_strings(predict_model_dir):
    from autoglm_core.engine.predictor import Predictor

    p = Predictor.load(predict_model_dir)
    with pytest.raises(AutoGLMError, match=r"texts\[1\] is a int"):
        p.predict(["ok", 3])
    with pytest.raises(AutoGLMError, match="batch_size"):
        p.predict(["ok"], batch_size=0)


def test_predict_file_jsonl_and_csv(predict_model_dir, tmp_path):
    from autoglm_core.engine.predictor import Predictor

    p = Predictor.load(predict_model_dir)
    want = p.predict(TEXTS)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(TEXTS)) + "\n\n", encoding="utf-8")
    out = tmp_path / "sub" / "preds.jsonl"
    assert p.predict_file(src, out, batch_size=2, progress=False) == len(TEXTS)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    assert [r["text"] for r in rows] == TEXTS
    assert [r["label"] for r in rows] == [w["label"] for w in want]
    assert rows[0]["line"] == 1
    assert not [f for f in out.parent.iterdir() if f.name != "preds.jsonl"]  # no temp file left

    src_csv = tmp_path / "in.csv"
    with src_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "sentence"])
        for t in TEXTS:
            w.writerow(["?", t])
    out2 = tmp_path / "preds2.jsonl"
    p.predict_file(src_csv, out2, progress=False)
    rows2 = [json.loads(line) for line in out2.read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in rows2] == [w["label"] for w in want]
    assert rows2[0]["line"] == 2


def test_predict_file_bad_input_names_file_and_line(predict_model_dir, tmp_path):
    from autoglm_core.engine.predictor import Predictor

    p = Predictor.load(predict_model_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": broken\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl: line 2.*invalid JSON"):
        p.predict_file(bad, tmp_path / "o.jsonl", progress=False)
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: no text field"):
        p.predict_file(nofield, tmp_path / "o.jsonl", progress=False)
    with pytest.raises(DataError, match="must be a .jsonl, .csv"):
        p.predict_file(tmp_path / "x.parquet", tmp_path / "o.jsonl", progress=False)
    assert not (tmp_path / "o.jsonl").exists()


def test_pickle_weights_refused_unless_allowed(tmp_path):
    from autoglm_core.engine.predictor import Predictor
    from autoglm_core.testing import tiny_text_classifier

    built = tiny_text_classifier()
    d = tmp_path / "pickled"
    built.model.save_pretrained(d, safe_serialization=False)
    built.tokenizer.save_pretrained(d)
    assert (d / "pytorch_model.bin").exists()
    with pytest.raises(ModelLoadError, match="pickle"):
        Predictor.load(d)
    assert Predictor.load(d, allow_pickle=True).predict(["a"])[0]["label"] in built.labels


def test_cli_predict_texts_and_file(predict_model_dir, tmp_path, capsys):
    from autoglm_core.engine.predictor import Predictor

    want = Predictor.load(predict_model_dir).predict(TEXTS[:2])
    assert _cli(["predict", str(predict_model_dir), TEXTS[0], TEXTS[1]]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == [w["label"] for w in want]
    assert lines[0]["text"] == TEXTS[0]

    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(t) for t in TEXTS), encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    assert _cli(["predict", str(predict_model_dir), "--input", str(src), "--output", str(out), "--batch-size", "2"]) == 0
    err = capsys.readouterr().err
    assert "wrote 5 predictions" in err and "text" in err  # tqdm progress bar on stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5
    with pytest.raises(AutoGLMError, match="nothing to predict"):
        _cli(["predict", str(predict_model_dir)])
    with pytest.raises(ModelLoadError, match="does not exist"):
        _cli(["predict", str(tmp_path / "nope"), "a"])


def test_int8_variant_if_plugin_installed(predict_model_dir, tmp_path):
    from autoglm_core.engine.predictor import Predictor
    from autoglm_core.models.loading import load_model
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import UnknownNameError

    try:
        compressor_cls = get_manager().registry("compressor").get("int8")
    except UnknownNameError:
        pytest.skip("autoglm-plugin-int8 is not installed")
    built = load_model(predict_model_dir)
    small = compressor_cls(options={}).compress(built, None)
    d = tmp_path / "int8"
    small.save(d)
    p = Predictor.load(d)
    assert p.info["format"] == small.format
    got = p.predict_proba(TEXTS)
    want = Predictor.load(predict_model_dir).predict_proba(TEXTS)
    assert got.shape == want.shape
    # INT8 rounding moves probabilities a little; the sharpened head keeps most labels
    assert np.abs(got - want).max() < 0.2
    out = tmp_path / "p.jsonl"
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": TEXTS[0]}) + "\n", encoding="utf-8")
    assert _cli(["predict", str(d), "--input", str(src), "--output", str(out), "--no-progress"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["label"] in p.labels

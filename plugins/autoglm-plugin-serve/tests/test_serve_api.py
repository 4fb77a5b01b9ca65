"""`autoglm serve`: endpoints, dynamic batching, bad input; a real uvicorn server on a free loopback port."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

TEXTS = ["Nokia profit rose in quarter 2", "Acme heavy losses", "board appointed", "Kone sales dropped", "x",
         "Elisa contract signed", "Orion shares jumped", "Fortum debt rose"]


def _args(model_dir, *extra):
    from autoglm_plugin_serve.command import add_serve_parser

    parser = argparse.ArgumentParser(prog="autoglm")
    add_serve_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", str(model_dir), *extra])


def _app(model_dir, *extra):
    from autoglm_plugin_serve.command import build_app

    return build_app(_args(model_dir, *extra))


def test_command_registered_through_hook_and_defaults_to_loopback(serve_model_dir):
    from autoglm_core.plugin.manager import get_manager

    parser = argparse.ArgumentParser(prog="autoglm")
    sub = parser.add_subparsers(dest="command")
    get_manager().hook.autoglm_add_commands(subparsers=sub)
    args = parser.parse_args(["serve", str(serve_model_dir)])
    assert args.host == "127.0.0.1" and args.port == 8000
    assert args.max_batch_size == 32 and args.max_wait_ms == 0.0 and args.max_queue == 256
    assert args.handler.__module__ == "autoglm_plugin_serve.command"


def test_endpoints_and_predictions_match_predictor(serve_model_dir, serve_server):
    from autoglm_core.engine.predictor import Predictor

    want = Predictor.load(serve_model_dir).predict_proba(TEXTS)
    with serve_server(_app(serve_model_dir)) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/health").json()["status"] == "ok"
        meta = c.get("/metadata").json()
        assert meta["labels"] == ["negative", "neutral", "positive"]
        assert meta["model"] == "tiny-bert" and meta["backend"] == "torch" and meta["variant"] == "fine-tuned"
        assert {"autoglm-core", "torch", "fastapi", "uvicorn"} <= set(meta["versions"])
        assert meta["limits"]["max_batch_size"] == 32
        spec = c.get("/openapi.json").json()
        assert {"/predict", "/health", "/metadata"} <= set(spec["paths"])
        body_schema = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert {"text", "texts"} <= set(body_schema["properties"])

        one = c.post("/predict", json={"text": TEXTS[0]}).json()
        assert len(one["predictions"]) == 1 and one["warnings"] == []
        probs = one["predictions"][0]["probabilities"]
        assert [probs[lab] for lab in meta["labels"]] == pytest.approx(list(want[0]), abs=1e-5)
        many = c.post("/predict", json={"texts": TEXTS}).json()
        got = np.array([[p["probabilities"][lab] for lab in meta["labels"]] for p in many["predictions"]])
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert [p["label"] for p in many["predictions"]] == [meta["labels"][i] for i in want.argmax(1)]


def test_concurrent_requests_are_batched_and_answered_correctly(serve_model_dir, serve_server):
    from autoglm_core.engine.predictor import Predictor

    want = Predictor.load(serve_model_dir).predict_proba(TEXTS)
    labels = ["negative", "neutral", "positive"]

    async def fire(url, n):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            rs = await asyncio.gather(*[c.post("/predict", json={"text": TEXTS[i % len(TEXTS)]}) for i in range(n)])
            return [r.json() for r in rs], (await c.get("/stats")).json()

    # a long wait makes the batches fill up deterministically on a busy machine
    with serve_server(_app(serve_model_dir, "--max-batch-size", "8", "--max-wait-ms", "200")) as url:
        bodies, stats = asyncio.run(fire(url, 24))
    for i, b in enumerate(bodies):  # every client gets the answer for its own text
        p = b["predictions"][0]["probabilities"]
        assert [p[lab] for lab in labels] == pytest.approx(list(want[i % len(TEXTS)]), abs=1e-5)
    assert stats["requests"] == 24 and stats["texts"] == 24
    assert stats["batches"] < 24 and stats["max_batch_texts"] > 1
    assert stats["max_batch_texts"] <= 8

    with serve_server(_app(serve_model_dir, "--max-batch-size", "1", "--max-wait-ms", "200")) as url:
        _, stats1 = asyncio.run(fire(url, 6))
    assert stats1["batches"] == 6 and stats1["max_batch_texts"] == 1


def _err(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["status"] == status and body["error"]["message"]
    return body["error"]


def test_bad_input_gets_4xx_json_and_server_keeps_serving(serve_model_dir, serve_server):
    app = _app(serve_model_dir, "--max-texts", "100", "--max-text-chars", "5000", "--max-body-bytes", "3000000")
    with serve_server(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        hdr = {"content-type": "application/json"}
        assert _err(c.post("/predict", content=b'{"text": "unterminated', headers=hdr), 400)["type"] == "invalid_json"
        _err(c.post("/predict", content=b"\xff\xfe\x00", headers=hdr), 400)
        assert "text" in _err(c.post("/predict", json={}), 422)["message"]
        _err(c.post("/predict", json={"text": ""}), 422)
        _err(c.post("/predict", json={"text": "   "}), 422)
        _err(c.post("/predict", json={"texts": []}), 422)
        _err(c.post("/predict", json={"texts": ["ok", ""]}), 422)
        _err(c.post("/predict", json={"text": 5}), 422)
        _err(c.post("/predict", json={"texts": ["a", None]}), 422)
        _err(c.post("/predict", json={"text": "a", "texts": ["b"]}), 422)
        e = _err(c.post("/predict", json={"txt": "a"}), 422)
        assert e["details"][0]["loc"] == ["txt"] and e["details"][0]["type"] == "extra_forbidden"
        _err(c.post("/predict", json=["a list"]), 422)
        e = _err(c.post("/predict", content=b"text=hello", headers={"content-type": "application/x-www-form-urlencoded"}), 415)
        assert e["type"] == "unsupported_media_type"
        _err(c.post("/predict", content=b'{"text": "a"}', headers={"content-type": "text/plain"}), 415)
        e = _err(c.post("/predict", json={"texts": ["a"] * 5000}), 413)
        assert "5000" in e["message"] and "100" in e["message"]
        # a 1 MB text: cut to --max-text-chars, with a warning in the response
        r = c.post("/predict", json={"text": "profit rose " * 90_000})
        assert r.status_code == 200, r.text
        assert r.json()["warnings"] and "5000" in r.json()["warnings"][0]
        # a body over --max-body-bytes: 413 before parsing (declared length and chunked upload)
        big = json.dumps({"text": "a" * 3_100_000}).encode()
        assert _err(c.post("/predict", content=big, headers=hdr), 413)["type"] == "payload_too_large"
        chunked = c.post("/predict", content=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]), headers=hdr)
        _err(chunked, 413)
        _err(c.get("/nope"), 404)
        _err(c.get("/predict"), 405)
        # still serving
        assert c.get("/health").json()["status"] == "ok"
        assert c.post("/predict", json={"text": "Nokia profit rose"}).status_code == 200


def test_pickle_model_refused_unless_allowed(serve_model_dir, tmp_path):
    from autoglm_core.models.loading import load_model
    from autoglm_core.types.errors import ModelLoadError

    built = load_model(serve_model_dir)
    d = tmp_path / "pickled"
    built.model.save_pretrained(d, safe_serialization=False)
    built.tokenizer.save_pretrained(d)
    args = _args(d, "--port", "0")
    with pytest.raises(ModelLoadError, match="--allow-pickle"):
        args.handler(args)  # refused before anything listens
    assert _app(d, "--allow-pickle").state.predictor.labels == built.labels


def test_option_errors(serve_model_dir):
    from autoglm_core.types.errors import ConfigError

    with pytest.raises(ConfigError, match="--max-batch-size"):
        _app(serve_model_dir, "--max-batch-size", "0")
    with pytest.raises(ConfigError, match="--max-wait-ms"):
        _app(serve_model_dir, "--max-wait-ms", "-1")


@pytest.mark.slow
def test_serves_onnx_export(serve_model_dir, tmp_path, serve_server):
    pytest.importorskip("onnxruntime")
    from autoglm_plugin_onnx.export import export_onnx

    from autoglm_core.engine.predictor import Predictor

    out = tmp_path / "onnx"
    export_onnx(serve_model_dir, out)
    want = Predictor.load(serve_model_dir).predict(TEXTS[:3])
    with serve_server(_app(out)) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/metadata").json()["backend"] == "onnxruntime"
        got = c.post("/predict", json={"texts": TEXTS[:3]}).json()["predictions"]
    assert [g["label"] for g in got] == [w["label"] for w in want]


def test_model_without_checksums_warns_and_verify_refuses(serve_model_dir, tmp_path):
    import shutil

    from autoglm_core.io.checksums import CHECKSUM_FILE, ChecksumError, UnverifiedModelWarning

    copy = Path(shutil.copytree(serve_model_dir, tmp_path / "model"))
    (copy / CHECKSUM_FILE).unlink()
    with pytest.warns(UnverifiedModelWarning, match=f"has no {CHECKSUM_FILE}"):
        _app(copy)
    with pytest.raises(ChecksumError, match="no checksums were recorded"):
        _app(copy, "--verify")

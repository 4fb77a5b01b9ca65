"""The serve command as a separate process: starts on a free loopback port, answers, stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest


@pytest.mark.slow
def test_serve_subprocess_starts_answers_and_stops(serve_model_dir, serve_free_port):
    port = serve_free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoglm_plugin_serve", "serve", str(serve_model_dir), "--port", str(port),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up in 90 s"
            time.sleep(0.2)
        r = httpx.post(f"{url}/predict", json={"texts": ["Nokia profit rose", "Acme heavy losses"]}, timeout=30)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode is not None


def test_serve_subprocess_refuses_pickle(tmp_path, serve_model_dir, serve_free_port):
    from autoglm_core.models.loading import load_model

    built = load_model(serve_model_dir)
    built.model.save_pretrained(tmp_path, safe_serialization=False)
    built.tokenizer.save_pretrained(tmp_path)
    r = subprocess.run([sys.executable, "-m", "autoglm_plugin_serve", "serve", str(tmp_path), "--port", str(serve_free_port())],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2
    assert "pickle" in r.stderr and "--allow-pickle" in r.stderr and "Traceback" not in r.stderr

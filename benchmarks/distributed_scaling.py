"""Scaling benchmark: 1 vs 2 processes, 1 vs 2 "nodes" (two torchrun agents on 127.0.0.1) and 1 vs 2
search workers, with the communication share of a training step and a model of scaling on N GPUs.

    OMP_NUM_THREADS=1 python benchmarks/distributed.py --scaling [--examples 256] [--trials 4] [--ray]

(the same as ``python benchmarks/distributed_scaling.py``). The communication share comes from two
measurements side by side: the compute of one training step (forward + backward on one rank's half
batch, one process) and a gloo ``all_reduce`` of a tensor of the gradient's size between two processes.
On this shared 2-core CPU little speed-up is expected: the two processes compete for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _allreduce_worker(rank: int, world: int, port: int, numel: int, repeats: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    t = torch.ones(numel)
    dist.all_reduce(t)  # warm-up: connection set-up is not per step
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(repeats):
        dist.all_reduce(t)
    dt = (time.perf_counter() - t0) / repeats
    if rank == 0:
        Path(out).write_text(json.dumps({"allreduce_s": dt}))
    dist.destroy_process_group()


def allreduce_time(numel: int, repeats: int = 10) -> float:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as d:
        out = str(Path(d) / "t.json")
        mp.spawn(_allreduce_worker, args=(2, free_port(), numel, repeats, out), nprocs=2, join=True)
        return json.loads(Path(out).read_text())["allreduce_s"]


def step_compute_time(model, tokenizer, texts, labels, repeats: int = 5) -> float:
    """Forward + backward of one rank's half batch, no communication."""
    import torch

    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=64, return_tensors="pt")
    y = torch.tensor(labels)
    model.train()
    model(**enc, labels=y).loss.backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        model.zero_grad()
        model(**enc, labels=y).loss.backward()
    return (time.perf_counter() - t0) / repeats


def train_rows(examples, built, batch: int):
    from autoglm_core.training.distributed import finish_nodes
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.schemas import TrainConfig

    state = {k: v.clone() for k, v in built.model.state_dict().items()}

    def fresh():
        m = type(built.model)(built.model.config)
        m.load_state_dict(state)
        return m

    base = dict(epochs=1, learning_rate=1e-4, batch_size=batch, max_length=64, warmup_ratio=0.0)
    rows = []
    for label, n, nodes in (("1 process", 1, 1), ("2 processes (1 torchrun agent)", 2, 1),
                            ("2 nodes x 1 process (2 torchrun agents, c10d on 127.0.0.1)", 1, 2)):
        env_keys, other = {}, None
        if nodes == 2:
            job_dir, port = Path(tempfile.mkdtemp(prefix="autoglm-bench-nodes-")), free_port()
            env_keys = {"AUTOGLM_NNODES": "2", "AUTOGLM_RDZV_ENDPOINT": f"127.0.0.1:{port}",
                        "AUTOGLM_RDZV_ID": f"bench-{port}", "AUTOGLM_DIST_JOB_DIR": str(job_dir)}
            code = ("import sys; from pathlib import Path; from autoglm_core.training.distributed import serve_node; "
                    "sys.exit(serve_node(Path(sys.argv[1]), 1, progress=False, idle_timeout_s=300))")
            other = subprocess.Popen([sys.executable, "-c", code, str(job_dir)],
                                     env={**os.environ, **env_keys, "AUTOGLM_NODE_RANK": "1"})
            os.environ.update({**env_keys, "AUTOGLM_NODE_RANK": "0"})
        try:
            t0 = time.perf_counter()
            res = fine_tune(fresh(), built.tokenizer, examples, [], built.labels,
                            TrainConfig(**base, num_processes=n), seed=0, device="cpu", progress=False)
            wall = time.perf_counter() - t0
        finally:
            if other is not None:
                finish_nodes(Path(env_keys["AUTOGLM_DIST_JOB_DIR"]), ok=True)
                other.wait(120)
                for k in [*env_keys, "AUTOGLM_NODE_RANK"]:
                    os.environ.pop(k, None)
        rows.append((label, n * nodes, res.steps, res.duration_s, len(examples) / res.duration_s, wall))
        print(f"done: {label}: {res.duration_s:.1f}s loop, {wall:.1f}s wall", file=sys.stderr, flush=True)
    return rows


def search_setups(with_ray: bool) -> list[tuple[str, dict]]:
    """(label, search config overrides): 1 vs 2 optuna workers; with --ray, the ray backend (needs
    autoglm-plugin-ray) with 1 vs 2 trials at a time on a local Ray of 2 CPUs."""
    setups = [(f"{w} worker(s)", {"workers": w}) for w in (1, 2)]
    if with_ray:
        setups += [(f"ray, {c} trial(s) at a time", {"backend": "ray", "backend_options": {
            "num_cpus": 2, "max_concurrent_trials": c}}) for c in (1, 2)]
    return setups


def search_rows(trials: int, n_examples: int, with_ray: bool = False):
    from autoglm_core import AutoTask
    from autoglm_core.testing import sample_examples, write_csv

    rows = []
    with tempfile.TemporaryDirectory() as d:
        csv = write_csv(Path(d) / "news.csv", sample_examples(n_examples))
        for i, (workers, extra) in enumerate(search_setups(with_ray)):
            config = {"train": {"batch_size": 8, "epochs": 1}, "compress": [], "zero_shot": {"enabled": False},
                      "evaluate": {"latency_repeats": 1, "latency_examples": 4},
                      "search": {"trials": trials, "pruner": "none",
                                 "space": {"learning_rate": [1e-4, 1e-2, "log"]}, **extra}}
            task = AutoTask.create(task_type="text_classification", dataset=csv, out=Path(d) / f"run{i}",
                                   config=config, description="Classify news sentiment", backbones=["tiny-bert"])
            t0 = time.perf_counter()
            report = task.auto_build().launch(progress=False)
            wall = time.perf_counter() - t0
            m = next(s for s in report.stages if s.stage == "search")
            ms = m.metrics
            rows.append((workers, ms["n_trials"], ms["seconds_this_run"], ms["n_trials"] / ms["seconds_this_run"],
                         wall, ms["best_value"], sorted({t["worker"] for t in ms["trials"]})))
            print(f"done: search with {workers}: {ms['seconds_this_run']:.1f}s", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--ray", action="store_true", help="also the ray search backend (autoglm-plugin-ray)")
    args = ap.parse_args(sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "--scaling" else None)

    import torch

    from autoglm_core.testing import sample_examples, tiny_text_classifier

    torch.set_num_threads(1)
    examples = sample_examples(args.examples)
    built = tiny_text_classifier(texts=[e.text for e in examples])
    n_params = sum(p.numel() for p in built.model.parameters() if p.requires_grad)
    label_ids = {name: i for i, name in enumerate(built.labels)}
    half = examples[: args.batch // 2]
    compute_half = step_compute_time(built.model, built.tokenizer, [e.text for e in half],
                                     [label_ids[e.label] for e in half])
    comm = allreduce_time(n_params)
    train = train_rows(examples, built, args.batch)
    search = [] if args.skip_search else search_rows(args.trials, 80, args.ray)

    payload = 4 * n_params
    share = comm / (compute_half + comm)
    print(f"\ntiny BERT ({n_params / 1e6:.2f} M trainable params, fp32 gradient {payload / 1e6:.2f} MB), "
          f"{len(examples)} synthetic examples, global batch {args.batch}, max_length 64, 1 epoch, "
          f"{os.cpu_count()} CPU cores shared with other jobs, OMP_NUM_THREADS=1.\n")
    print("| setup | ranks | optimizer steps | loop s | samples/s | vs 1 process | wall s (incl. start-up) |")
    print("|---|---|---|---|---|---|---|")
    for label, ranks, steps, loop, tp, wall in train:
        print(f"| {label} | {ranks} | {steps} | {loop:.1f} | {tp:.1f} | {tp / train[0][4]:.2f}x | {wall:.1f} |")
    if search:
        print("\n| search | trials | search s | trials/s | vs 1 worker | run wall s | best val macro-F1 | workers that ran trials |")
        print("|---|---|---|---|---|---|---|---|")
        for workers, n, secs, rate, wall, best, who in search:
            print(f"| {workers} | {n} | {secs:.1f} | {rate:.3f} | {rate / search[0][3]:.2f}x | {wall:.1f} "
                  f"| {best:.3f} | {who} |")
    bw = 2 * 0.5 * payload / comm  # ring all-reduce: each rank moves 2 (N-1)/N x payload
    print(f"\nCommunication share (2 ranks, gloo on loopback): compute per step per rank (half batch of "
          f"{len(half)}) {compute_half * 1e3:.1f} ms, all_reduce of the {payload / 1e6:.2f} MB gradient "
          f"{comm * 1e3:.1f} ms -> {100 * share:.0f}% of a synchronous step is communication "
          f"(effective bus bandwidth {bw / 1e9:.2f} GB/s).")
    full = 2 * compute_half
    print("\nModel: T(N) = C/N + 2 (N-1)/N x payload / B; speed-up S(N) = C / T(N), with C the compute of one "
          "global batch measured here (2 x half batch) and B the measured bandwidth:")
    print("| N | S(N), measured B | S(N), B = 100 GB/s (NVLink-class), same C |")
    print("|---|---|---|")
    for n in (1, 2, 4, 8, 16):
        t_meas = full / n + 2 * (n - 1) / n * payload / bw
        t_fast = full / n + 2 * (n - 1) / n * payload / 100e9
        print(f"| {n} | {full / t_meas:.2f} | {full / t_fast:.2f} |")


if __name__ == "__main__":
    main()

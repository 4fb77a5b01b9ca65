"""The hand-written baseline for benchmarks/e2e_phrasebank.py: what a user writes today with the
transformers Trainer (same backbone, same split files, same budget as the autoglm run).

    python benchmarks/baseline_trainer.py TRAIN.csv VAL.csv TEST.csv OUT.json [--epochs 8 --lr 1.5e-4]
"""

# --- user code starts (counted as "lines of user code") ---
import argparse
import json
import time

import numpy as np
import pandas as pd
from datasets import Dataset
from sklearn.metrics import accuracy_score, f1_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train"); ap.add_argument("val"); ap.add_argument("test"); ap.add_argument("out")  # noqa: E702
    ap.add_argument("--model", required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1.5e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    frames = {k: pd.read_csv(p) for k, p in (("train", args.train), ("val", args.val), ("test", args.test))}
    labels = sorted(frames["train"]["label"].unique())
    label2id = {lab: i for i, lab in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(args.model)

    def encode(df):
        ds = Dataset.from_dict({"text": df["text"].tolist(), "label": [label2id[x] for x in df["label"]]})
        return ds.map(lambda b: tok(b["text"], truncation=True, max_length=64), batched=True, remove_columns=["text"])

    data = {k: encode(v) for k, v in frames.items()}
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)

    def metrics(p):
        pred = np.argmax(p.predictions, axis=-1)
        return {"accuracy": accuracy_score(p.label_ids, pred), "macro_f1": f1_score(p.label_ids, pred, average="macro")}

    targs = TrainingArguments(
        output_dir=args.out + ".trainer", per_device_train_batch_size=32, per_device_eval_batch_size=64,
        learning_rate=args.lr, num_train_epochs=args.epochs, warmup_ratio=0.1, weight_decay=0.01,
        eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True, metric_for_best_model="macro_f1",
        save_total_limit=1, seed=args.seed, report_to=[], use_cpu=True, logging_strategy="no", disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=data["train"], eval_dataset=data["val"],
                      data_collator=DataCollatorWithPadding(tok), compute_metrics=metrics)
    trainer.train()
    result = trainer.evaluate(data["test"], metric_key_prefix="test")
    result["wall_s"] = time.perf_counter() - t0
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
# --- user code ends ---

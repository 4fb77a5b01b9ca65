"""Small data (fewer than ``KFOLD_THRESHOLD`` labelled train+validation rows): stratified k-fold
for the candidates that fit in seconds (TF-IDF, frozen-encoder heads).

A 24-row test split moves several points between seeds, so on small data the number a user sees
must come from more rows: each cheap candidate is scored by k-fold on train+validation (mean and
spread), its fold models also score the test split (mean and spread), and the model that is kept is
refit on all train+validation rows. Out-of-fold probabilities of the validation rows feed the
ensemble, so its weights are not fit on rows the members have seen. Fine-tuned transformers keep
the holdout validation split (k fine-tunings would cost k times the time); the report says which
protocol each candidate used.
"""

from __future__ import annotations

import statistics
from typing import Any

KFOLD_THRESHOLD = 2000
K = 5


def use_kfold(context: Any, built: Any) -> bool:
    splits = context.splits
    return callable(getattr(built, "fit", None)) and len(splits.train) + len(splits.validation) < KFOLD_THRESHOLD


def _spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def kfold_fit(context: Any, candidate: Any, build: Any) -> Any:
    """Fit ``candidate`` with k-fold on train+validation; returns the model refit on all of it and
    leaves the CV numbers and out-of-fold validation probabilities in ``context.scratch``."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    splits = context.splits
    train, val, test = list(splits.train), list(splits.validation), list(splits.test)
    first = build(context, candidate)
    first.fit(train, val, context)  # picks the hyper-parameters (C) on the validation split
    C = first.meta.get("C")
    pool = train + val
    index = {lab: i for i, lab in enumerate(splits.labels)}
    y = np.array([index[ex.label] for ex in pool])
    k = int(min(K, np.bincount(y)[np.bincount(y) > 0].min()))
    if k < 2:  # a label with one row: nothing to fold; keep the holdout model
        return first
    oof = np.zeros((len(pool), len(splits.labels)), dtype=np.float32)
    cv_acc, cv_f1, test_acc = [], [], []
    from autoglm_core.metrics import classification_metrics

    y_test = [index[ex.label] for ex in test]
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=context.seed).split(np.zeros(len(y)), y)
    for fit_idx, held_idx in folds:
        model = build(context, candidate)
        model.fit([pool[i] for i in fit_idx], [], context, C=C)
        oof[held_idx] = model.predict_proba([pool[i].text for i in held_idx])
        m = classification_metrics(y[held_idx].tolist(), oof[held_idx].argmax(1).tolist(), splits.labels)
        cv_acc.append(m["accuracy"])
        cv_f1.append(m["macro_f1"])
        t = model.predict_proba([ex.text for ex in test]).argmax(1).tolist()
        test_acc.append(classification_metrics(y_test, t, splits.labels)["accuracy"])
    final = build(context, candidate)
    final.fit(pool, [], context, C=C)
    final.meta["protocol"] = f"{k}-fold"
    (acc_m, acc_s), (f1_m, _), (t_m, t_s) = _spread(cv_acc), _spread(cv_f1), _spread(test_acc)
    context.scratch[("val_probs", candidate.name, "fine-tuned")] = oof[len(train):]
    context.scratch[("cv", candidate.name)] = {
        "metrics": {"val_accuracy": acc_m, "val_macro_f1": f1_m, "cv_accuracy_mean": acc_m, "cv_accuracy_std": acc_s,
                    "fold_test_accuracy_mean": t_m, "fold_test_accuracy_std": t_s, "cv_folds": float(k)},
        "note": (f"{k}-fold CV on train+validation ({len(pool)} rows): accuracy {acc_m:.3f} ± {acc_s:.3f}; the fold "
                 f"models on the test split: {t_m:.3f} ± {t_s:.3f}; the kept model is refit on all {len(pool)} rows"),
    }
    final.meta.update({"cv_accuracy_mean": round(acc_m, 4), "cv_accuracy_std": round(acc_s, 4),
                       "fold_test_accuracy_mean": round(t_m, 4), "fold_test_accuracy_std": round(t_s, 4)})
    return final

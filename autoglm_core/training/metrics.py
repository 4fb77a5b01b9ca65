"""Classification metrics from a confusion matrix (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> list[list[int]]:
    import numpy as np

    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[int(t), int(p)] += 1
    return cm.tolist()


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro-F1 (over all labels; a class never predicted nor present scores 0 only if it
    is present), per-class precision/recall/F1/support, and the confusion matrix (rows = true)."""
    import numpy as np

    n = len(labels)
    cm = np.array(confusion_matrix(y_true, y_pred, n), dtype=np.float64)
    total = cm.sum()
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    per_class = {
        str(lab): {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": float(support[i])}
        for i, lab in enumerate(labels)
    }
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.astype(int).tolist(),
    }

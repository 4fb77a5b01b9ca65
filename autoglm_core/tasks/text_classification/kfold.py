"""Stratified k-fold on train+validation: always for the candidates that fit in seconds (TF-IDF,
frozen-encoder heads) up to ``BAG_MAX_ROWS`` rows, and for the fine-tuned recipe on small data
(fewer than ``KFOLD_THRESHOLD`` rows).

A 24-row test split moves several points between seeds, so on small data the number a user sees
must come from more rows: each cheap candidate is scored by k-fold on train+validation (mean and
spread), its fold models also score the test split (mean and spread), and the model that is kept is
refit on all train+validation rows. Out-of-fold probabilities feed the ensemble, so its weights are
not fit on rows the members have seen. The cheap candidates are bagged like this on bigger data
too (AutoGluon bags every model): the kept model gains the validation rows, and when every member
is cross-validated (a run under a time limit, where only the cheap ones fit) the ensemble weights
are chosen on the out-of-fold probabilities of all train+validation rows instead of the validation
rows alone (on ChnSentiCorp: 6,989 rows instead of 776, where the validation-chosen weights lost
to the best single member on the test rows).

Fine-tuned transformers train the kept model on the train split with early stopping on the
validation split as on big data, and then the same recipe (its settings, the epochs early stopping
chose) is cross-validated with ``fine_tuned_folds`` (3) folds on train+validation: the estimate and the
selection use the fold scores, not the 20-odd validation rows. On small data the word embeddings of
a large vocabulary stay fixed (``train.freeze_embeddings``), which makes each step ~2.5x cheaper
for me5-small, so the folds fit in the time one unfrozen fine-tuning took. Under a time limit the
fine-tuned candidates keep the holdout protocol (their share pays for one training). The report
says which protocol each candidate used.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterator
from typing import Any

from autoglm_core.training.loop import SMALL_DATA_ROWS
from autoglm_core.types.errors import ConfigError

#: one notion of "small data" for the folds and for freezing a large vocabulary's embeddings
KFOLD_THRESHOLD = SMALL_DATA_ROWS
K = 5
#: train+validation rows up to which the cheap candidates are bagged (their folds cost seconds:
#: the n-gram counts and the embeddings are computed once per text)
BAG_MAX_ROWS = 20_000


def small_data(context: Any) -> bool:
    splits = context.splits
    return len(splits.train) + len(splits.validation) < KFOLD_THRESHOLD


def use_kfold(context: Any, built: Any) -> bool:
    """A cheap candidate's model (one that fits itself) is bagged unless the data is big."""
    splits = context.splits
    return callable(getattr(built, "fit", None)) and len(splits.train) + len(splits.validation) <= BAG_MAX_ROWS


#: folds of a fine-tuned candidate's cross-validation when neither the config nor the variable says
FINE_TUNED_FOLDS = 3
FOLDS_ENV = "AUTOGLM_FINE_TUNED_FOLDS"


def fine_tuned_folds(config: Any) -> int:
    """``fine_tuned_folds`` of the config; when unset, ``$AUTOGLM_FINE_TUNED_FOLDS`` (the pytest plugin
    sets 0) or 3."""
    import os

    if config.fine_tuned_folds is not None:
        return int(config.fine_tuned_folds)
    raw = os.environ.get(FOLDS_ENV, "").strip()
    try:
        return max(0, int(raw)) if raw else FINE_TUNED_FOLDS
    except ValueError:
        raise ConfigError(f"{FOLDS_ENV}={raw!r} is not a number of folds (0 turns the cross-validation off)") from None


def cheap_folds(config: Any) -> int:
    """``K`` folds for the cheap families, or the fine-tuned candidates' number when those are
    cross-validated too: the same folds (same seed, same rows) for every candidate, so that no
    family's score comes from models trained on a larger share of the rows (on small data the
    learning curve is steep: 67% vs 80% of the rows is worth several points)."""
    folds = fine_tuned_folds(config)
    return folds if folds >= 2 else K


def use_kfold_fine_tuned(context: Any, candidate: Any) -> bool:
    return (fine_tuned_folds(context.config) >= 2 and small_data(context) and candidate.name not in context.time_shares
            and len(context.splits.validation) > 0)


def _spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _record(context: Any, name: str, train_rows: int, oof: Any, k: int, cv_acc: list[float], cv_f1: list[float],
            test_acc: list[float]) -> dict[str, float]:
    """Keep the out-of-fold probabilities (all of train+validation, and the validation rows for the
    ensemble) and return the CV metrics: the selection score is the fold mean."""
    context.scratch[("val_probs", name, "fine-tuned")] = oof[train_rows:]
    context.scratch[("oof", name)] = oof
    (acc_m, acc_s), (f1_m, _) = _spread(cv_acc), _spread(cv_f1)
    out = {"val_accuracy": acc_m, "val_macro_f1": f1_m, "cv_accuracy_mean": acc_m, "cv_accuracy_std": acc_s,
           "cv_folds": float(k)}
    if test_acc:
        out["fold_test_accuracy_mean"], out["fold_test_accuracy_std"] = _spread(test_acc)
    return out


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
    k = int(min(cheap_folds(context.config), np.bincount(y)[np.bincount(y) > 0].min()))
    if k < 2:  # a label with one row: nothing to fold; keep the holdout model
        return first
    oof = np.zeros((len(pool), len(splits.labels)), dtype=np.float32)
    cv_acc, cv_f1, test_acc = [], [], []
    from autoglm_core.training.metrics import classification_metrics

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
    metrics = _record(context, candidate.name, len(train), oof, k, cv_acc, cv_f1, test_acc)
    acc_m, acc_s = metrics["cv_accuracy_mean"], metrics["cv_accuracy_std"]
    t_m, t_s = metrics["fold_test_accuracy_mean"], metrics["fold_test_accuracy_std"]
    context.scratch[("cv", candidate.name)] = {
        "metrics": metrics,
        "note": (f"{k}-fold CV on train+validation ({len(pool)} rows): accuracy {acc_m:.3f} ± {acc_s:.3f}; the fold "
                 f"models on the test split: {t_m:.3f} ± {t_s:.3f}; the kept model is refit on all {len(pool)} rows"),
    }
    final.meta.update({"cv_accuracy_mean": round(acc_m, 4), "cv_accuracy_std": round(acc_s, 4),
                       "fold_test_accuracy_mean": round(t_m, 4), "fold_test_accuracy_std": round(t_s, 4)})
    return final


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def kfold_fine_tuned(context: Any, candidate: Any, config: Any, best_epoch: int, fit_rows: Any) -> None:
    """Cross-validate a fine-tuned candidate's recipe: ``fit_rows(rows, config, desc)`` fine-tunes a
    fresh model on ``rows`` (no validation: the epochs are fixed to those early stopping chose on the
    holdout run) and returns it. Leaves the CV numbers and out-of-fold validation probabilities in
    ``context.scratch`` like :func:`kfold_fit`; the kept model is the holdout one."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from autoglm_core.training.metrics import classification_metrics

    splits = context.splits
    train, val, test = list(splits.train), list(splits.validation), list(splits.test)
    pool = train + val
    index = {lab: i for i, lab in enumerate(splits.labels)}
    y = np.array([index[ex.label] for ex in pool])
    counts = np.bincount(y)
    k = int(min(fine_tuned_folds(context.config), counts[counts > 0].min()))
    if k < 2:
        return
    epochs = max(1, best_epoch or config.epochs)
    fold_config = config.model_copy(update={"epochs": epochs, "patience": epochs, "time_budget_s": None})
    oof = np.zeros((len(pool), len(splits.labels)), dtype=np.float32)
    cv_acc, cv_f1, test_acc = [], [], []
    y_test = [index[ex.label] for ex in test]
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=context.seed).split(np.zeros(len(y)), y)
    for i, (fit_idx, held_idx) in enumerate(folds, 1):
        with _quiet_transformers():  # its "newly initialized head" notice was printed for the kept model
            model = fit_rows([pool[j] for j in fit_idx], fold_config, f"{candidate.name} fold {i}/{k}")
        oof[held_idx] = model.predict_proba([pool[j].text for j in held_idx], batch_size=64,
                                            max_length=config.max_length)
        m = classification_metrics(y[held_idx].tolist(), oof[held_idx].argmax(1).tolist(), splits.labels)
        cv_acc.append(m["accuracy"])
        cv_f1.append(m["macro_f1"])
        if test:
            t = model.predict_proba([ex.text for ex in test], batch_size=64, max_length=config.max_length)
            test_acc.append(classification_metrics(y_test, t.argmax(1).tolist(), splits.labels)["accuracy"])
    metrics = _record(context, candidate.name, len(train), oof, k, cv_acc, cv_f1, test_acc)
    acc_m, acc_s = metrics["cv_accuracy_mean"], metrics["cv_accuracy_std"]
    t_m, t_s = metrics.get("fold_test_accuracy_mean", float("nan")), metrics.get("fold_test_accuracy_std", float("nan"))
    context.scratch[("cv", candidate.name)] = {
        "metrics": metrics,
        "note": (f"{k}-fold CV of the fine-tuning recipe on train+validation ({len(pool)} rows, {epochs} epoch(s) "
                 f"each, the epochs early stopping chose): accuracy {acc_m:.3f} ± {acc_s:.3f}; the fold models on "
                 f"the test split: {t_m:.3f} ± {t_s:.3f}; the kept model is the one trained on the train split"),
    }


def pool_labels(context: Any) -> Any:
    """Label indices of train+validation, the rows out-of-fold probabilities are stored for."""
    import numpy as np

    index = {lab: i for i, lab in enumerate(context.splits.labels)}
    return np.array([index[ex.label] for ex in list(context.splits.train) + list(context.splits.validation)])


def ensemble_estimate(context: Any, member_oof: dict[str, Any]) -> None:
    """The ensemble's k-fold estimate, nested so that it is not optimistic: for each of the k
    stratified parts of train+validation, ensemble selection runs on the members' out-of-fold
    probabilities of the other parts and the result is scored on that part (mean and spread)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from autoglm_core.engine.ensemble import caruana_weights
    from autoglm_core.training.metrics import classification_metrics

    y = pool_labels(context)
    counts = np.bincount(y)
    k = int(min(cheap_folds(context.config), counts[counts > 0].min()))
    if k < 2:
        return
    acc, f1 = [], []
    parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=context.seed).split(np.zeros(len(y)), y)
    for rest, part in parts:
        weights, _ = caruana_weights({n: p[rest] for n, p in member_oof.items()}, y[rest])
        mixed = sum(w * member_oof[n][part] for n, w in weights.items())
        m = classification_metrics(y[part].tolist(), np.asarray(mixed).argmax(1).tolist(), context.splits.labels)
        acc.append(m["accuracy"])
        f1.append(m["macro_f1"])
    (acc_m, acc_s), (f1_m, _) = _spread(acc), _spread(f1)
    context.scratch[("cv", "ensemble")] = {
        "metrics": {"val_accuracy": acc_m, "val_macro_f1": f1_m, "cv_accuracy_mean": acc_m, "cv_accuracy_std": acc_s,
                    "cv_folds": float(k)},
        "note": (f"weights chosen on the members' out-of-fold probabilities of all {len(y)} train+validation rows; "
                 f"estimate {acc_m:.3f} ± {acc_s:.3f}: over {k} parts, the weights chosen on the other parts scored "
                 f"on each"),
    }


def variant_estimate(context: Any, name: str, base_val: dict[str, float], variant_val: dict[str, float]) -> dict[str, float]:
    """A compressed variant of a cross-validated candidate: the candidate's k-fold mean plus the change
    the variant makes on the validation rows (its own folds were not trained), so that it is
    compared with the others on the same footing."""
    cv = context.scratch.get(("cv", name))
    if cv is None:
        return {}
    out = {}
    for key in ("accuracy", "macro_f1"):
        if key in base_val and key in variant_val and f"val_{key}" in cv["metrics"]:
            out[f"val_{key}"] = cv["metrics"][f"val_{key}"] + variant_val[key] - base_val[key]
    if "val_accuracy" in out:  # the k-fold estimate a user is shown for the selected model, shifted the same way
        out.update({"cv_accuracy_mean": out["val_accuracy"], "cv_accuracy_std": cv["metrics"]["cv_accuracy_std"],
                    "cv_folds": cv["metrics"]["cv_folds"]})
    return out

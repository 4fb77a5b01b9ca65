"""n-gram features + a linear classifier: logistic regression or a calibrated linear SVM on TF-IDF,
or logistic regression on n-gram presence weighted by naive-Bayes log-count ratios (NBSVM's
recipe, Wang & Manning 2012, with logistic regression as the linear model).

Every fitted model is reduced to ``softmax(W x + b)`` over the vectorizer's features: logistic
regression is that already; the SVM's probabilities come from a multinomial logistic fit on its
decision scores, which is linear in the scores, so the calibration folds into ``W`` and ``b``; the
naive-Bayes ratios scale the features elementwise, so they fold into ``W`` too. Saving the
vocabulary, IDF weights (TF-IDF blocks), ``W`` and ``b`` in one safetensors file is therefore the
whole model, and loading it needs no pickle. Features are fitted from per-text cached counts
(:mod:`.counts`), so folds and candidates that share a feature block analyse each text once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autoglm_core import BuiltModel, ModelFormat

from .common import C_GRID, NonNeuralModel, check_dir, class_logits, one_blas_thread, pick_c, softmax
from .counts import TOKEN_PATTERN, features, fit_features, make_vectorizer, uncached

FORMAT = "tfidf-linear"
WEIGHTS = "linear.safetensors"
FEATURES = {
    "word": {"analyzer": "word", "ngram_range": [1, 2], "token_pattern": TOKEN_PATTERN},
    "char": {"analyzer": "char_wb", "ngram_range": [1, 4]},
}
MAX_FEATURES = 300_000
#: from this many training rows on, C is not searched (each fit of a big set costs seconds to minutes
#: on a busy CPU, and the k-fold folds repeat it)
LARGE = 4000
BIG_DATA_C = 4.0
#: presence features scaled by log-count ratios want ~40x stronger regularisation than TF-IDF
#: (C 0.1 on ChnSentiCorp where TF-IDF wants 4); the grid above is divided by this
NB_C_SCALE = 40.0
#: smoothing of the naive-Bayes counts
NB_ALPHA = 1.0


class Linear:
    """The fitted parts: vectorizers (one per feature block) and the logits matrix."""

    def __init__(self, blocks: list[dict[str, Any]], vectorizers: list[Any], W: Any, b: Any):
        self.blocks, self.vectorizers, self.W, self.b = blocks, vectorizers, W, b

    def features(self, texts: list[str]) -> Any:
        from scipy.sparse import hstack

        mats = [features(v, b, texts) for v, b in zip(self.vectorizers, self.blocks, strict=True)]
        return mats[0].tocsr() if len(mats) == 1 else hstack(mats).tocsr()

    def eval(self) -> Linear:  # the core calls model.eval() before inference on torch models
        return self


class LinearTextModel(NonNeuralModel):
    """n-gram features + linear classifier; ``candidate.options``: features (word, char, word+char),
    classifier (lr, svm on TF-IDF; nblr on naive-Bayes-weighted presence)."""

    uncached = staticmethod(uncached)  # measure_latency times the vectorizer, not the count cache

    def predict_proba(self, texts: Any, batch_size: int = 32, max_length: int = 128) -> Any:
        import numpy as np

        if self.model is None:
            raise RuntimeError("the TF-IDF model is not fitted yet")
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        X = self.model.features(texts)
        return softmax(np.asarray(X @ self.model.W.T) + self.model.b).astype(np.float32)

    def fit(self, train: list[Any], validation: list[Any], context: Any, C: float | None = None) -> dict[str, Any]:
        with one_blas_thread():
            return self._fit(train, validation, context, C)

    def _fit(self, train: list[Any], validation: list[Any], context: Any, C: float | None) -> dict[str, Any]:
        """Fit on ``train``; C is picked on ``validation`` unless given (k-fold reuses it)."""
        import numpy as np

        t0 = time.perf_counter()
        opts = self.candidate.options if self.candidate else {}
        names = str(opts.get("features", "word")).split("+")
        index = {lab: i for i, lab in enumerate(self.labels)}
        texts = [ex.text for ex in train]
        y = np.array([index[ex.label] for ex in train])
        classifier = str(opts.get("classifier", "lr"))
        blocks = []
        for name in names:
            block = dict(FEATURES[name])
            block["max_features"] = int(opts.get("max_features", MAX_FEATURES))
            block["min_df"] = 2 if len(texts) >= 2000 else 1  # one-off n-grams of a big set are noise
            if classifier == "nblr":
                block["weighting"] = "binary"
            blocks.append(block)
        from scipy.sparse import hstack

        fitted = [fit_features(b, texts) for b in blocks]
        vectorizers = [v for v, _ in fitted]
        mats = [m for _, m in fitted]
        X = (mats[0] if len(mats) == 1 else hstack(mats)).tocsr()
        self.model = Linear(blocks, vectorizers, None, None)
        val_texts = [ex.text for ex in validation]
        Xv = self.model.features(val_texts) if val_texts else None
        yv = np.array([index[ex.label] for ex in validation]) if val_texts else None
        fitter = {"svm": _fit_svm, "nblr": _fit_nblr}.get(classifier, _fit_lr)

        def score(C: float) -> float:
            if Xv is None:
                return 0.0
            # the SVM's calibration barely moves its argmax: pick C on the raw SVM, calibrate once
            W, b = (_fit_svm_raw if classifier == "svm" else fitter)(X, y, len(self.labels), C, context)
            return float((np.asarray(Xv @ W.T + b).argmax(axis=1) == yv).mean())

        scores: dict[str, float] = {}
        if C is None and Xv is not None and len(set(y.tolist())) > 1:
            # big training sets: one fit at a C that suits sublinear TF-IDF, instead of a grid of three
            # a run under a time limit also skips the grid: the later candidates need the time more
            limited = getattr(getattr(context, "config", None), "time_limit", None) is not None
            C, scores = pick_c(score, C_GRID if len(texts) < LARGE and not limited else (BIG_DATA_C,))
        C = 1.0 if C is None else C
        W, b = fitter(X, y, len(self.labels), C, context)
        self.model.W, self.model.b = W, b
        self.format = FORMAT
        self.variant = "fine-tuned"
        self.meta = {"train_seconds": round(time.perf_counter() - t0, 3), "C": C, "validation_accuracy_by_C": scores,
                     "features": "+".join(names), "classifier": classifier, "vocabulary": int(W.shape[1]),
                     "linear": {"blocks": [{k: v for k, v in b_.items()} for b_ in blocks]}}
        return self.meta


def _fit_lr(X: Any, y: Any, n_classes: int, C: float, context: Any) -> tuple[Any, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    if len(present) < 2:  # one class only: a constant model
        return _constant(X.shape[1], n_classes, int(present[0]))
    # liblinear solves the binary case several times faster than lbfgs on wide sparse features
    solver = "liblinear" if len(present) == 2 else "lbfgs"
    clf = LogisticRegression(C=C, max_iter=2000, solver=solver, random_state=getattr(context, "seed", 0))
    clf.fit(X, y)
    return _expand(clf.coef_, clf.intercept_, clf.classes_, n_classes)


def _nb_ratio(X: Any, positive: Any) -> Any:
    """Log-count ratio of each feature between the rows of one class and the others."""
    import numpy as np

    p = np.asarray(X[positive].sum(axis=0)).ravel() + NB_ALPHA
    q = np.asarray(X[~positive].sum(axis=0)).ravel() + NB_ALPHA
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def _fit_nblr(X: Any, y: Any, n_classes: int, C: float, context: Any) -> tuple[Any, Any]:
    """Logistic regression on presence features scaled by each class's log-count ratio, one class
    against the rest (one model for two classes); ``w . (x * r) = (w * r) . x``, so each row of
    ``W`` is the model's weights times its ratios. With more than two classes the probabilities are
    the softmax of the one-vs-rest logits."""
    import numpy as np
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    if len(present) < 2:
        return _constant(X.shape[1], n_classes, int(present[0]))
    seed = getattr(context, "seed", 0)
    targets = present[1:] if len(present) == 2 else present
    W = np.zeros((len(present), X.shape[1]), dtype=np.float32)
    b = np.zeros(len(present), dtype=np.float32)
    for target in targets:
        positive = y == target
        r = _nb_ratio(X, positive)
        clf = LogisticRegression(C=C / NB_C_SCALE, max_iter=2000, solver="liblinear", random_state=seed)
        clf.fit(X @ diags(r, format="csr"), positive.astype(int))
        row = int(np.searchsorted(present, target))
        W[row] = clf.coef_[0] * r
        b[row] = clf.intercept_[0]
    return _place(W, b, present, n_classes)


def _fit_svm(X: Any, y: Any, n_classes: int, C: float, context: Any) -> tuple[Any, Any]:
    """LinearSVC, then a multinomial logistic calibration on cross-validated decision scores
    (Platt scaling generalised to K classes); both linear, so they compose into one W, b."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    present = np.unique(y)
    if len(present) < 2:
        return _constant(X.shape[1], n_classes, int(present[0]))
    seed = getattr(context, "seed", 0)
    svm = LinearSVC(C=C / 16.0, random_state=seed)  # the SVM wants ~16x stronger regularisation than LR here
    counts = np.bincount(y)[present]
    folds = int(min(3, counts.min()))
    if folds >= 2:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        scores = cross_val_predict(svm, X, y, cv=cv, method="decision_function")
    else:  # too few rows per class to hold some out: calibrate on the training scores
        scores = svm.fit(X, y).decision_function(X)
    svm.fit(X, y)
    scores = scores.reshape(len(y), -1)
    cal = LogisticRegression(C=1.0, max_iter=2000).fit(scores, y)
    A, c = class_logits(cal.coef_, cal.intercept_, len(cal.classes_))  # (k, d) over the SVM's d scores
    Ws = np.asarray(svm.coef_, dtype=np.float32)  # (d, V)
    bs = np.asarray(svm.intercept_, dtype=np.float32)
    W_present = A @ Ws
    b_present = A @ bs + c
    return _place(W_present, b_present, cal.classes_, n_classes)


def _fit_svm_raw(X: Any, y: Any, n_classes: int, C: float, context: Any) -> tuple[Any, Any]:
    import numpy as np
    from sklearn.svm import LinearSVC

    present = np.unique(y)
    if len(present) < 2:
        return _constant(X.shape[1], n_classes, int(present[0]))
    svm = LinearSVC(C=C / 16.0, random_state=getattr(context, "seed", 0)).fit(X, y)
    coef = np.asarray(svm.coef_, dtype=np.float32)
    if coef.shape[0] == 1:  # binary: score > 0 means class 1
        coef, b = np.vstack([-coef, coef]) / 2, np.concatenate([-svm.intercept_, svm.intercept_]) / 2
        return _place(coef, b.astype(np.float32), svm.classes_, n_classes)
    return _place(coef, svm.intercept_.astype(np.float32), svm.classes_, n_classes)


def _expand(coef: Any, intercept: Any, classes: Any, n_classes: int) -> tuple[Any, Any]:
    W, b = class_logits(coef, intercept, len(classes))
    return _place(W, b, classes, n_classes)


def _place(W: Any, b: Any, classes: Any, n_classes: int) -> tuple[Any, Any]:
    """Rows for the classes the fit saw; a class absent from training gets a logit far below."""
    import numpy as np

    Wf = np.zeros((n_classes, W.shape[1]), dtype=np.float32)
    bf = np.full(n_classes, -30.0, dtype=np.float32)
    idx = np.asarray(classes, dtype=int)
    Wf[idx] = W
    bf[idx] = b
    return Wf, bf


def _constant(n_features: int, n_classes: int, label: int) -> tuple[Any, Any]:
    import numpy as np

    b = np.full(n_classes, -30.0, dtype=np.float32)
    b[label] = 0.0
    return np.zeros((n_classes, n_features), dtype=np.float32), b


# --------------------------------------------------------------------------- saving without pickle


def _terms_to_arrays(vocabulary: dict[str, int]) -> tuple[Any, Any]:
    import numpy as np

    terms = [""] * len(vocabulary)
    for term, i in vocabulary.items():
        terms[i] = term
    encoded = [t.encode("utf-8") for t in terms]
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return data, lengths


def _arrays_to_terms(data: Any, lengths: Any) -> list[str]:
    raw = bytes(data.tobytes())
    out, pos = [], 0
    for n in lengths.tolist():
        out.append(raw[pos : pos + n].decode("utf-8"))
        pos += n
    return out


class TfidfLinearFormat(ModelFormat):
    name = FORMAT
    description = "TF-IDF vocabulary, IDF weights and a logits matrix in one safetensors file (no pickle)"
    whole_model = True  # no torch architecture: this format saves and loads the whole model

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        from safetensors.numpy import save_file

        lin = built.model
        tensors: dict[str, Any] = {"W": lin.W, "b": lin.b}
        for i, vec in enumerate(lin.vectorizers):
            # a vectorizer fitted from the count cache was given its vocabulary; one fitted by sklearn learned it
            data, lengths = _terms_to_arrays(vec.vocabulary if vec.vocabulary is not None else vec.vocabulary_)
            tensors[f"block{i}.terms"] = data
            tensors[f"block{i}.term_lengths"] = lengths
            if hasattr(vec, "idf_"):  # presence blocks have no IDF
                tensors[f"block{i}.idf"] = vec.idf_.astype("float32")
        save_file(tensors, str(Path(directory) / WEIGHTS))

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        from safetensors.numpy import load_file

        from autoglm_core import CandidateSpec

        tensors = load_file(str(check_dir(directory, WEIGHTS)))
        extra = meta.get("meta", {})
        blocks = extra.get("linear", {}).get("blocks", [])
        vectorizers = []
        for i, block in enumerate(blocks):
            terms = _arrays_to_terms(tensors[f"block{i}.terms"], tensors[f"block{i}.term_lengths"])
            vec = make_vectorizer(block, vocabulary={t: j for j, t in enumerate(terms)})
            if f"block{i}.idf" in tensors:
                vec.idf_ = tensors[f"block{i}.idf"]
            vectorizers.append(vec)
        cand = meta.get("candidate")
        return LinearTextModel(
            model=Linear(blocks, vectorizers, tensors["W"], tensors["b"]), tokenizer=None, labels=list(meta["labels"]),
            task_type=meta.get("task_type", "text_classification"),
            candidate=CandidateSpec.model_validate(cand) if cand else None,
            variant=meta.get("variant", "fine-tuned"), format=FORMAT, meta=extra,
        )

"""Per-text n-gram counts kept for the process, and TF-IDF fitted from them.

Analysing texts into character or word n-grams is most of a TF-IDF fit (16 s of the 17 for
character 1-4-grams of 6k Chinese reviews), and a run fits the same features many times: every
k-fold fold, the kept model refit on train+validation, and each candidate that uses the same
feature block. Here each distinct text is analysed once per feature block; a fit on any subset of
the rows then selects and weights columns of the cached counts, which is array work.

:func:`fit_features` gives what ``TfidfVectorizer(...).fit_transform(texts)`` gives for the same
block (the vocabulary with ``min_df`` / ``max_features``, smoothed IDF, sublinear TF, L2 rows;
equal up to ties at the ``max_features`` cut), and a ``TfidfVectorizer`` with that vocabulary and
IDF (a ``CountVectorizer`` for presence blocks), which is what is saved and what a loaded model
transforms with. :func:`features` transforms
through the cache when the vectorizer came from it, else with the vectorizer itself.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from .common import cache_off, text_key

#: distinct texts kept per feature block before the cache starts again
ROW_LIMIT = 50_000
_STATE = {"cache": True}


#: word tokens of one character count too (Chinese/Indonesian particles, "no", digits)
TOKEN_PATTERN = r"(?u)\b\w+\b"


def make_vectorizer(block: dict[str, Any], vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    extra: dict[str, Any] = {"token_pattern": block.get("token_pattern", TOKEN_PATTERN)} if block["analyzer"] == "word" else {}
    if block.get("weighting") == "binary":  # n-gram presence (0/1): what the naive-Bayes ratios scale
        return CountVectorizer(
            analyzer=block["analyzer"], ngram_range=tuple(block["ngram_range"]), lowercase=True, binary=True,
            min_df=block.get("min_df", 1), max_features=block.get("max_features"), vocabulary=vocabulary,
            dtype=_float32(), **extra,
        )
    return TfidfVectorizer(
        analyzer=block["analyzer"], ngram_range=tuple(block["ngram_range"]), lowercase=True, sublinear_tf=True,
        min_df=block.get("min_df", 1), max_features=block.get("max_features"), vocabulary=vocabulary,
        dtype=_float32(), **extra,
    )


def _float32() -> Any:
    import numpy as np

    return np.float32


class _Store:
    """One feature block's global n-gram ids and each text's (ids, counts)."""

    generation = 0

    def __init__(self, analyzer: Any):
        _Store.generation += 1
        self.generation = _Store.generation
        self.analyzer = analyzer
        self.ids: dict[str, int] = {}
        self.terms: list[str] = []
        self.rows: dict[str, tuple[Any, Any]] = {}

    def row(self, text: str) -> tuple[Any, Any]:
        import numpy as np

        key = text_key(text)
        hit = self.rows.get(key)
        if hit is None:
            counted = Counter(self.analyzer(text))
            ids = np.empty(len(counted), dtype=np.int64)
            for j, gram in enumerate(counted):
                i = self.ids.get(gram)
                if i is None:
                    i = self.ids[gram] = len(self.terms)
                    self.terms.append(gram)
                ids[j] = i
            hit = self.rows[key] = (ids, np.fromiter(counted.values(), dtype=np.float32, count=len(counted)))
        return hit

    def counts(self, texts: list[str]) -> Any:
        """Raw counts (texts x every n-gram seen so far) as CSR."""
        import numpy as np
        from scipy.sparse import csr_matrix

        rows = [self.row(t) for t in texts]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r[0]) for r in rows], out=indptr[1:])
        indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, dtype=np.float32)
        return csr_matrix((data, indices, indptr), shape=(len(rows), len(self.terms)))


_STORES: dict[tuple[Any, ...], _Store] = {}


def _block_key(block: dict[str, Any]) -> tuple[Any, ...]:
    """What decides the n-grams of a text (not the weighting or the vocabulary limits)."""
    return (block["analyzer"], tuple(block["ngram_range"]), block.get("token_pattern") if block["analyzer"] == "word" else None)


def _store(block: dict[str, Any], n_new: int = 0) -> _Store:
    key = _block_key(block)
    store = _STORES.get(key)
    if store is None or len(store.rows) + n_new > ROW_LIMIT:
        store = _STORES[key] = _Store(make_vectorizer({**block, "max_features": None}).build_analyzer())
    return store


def weigh(counts: Any, block: dict[str, Any], idf: Any) -> Any:
    """The vectorizer's weighting of raw counts: presence for ``binary`` blocks, else sublinear TF x
    IDF with L2-normalised rows (``TfidfVectorizer(sublinear_tf=True)``)."""
    import numpy as np
    from sklearn.preprocessing import normalize

    X = counts.astype(np.float32, copy=True)
    if block.get("weighting") == "binary":
        X.data[:] = 1.0
        return X
    np.log(X.data, out=X.data)
    X.data += 1.0
    X = X @ _diag(idf)
    return normalize(X, norm="l2", copy=False).astype(np.float32)


def _diag(values: Any) -> Any:
    from scipy.sparse import diags

    return diags(values.astype("float32"), format="csr")


def fit_features(block: dict[str, Any], texts: list[str]) -> tuple[Any, Any]:
    """(fitted vectorizer, feature matrix of ``texts``), as ``fit_transform`` would give them."""
    import numpy as np

    store = _store(block, len(texts))
    C = store.counts(texts).tocsc()
    df = np.diff(C.indptr)  # documents per n-gram: one stored count per text that has it
    keep = np.flatnonzero(df >= max(1, int(block.get("min_df", 1))))
    limit = block.get("max_features")
    if limit and len(keep) > int(limit):  # the commonest by total count, as scikit-learn keeps them
        totals = np.asarray(C.sum(axis=0)).ravel()[keep]
        keep = keep[np.argsort(-totals, kind="stable")[: int(limit)]]
    terms = [store.terms[i] for i in keep]
    order = np.argsort(np.array(terms, dtype=object), kind="stable") if terms else np.zeros(0, dtype=np.int64)
    keep = keep[order]
    vocabulary = {store.terms[i]: j for j, i in enumerate(keep)}
    vec = make_vectorizer(block, vocabulary=vocabulary)
    if block.get("weighting") != "binary":
        n = len(texts)
        vec.idf_ = (np.log((1.0 + n) / (1.0 + df[keep])) + 1.0).astype(np.float32)
    vec.autoglm_columns = (store.generation, keep)
    return vec, weigh(C[:, keep].tocsr(), block, getattr(vec, "idf_", None))


def features(vec: Any, block: dict[str, Any], texts: list[str]) -> Any:
    """``vec.transform(texts)``, through the cached counts when ``vec`` was fitted from them."""
    columns = getattr(vec, "autoglm_columns", None)
    if _STATE["cache"] and columns is not None:
        store = _STORES.get(_block_key(block))
        generation, keep = columns
        if store is not None and store.generation == generation and len(store.rows) + len(texts) <= ROW_LIMIT:
            C = store.counts(texts)
            return weigh(C[:, keep], block, getattr(vec, "idf_", None))
    return vec.transform(texts)


def uncached() -> contextlib.AbstractContextManager[None]:
    """Transform with the vectorizer itself (latency timing: what a served model does)."""
    return cache_off(_STATE)

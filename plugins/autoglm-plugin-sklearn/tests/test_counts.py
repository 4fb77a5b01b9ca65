"""Features fitted from the per-text count cache are the ones scikit-learn's vectorizers give."""

from __future__ import annotations

import numpy as np
import pytest
from autoglm_plugin_sklearn import counts
from autoglm_plugin_sklearn.counts import make_vectorizer
from autoglm_plugin_sklearn.linear import FEATURES

from autoglm_core.testing import sample_examples

TEXTS = [ex.text for ex in sample_examples(120)] + ["房间干净，服务很好", "早餐不好吃，太吵", "Nokia profit ROSE 12%"]


def _block(name, weighting=None, **extra):
    block = {**FEATURES[name], "max_features": None, "min_df": 2, **extra}
    if weighting:
        block["weighting"] = weighting
    return block


@pytest.mark.parametrize("name,weighting", [("word", None), ("char", None), ("char", "binary"), ("word", "binary")])
def test_fit_on_any_subset_matches_the_vectorizer_fitted_on_it(name, weighting):
    block = _block(name, weighting)
    counts.fit_features(block, TEXTS)  # every text analysed once; the next fits only select columns
    subset = TEXTS[10:90]
    vec, X = counts.fit_features(block, subset)
    ref = make_vectorizer(block)
    R = ref.fit_transform(subset)
    assert vec.vocabulary == ref.vocabulary_
    np.testing.assert_allclose(X.toarray(), R.toarray(), atol=1e-6)
    unseen = TEXTS[90:]
    np.testing.assert_allclose(counts.features(vec, block, unseen).toarray(), ref.transform(unseen).toarray(), atol=1e-6)
    np.testing.assert_allclose(vec.transform(unseen).toarray(), ref.transform(unseen).toarray(), atol=1e-6)


def test_max_features_keeps_the_commonest_ngrams():
    block = _block("char", max_features=50, min_df=1)
    vec, X = counts.fit_features(block, TEXTS)
    ref = make_vectorizer(block).fit(TEXTS)
    assert X.shape == (len(TEXTS), 50)
    totals = np.asarray(make_vectorizer({**block, "max_features": None}).fit(TEXTS).transform(TEXTS).sum(0)).ravel()
    assert len(set(vec.vocabulary) ^ set(ref.vocabulary_)) <= 2 * int((totals == np.sort(totals)[-50]).sum())  # ties at the cut


def test_uncached_and_a_restarted_cache_transform_with_the_vectorizer(monkeypatch):
    block = _block("char")
    vec, _ = counts.fit_features(block, TEXTS)
    calls = []
    real = type(vec).transform
    monkeypatch.setattr(type(vec), "transform", lambda self, texts: calls.append(len(texts)) or real(self, texts))
    counts.features(vec, block, TEXTS[:5])
    assert calls == []  # from the cache
    with counts.uncached():
        counts.features(vec, block, TEXTS[:5])
    assert calls == [5]
    monkeypatch.setattr(counts, "ROW_LIMIT", 3)
    counts.fit_features(block, TEXTS[:2])  # over the limit: a new cache, whose column ids differ
    np.testing.assert_allclose(counts.features(vec, block, TEXTS[:5]).toarray(), real(vec, TEXTS[:5]).toarray(), atol=1e-6)
    assert calls == [5, 5]

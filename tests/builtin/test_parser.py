"""The built-in rule parser over English and Chinese descriptions, hints, and bad descriptions."""

from __future__ import annotations

import pytest

from autoglm_core.builtin.parser import parse_description
from autoglm_core.cli.main import main
from autoglm_core.types.errors import ConfigError, DescriptionError

TC, GEN, CODE, IMG, MM = ("text_classification", "text_generation", "code_generation", "image_classification",
                          "multimodal_classification")

# (description, task type, language, labels (None = don't care), emphasis subset)
CASES = [
    ("Classify financial news sentiment as positive, negative or neutral; keep latency low", TC, "en",
     ["positive", "negative", "neutral"], {"latency"}),
    ("识别金融新闻情感：正面、负面、中性，注重低延迟", TC, "zh", ["正面", "负面", "中性"], {"latency"}),
    ("Detect spam in emails: spam/ham", TC, "en", ["spam", "ham"], set()),
    ("Categorize support tickets into billing, technical or account", TC, "en", ["billing", "technical", "account"], set()),
    ("Label tweets as toxic or non-toxic, it must be robust to adversarial typos", TC, "en", ["toxic", "non-toxic"], {"robustness"}),
    ("Sentiment analysis of product reviews, positive/negative, small model for mobile", TC, "en",
     ["positive", "negative"], {"size"}),
    ("Identify the intent of a user query: greeting, booking, cancellation, other", TC, "en", None, set()),
    ("Classify news headlines by topic", TC, "en", [], set()),
    ("Recognise whether a sentence is sarcastic or sincere with high accuracy", TC, "en", None, {"accuracy"}),
    ("Classify Chinese hotel reviews as positive or negative", TC, "zh", ["positive", "negative"], set()),
    ("Classify stock market news sentiment, real-time, under 10 ms per example", TC, "en",
     ["positive", "negative", "neutral"], {"latency"}),
    ("Build a lightweight classifier for customer emails: complaint, praise, question", TC, "en",
     ["complaint", "praise", "question"], {"size"}),
    ("Tag each earnings call sentence as bullish, bearish or neutral, robust and fast", TC, "en",
     ["bullish", "bearish", "neutral"], {"robustness", "latency"}),
    ("Decide if a review is positive or negative; optimise macro-F1", TC, "en", ["positive", "negative"], set()),
    ("Classify English movie reviews into positive and negative", TC, "en", ["positive", "negative"], set()),
    ("Detect toxic comments", TC, "en", [], set()),
    ("Classify legal clauses by category, accurate and compact model", TC, "en", None, {"accuracy", "size"}),
    ("Polarity detection for financial tweets", TC, "en", ["positive", "negative", "neutral"], set()),
    ("对用户评论进行情感分析，要求鲁棒", TC, "zh", ["正面", "负面", "中性"], {"robustness"}),
    ("将新闻分为体育、财经、娱乐", TC, "zh", ["体育", "财经", "娱乐"], set()),
    ("判断评论是正面还是负面", TC, "zh", ["正面", "负面"], set()),
    ("把邮件分为垃圾邮件和正常邮件，模型要轻量", TC, "zh", ["垃圾邮件", "正常邮件"], {"size"}),
    ("识别客户投诉的类别：物流、质量、服务", TC, "zh", ["物流", "质量", "服务"], set()),
    ("检测社交媒体上的有害言论，实时处理", TC, "zh", None, {"latency"}),
    ("对股票新闻进行情绪分类，高精度", TC, "zh", ["正面", "负面", "中性"], {"accuracy"}),
    ("区分用户意图：咨询/投诉/建议", TC, "zh", ["咨询", "投诉", "建议"], set()),
    ("对金融新闻做情感识别，延迟低于20毫秒", TC, "zh", None, {"latency"}),
    ("识别财报句子的倾向：利好、利空、中性，需要抗攻击", TC, "zh", ["利好", "利空", "中性"], {"robustness"}),
    ("对中文酒店评论进行分类：好评、差评", TC, "zh", ["好评", "差评"], set()),
    ("判断一句话的情感是积极或消极", TC, "zh", ["积极", "消极"], set()),
    ("Write Python functions from docstrings", CODE, "en", [], set()),
    ("Generate SQL code from a question", CODE, "en", [], set()),
    ("根据需求生成Python代码", CODE, "zh", [], set()),
    ("Summarize earnings reports in two sentences", GEN, "en", [], set()),
    ("Generate short product descriptions quickly", GEN, "en", [], {"latency"}),
    ("Translate customer emails into English", GEN, "en", [], set()),
    ("续写一段金融新闻", GEN, "zh", [], set()),
    ("生成商品的营销文案", GEN, "zh", [], set()),
    ("Classify photos of handwritten digits", IMG, "en", [], set()),
    ("识别图片中的手写数字", IMG, "zh", [], set()),
    ("Classify products from their photos and captions", MM, "en", None, set()),
    ("根据商品图片和评论判断好评或差评", MM, "zh", ["好评", "差评"], set()),
]


@pytest.mark.parametrize(("description", "task_type", "language", "labels", "emphasis"), CASES,
                         ids=[c[0][:40] for c in CASES])
def test_parser_reads_descriptions(description, task_type, language, labels, emphasis):
    spec = parse_description(description)
    assert spec.task_type == task_type
    assert spec.language == language
    if labels is not None:
        assert spec.labels == labels
    assert emphasis <= set(spec.objectives.emphasis)
    assert spec.evidence["task_type"].evidence  # every decision names its evidence
    assert 0 <= spec.evidence["task_type"].confidence <= 1


def test_there_are_at_least_40_descriptions_in_both_languages():
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c[2] == "zh") >= 15


def test_numeric_objectives_and_metric():
    spec = parse_description("Classify reviews as good or bad, under 15 ms and 40 MB, robust accuracy at least 70%, report macro-F1")
    assert spec.objectives.max_latency_ms == 15
    assert spec.objectives.max_size_mb == 40
    assert spec.objectives.min_robust_accuracy == pytest.approx(0.7)
    assert spec.metric == "macro_f1"
    assert spec.objectives.primary_metric == "macro_f1"
    zh = parse_description("识别新闻情感，延迟不超过8毫秒，模型小于30MB")
    assert (zh.objectives.max_latency_ms, zh.objectives.max_size_mb) == (8, 30)


def test_hints_win_and_contradictions_are_warned():
    spec = parse_description("Classify news as positive or negative", {"labels": ["up", "down", "flat"], "language": "zh"})
    assert spec.labels == ["up", "down", "flat"]
    assert spec.evidence["labels"].source == "hint"
    assert spec.language == "zh"
    assert any("overrides" in w and "labels" in w for w in spec.warnings)
    spec = parse_description("Write Python code", {"task_type": "text_classification"})
    assert spec.task_type == "text_classification"
    assert any("task_type" in w for w in spec.warnings)


def test_contradictory_hints_are_an_error():
    with pytest.raises(ConfigError, match="contradictory hints"):
        parse_description("Summarise reports", {"task_type": "text_generation", "labels": ["a", "b"]})
    with pytest.raises(ConfigError, match="labels repeat"):
        parse_description("Classify news", {"labels": ["a", "a"]})
    with pytest.raises(ConfigError, match="max_latency_ms"):
        parse_description("Classify news", {"max_latency_ms": -1})
    with pytest.raises(ConfigError, match="unknown hint"):
        parse_description("Classify news", {"lables": ["a", "b"]})


@pytest.mark.parametrize("bad,match", [
    ("", "empty"), ("   \n\t ", "empty"), ("x" * 10_000_001, "characters long"),
    (b"\xff\xfe\x00\x81binary", "binary"), ("abc\x00\x01\x02\x03\x04\x05\x06", "control characters"), (42, "must be text"),
])
def test_bad_descriptions_get_clear_errors(bad, match):
    with pytest.raises(DescriptionError, match=match):
        parse_description(bad)


def test_parse_cli_json_and_exit_code(capsys):
    import json

    assert main(["parse", "识别金融新闻情感：正面、负面、中性，注重低延迟", "--json"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["labels"] == ["正面", "负面", "中性"] and spec["objectives"]["emphasis"] == ["latency"]
    assert main(["parse", "   "]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the task description is empty") and "Traceback" not in err


@pytest.mark.parametrize(("description", "language", "evidence"), [
    ("Klasifikasikan ulasan produk sebagai positif atau negatif", "other",
     "Latin script with words of a language other than English (klasifikasikan, ulasan, sebagai)"),
    ("صنف الأخبار إلى إيجابية أو سلبية", "other", "Arabic script in the description"),
    ("Классифицировать отзывы покупателей", "other", "Cyrillic script in the description"),
    ("😀😡🤔", "en", "no letters in the description (only digits, symbols or emoji): language not detected"),
])
def test_unknown_description_languages_are_named_and_warned_not_called_english(description, language, evidence):
    spec = parse_description(description)
    assert spec.language == language  # 'other' is what the candidates and the data-language check know
    found = spec.evidence["language"].evidence
    assert found.startswith(evidence) and "Latin script in the description" not in found, found
    warned = [w for w in spec.warnings if w.startswith("language: ")]
    assert len(warned) == 1 and "reads English and Chinese descriptions only" in warned[0], spec.warnings
    # a --language hint is the user's answer: no warning then
    hinted = parse_description(description, {"language": "en"})
    assert hinted.language == "en" and not [w for w in hinted.warnings if "reads English and Chinese" in w]


def test_english_descriptions_say_which_english_words_were_seen():
    spec = parse_description("Spam detection for support emails")
    assert spec.language == "en" and spec.evidence["language"].evidence.startswith("English words in the description")
    assert not [w for w in spec.warnings if w.startswith("language: ")]

"""The word rules of the description parser, English and Chinese: which words say what the
user stresses (robustness, latency, size, accuracy), the description's language, the domain,
sentiment, the input modalities, and numeric objectives ("under 20 ms", "50 MB").

They sit below the task types, which read some of them (the multimodal task type its modalities);
the parser (:mod:`autoglm_core.builtin.parser`) applies them, and the label lists are read by
:mod:`autoglm_core.builtin.label_extraction`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import NamedTuple

from autoglm_core.data.language import ENGLISH, OTHER, WORD


def search(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, flags=re.IGNORECASE)


EMPHASIS_RULES: dict[str, str] = {
    "robustness": r"\b(robust\w*|adversarial\w*|attacks?|perturbations?)\b|鲁棒|对抗|稳健|抗攻击|抗干扰",
    "latency": r"\b(low[- ]latency|latency|fast\w*|real[- ]?time|quick\w*|speed\w*|responsive)\b|低延迟|延迟|实时|快速|速度|响应快",
    "size": r"\b(small|smaller|lightweight|light[- ]weight|compact|tiny|edge|mobile|on[- ]device|memory)\b|轻量|小模型|体积|占用小|压缩|端侧|移动端",
    "accuracy": r"\b(accurate|accuracy|precise|precision|high[- ]quality|best quality)\b|准确|精度|精确|高精度",
}

LANGUAGE_RULES: list[tuple[str, str]] = [
    ("zh", r"\b(chinese|mandarin)\b|中文|汉语|简体|繁体"),
    ("en", r"\b(english)\b|英文|英语"),
]

DOMAIN_RULES: list[tuple[str, str]] = [
    ("finance", r"\b(financ\w*|stocks?|market|earnings|bank\w*|investor\w*|trading)\b|金融|财经|股票|股市|财报|银行|投资"),
    ("medical", r"\b(medical|clinical|patients?|health)\b|医疗|医学|病历|健康"),
    ("e-commerce", r"\b(products?|shopping|e-?commerce|reviews?)\b|商品|电商|购物"),
]

DEFAULT_SENTIMENT = {"en": ["positive", "negative", "neutral"], "zh": ["正面", "负面", "中性"]}
SENTIMENT = r"\b(sentiment|polarity|opinion)\b|情感|情绪|倾向"

MODALITY_WORDS = r"^((image|photo|picture|caption|text|review|comment|description)s?|图片|图像|照片|评论|文字|文本|描述|标题)$"
_MODALITY_RULES = (("image", r"image|photo|picture|图片|图像|照片"),
                   ("text", r"caption|text|review|comment|description|评论|文字|文本|描述|标题"))


def split_modalities(matched: str) -> list[dict[str, str]]:
    """The modalities a multimodal description names, each with the words that named it."""
    out = []
    for name, pattern in _MODALITY_RULES:
        m = search(pattern, matched)
        if m:
            out.append({"modality": name, "evidence": m.group(0)})
    return out


def parse_objectives(text: str) -> dict[str, tuple[float, str]]:
    found: dict[str, tuple[float, str]] = {}
    m = search(r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|毫秒)", text)
    if m:
        found["max_latency_ms"] = (float(m.group(1)), m.group(0))
    m = search(r"(\d+(?:\.\d+)?)\s*(mb|megabytes?|兆|mib)\b", text) or re.search(r"(\d+(?:\.\d+)?)\s*(MB|M|兆)", text)
    if m:
        found["max_size_mb"] = (float(m.group(1)), m.group(0))
    m = search(r"(?:robust\w*\s+accuracy|accuracy\s+under\s+attack|对抗准确率|鲁棒准确率|攻击下准确率)\D{0,20}(\d+(?:\.\d+)?)\s*(%|％)?", text)
    if m:
        value = float(m.group(1))
        found["min_robust_accuracy"] = (value / 100 if value > 1 else value, m.group(0))
    return found


class DescriptionLanguage(NamedTuple):
    """The description's language as the rest of the code knows them ('en', 'zh', 'other'), the
    words or script that said so, how sure that is, and a warning when the parser cannot read it."""

    language: str
    evidence: str
    confidence: float
    warning: str | None = None


#: English words that descriptions are made of; a Latin-script description without any is not
#: assumed to be English in silence
ENGLISH_WORDS = ENGLISH | frozenset("""
a an as or into by from which whether each per than between about classify classification categorize
detect detection predict prediction identify label labels tag sentiment news review reviews text texts
message messages email emails spam topic topics positive negative neutral task questions question answer
answers summarize translate generate entities names images image photos tickets support customer
""".split())
#: description words of other languages (with the function words the data's language guess knows)
OTHER_WORDS = OTHER | frozenset("atau sebagai menjadi dalam ulasan berita klasifikasikan".split())
_SCRIPT_NAMES = {"CJK": "Chinese", "HIRAGANA": "Japanese (kana)", "KATAKANA": "Japanese (kana)",
                 "HANGUL": "Korean (Hangul)"}


def _scripts(text: str) -> Counter[str]:
    """Letters per Unicode script ('LATIN', 'ARABIC', 'CJK', ...), from the characters' names."""
    return Counter(unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in text if ch.isalpha())


def _unreadable(what: str) -> str:
    return (f"language: {what}, and the parser reads English and Chinese descriptions only: the task type, "
            f"labels and settings were guessed or left at their defaults. Check them, or give them as options "
            f"(--labels, --task-type, --language, ...).")


def detect_description_language(text: str) -> DescriptionLanguage:
    for lang, pattern in LANGUAGE_RULES:
        m = search(pattern, text)
        if m:
            return DescriptionLanguage(lang, m.group(0), 0.9)
    scripts = _scripts(text)
    latin = scripts.pop("LATIN", 0)
    if scripts.get("CJK", 0) and scripts["CJK"] * 2 >= latin:
        return DescriptionLanguage("zh", "Chinese characters in the description", 0.7)
    main = scripts.most_common(1)[0] if scripts else None
    if main is not None and main[1] * 2 >= latin:
        script = _SCRIPT_NAMES.get(main[0], main[0].title() + " script")
        what = f"{script} in the description"
        return DescriptionLanguage("other", what, 0.5, _unreadable(f"the description is written in {script}"))
    if not latin:
        what = "no letters in the description (only digits, symbols or emoji): language not detected"
        return DescriptionLanguage("en", what + ", English assumed", 0.2, _unreadable(what))
    words = WORD.findall(text.lower())
    english = [w for w in words if w in ENGLISH_WORDS]
    other = [w for w in words if w in OTHER_WORDS and w not in ENGLISH_WORDS]
    if english and len(english) >= len(other):
        return DescriptionLanguage("en", f"English words in the description ({', '.join(english[:3])})", 0.6)
    if other:
        what = f"Latin script with words of a language other than English ({', '.join(other[:3])})"
        return DescriptionLanguage("other", what, 0.5, _unreadable(f"the description has {what}"))
    what = "Latin script, but no English words recognised: language not detected"
    return DescriptionLanguage("en", what + ", English assumed", 0.3, _unreadable(f"the description has {what}"))

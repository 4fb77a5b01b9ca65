"""The built-in rule-based parser (offline, English and Chinese).

It reads the task type, labels, language, domain, metric, emphases (robustness, latency, size,
accuracy) and numeric objectives from a description, and records for each field the words that
decided it and a confidence. Explicit hints always win; a hint that contradicts the description
leaves a warning in ``TaskSpec.warnings``. It is registered ``trylast`` so any other parser plugin
gets the first word.
"""

from __future__ import annotations

import re
from typing import Any

from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.errors import ConfigError, DescriptionError
from autoglm_core.types.schemas import Budget, DataRef, Evidence, Objectives, TaskSpec, validate

MAX_DESCRIPTION_CHARS = 20_000

HINT_KEYS = {
    "task_type", "labels", "language", "metric", "backbones", "domain", "data",
    "max_latency_ms", "max_size_mb", "min_robust_accuracy", "emphasis", "tolerance",
    "max_candidates", "max_epochs", "time_budget_s",
}


def _task_types() -> Any:
    from autoglm_core.plugin.manager import get_manager

    return get_manager().registry("task type")


def task_rules(task_types: Any = None) -> list[tuple[str, str, float]]:
    """(task type, pattern, confidence) of every registered task type's ``parse_rules``, in
    ``priority`` order (ties: registration order); the first match wins."""
    registry = task_types if task_types is not None else _task_types()
    ranked: list[tuple[int, int, str, str, float]] = []
    for name in registry.names():
        for rule in registry.get(name).parse_rules:
            ranked.append((rule.priority, len(ranked), name, rule.pattern, rule.confidence))
    return [(name, pattern, conf) for _, _, name, pattern, conf in sorted(ranked)]


def _fallback_task_type(registry: Any) -> str:
    """The task type assumed when no rule matches (the one that declares ``parse_fallback``)."""
    for name in registry.names():
        if registry.get(name).parse_fallback:
            return name
    names = registry.names()
    if not names:
        raise ConfigError("no task type is registered: the built-in task types failed to load (see `autoglm plugins`).")
    return names[0]


def _task_class(registry: Any, name: str) -> Any:
    return registry.get(name) if name in registry else None


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

_EN_WORD = r"[A-Za-z][A-Za-z0-9_\-']*"
_ZH_WORD = r"[\u4e00-\u9fffA-Za-z0-9_\-]+"
STOP_LABEL_WORDS = {"a", "an", "the", "one", "of", "either", "class", "classes", "label", "labels", "category",
                    "categories", "sentiment", "news", "texts", "text", "reviews", "ones"}


NUMBER_WORDS = {"one"}

MODALITY_WORDS = r"^((image|photo|picture|caption|text|review|comment|description)s?|图片|图像|照片|评论|文字|文本|描述|标题)$"
_MODALITY_RULES = (("image", r"image|photo|picture|图片|图像|照片"),
                   ("text", r"caption|text|review|comment|description|评论|文字|文本|描述|标题"))


def split_modalities(matched: str) -> list[dict[str, str]]:
    """The modalities a multimodal description names, each with the words that named it."""
    out = []
    for name, pattern in _MODALITY_RULES:
        m = _search(pattern, matched)
        if m:
            out.append({"modality": name, "evidence": m.group(0)})
    return out


def check_description(description: Any) -> str:
    if isinstance(description, bytes | bytearray):
        try:
            description = bytes(description).decode("utf-8")
        except UnicodeDecodeError:
            raise DescriptionError(
                "the task description is binary data, not UTF-8 text. Describe the task in plain English or "
                "Chinese, e.g. \"classify financial news as positive, negative or neutral\"."
            ) from None
    if not isinstance(description, str):
        raise DescriptionError(f"the task description must be text, got {type(description).__name__}.")
    text = description.strip()
    if not text:
        raise DescriptionError(
            "the task description is empty. Describe the task in a sentence, e.g. \"classify financial news "
            "sentiment as positive, negative or neutral\" or \"识别金融新闻情感：正面、负面、中性\"."
        )
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise DescriptionError(
            f"the task description is {len(text):,} characters long; the limit is {MAX_DESCRIPTION_CHARS:,}. "
            f"Describe the task in a few sentences and pass data with --data, not inside the description."
        )
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t") + text.count("\ufffd")
    if controls > max(2, len(text) // 100):
        raise DescriptionError(
            "the task description contains binary or control characters. Give plain text in English or Chinese."
        )
    return text


def _search(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, flags=re.IGNORECASE)


def _clean_labels(raw: list[str]) -> list[str]:
    out: list[str] = []
    for item in raw:
        words = [w for w in re.split(r"\s+", item.strip(" .;:'\"“”‘’()[]")) if w]
        if len(words) == 1 and words[0].lower() in NUMBER_WORDS:  # "one, two, three": a label, not a filler
            out.append(words[0].lower())
            continue
        while words and words[0].lower() in STOP_LABEL_WORDS:
            words.pop(0)
        while words and words[-1].lower() in STOP_LABEL_WORDS:
            words.pop()
        lab = " ".join(words).strip("的")
        if lab and lab.lower() not in {x.lower() for x in out}:
            out.append(lab.lower() if re.fullmatch(r"[A-Za-z \-/&']+", lab) else lab)
    return out


_LIST_SEP_ZH = r"\s*(?:、|，|,|/|还是|或者|和|或|及|与)\s*"
#: words that introduce a Chinese list ("属于体育、财经..."): the list starts after the last of them
_ZH_LEAD = r"(?:属于|分为|分成|归为|判断为|识别为|标注为|包括|包含|例如|比如|区分|判断|识别|检测|是在|是|为|成|有)"
#: words that end a Chinese list ("...还是娱乐中的哪一类")
_ZH_TAIL = r"(?:中的|之中|里的)?(?:哪一?[类个种项]|之一|等类别|等|类别|[一二两三四五六七八九十\d]*类)$"


def _trim_zh_ends(items: list[str]) -> list[str]:
    """The first item of a list found without a lead-in carries the words before it ("判断新闻属于
    体育"), the last one the words after ("娱乐中的哪一类"): cut them off."""
    items = list(items)
    if items:
        items[0] = re.split(_ZH_LEAD, items[0])[-1] or items[0]
        items[-1] = re.sub(_ZH_TAIL, "", items[-1]) or items[-1]
        others = [len(x) for x in items[1:-1]] or [len(x) for x in items[1:]]
        if others and re.fullmatch(r"[\u4e00-\u9fff]+", items[0]) and len(items[0]) > max(others) + 2:
            items[0] = items[0][-max(others):]
    return items


def _zh_list(text: str) -> tuple[list[str], str, float] | None:
    # 1. Chinese list after a colon or 为/成/分为: "：正面、负面、中性", "分为正面、负面和中性", "分为体育、财经、科技还是娱乐"
    m = re.search(r"(?:[：:]|分为|分成|归为|判断为|识别为|标注为|为)\s*(" + _ZH_WORD + r"(?:" + _LIST_SEP_ZH + _ZH_WORD
                  + r")+)", text)
    if m and re.search(r"[\u4e00-\u9fff]", m.group(1)):
        body = m.group(1)
        if re.search(r"[、/和或及与]|还是", body):  # with another separator, a full comma ends the list
            body = re.split(r"[，,]", body)[0]
        items = re.split(_LIST_SEP_ZH, body)
        items[-1] = re.sub(_ZH_TAIL, "", items[-1]) or items[-1]
        labels = _clean_labels(items)
        if 2 <= len(labels) <= 20:
            return labels, m.group(0)[: len(m.group(0)) - len(m.group(1)) + len(body)], 0.9
    # 1b. a 、 list anywhere: "属于体育、财经、科技还是娱乐" (all four, not the last two)
    m = re.search(r"(" + _ZH_WORD + r"(?:\s*、\s*" + _ZH_WORD + r")+(?:\s*(?:还是|或者|或|和|及|与)\s*" + _ZH_WORD + r")?)",
                  text)
    if m and re.search(r"[\u4e00-\u9fff]", m.group(1)):
        items = _trim_zh_ends(re.split(_LIST_SEP_ZH, m.group(1)))
        labels = _clean_labels(items)
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.85
    return None


# an English label: one or two words; "Sci/Tech" is one label
_EN_LABEL = r"[A-Za-z][A-Za-z0-9_\-'&]*(?:/[A-Za-z0-9][A-Za-z0-9_\-'&]*)*"
_EN_ITEM = r"(?:" + _EN_LABEL + r"(?:\s+" + _EN_LABEL + r")?)"
# the last label of "A or B" is one word, or a negated one ("urgent vs not urgent")
_EN_LAST = r"(?:(?:not|non)[\s\-]+)?" + _EN_LABEL
# "into the categories X, Y or Z", "as one of: X, Y, Z"
_EN_LEAD_WORDS = (r"(?:\b(?:as|into|between|among|is|whether|labels?\s*(?:are|:)|categories\s*(?:are|:)|"
                  r"classes\s*(?:are|:)|either)|:)")
_EN_FILLER = (r"\s+(?:(?:one|each|any)\s+of\s+)?(?:the\s+)?(?:(?:following|these|three|four|five|six)\s+)?"
              r"(?:(?:categories|classes|labels|groups|types|buckets|topics)\s*:?\s+)?(?::\s*)?")


def _en_list(text: str) -> tuple[list[str], str, float, tuple[int, int]] | None:
    # 3. English "as / into / between / labels: A, B(,) or|and C"
    m = _search(_EN_LEAD_WORDS + _EN_FILLER + r"(" + _EN_ITEM + r"(?:\s*,\s*" + _EN_ITEM + r")*\s*,?\s*(?:or|and|vs\.?|versus)\s+"
                + _EN_LAST + r")", text)
    if m:
        items = re.split(r"\s*,\s*(?:or\s+|and\s+)?|\s+(?:or|and|vs\.?|versus)\s+", m.group(1))
        labels = _clean_labels(items)
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.85, m.span()
    # 3a. a comma list of three or more after "as"/"into"/a colon: "into World, Sports, Business, Sci/Tech"
    m = _search(_EN_LEAD_WORDS + _EN_FILLER + r"(" + _EN_ITEM + r"(?:\s*,\s*" + _EN_ITEM + r"){2,})\s*(?:[;.?!]|$)",
                text)
    if m:
        labels = _clean_labels(re.split(r"\s*,\s*(?:or\s+|and\s+)?", m.group(1)))
        if 3 <= len(labels) <= 20:
            return labels, m.group(0), 0.8, m.span()
    # 3c. a closing "..., A or B": "spam filter for SMS messages, spam or not spam"
    m = re.search(r",\s*(" + _EN_ITEM + r")\s+(?:or|vs\.?|versus)\s+(" + _EN_ITEM + r")\s*[.?!]?\s*$", text)
    if m:
        labels = _clean_labels([m.group(1), m.group(2)])
        if len(labels) == 2:
            return labels, m.group(0).strip(" ,"), 0.6, m.span()
    return None


def parse_labels(text: str, language: str) -> tuple[list[str], str, float] | None:
    found = _zh_list(text)
    if found:
        return found
    en = _en_list(text)
    # 2. slash lists: "positive/negative/neutral", "正面/负面" -- unless the slash is inside one
    # label of a longer list ("World, Sports, Business or Sci/Tech")
    m = re.search(r"(" + _ZH_WORD + r"(?:\s*/\s*" + _ZH_WORD + r")+)", text)
    if m and not (en and en[3][0] <= m.start() and m.end() <= en[3][1]):
        labels = _clean_labels(_trim_zh_ends(m.group(1).split("/")))
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.9
    if en:
        return en[0], en[1], en[2]
    # 3b. English comma list after a colon: "intent: greeting, booking, cancellation, other"
    m = re.search(r":\s*(" + _EN_WORD + r"(?:\s*,\s*" + _EN_WORD + r"){1,})\s*(?:[;.]|$)", text)
    if m:
        labels = _clean_labels(m.group(1).split(","))
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.8
    # 4. "X or Y" in Chinese: "是正面还是负面", "正面或负面"
    m = re.search(r"是([\u4e00-\u9fff]{1,4}?)(?:还是|或者|或)([\u4e00-\u9fff]{1,4})", text) or re.search(
        r"([\u4e00-\u9fff]{2})(?:还是|或者|或)([\u4e00-\u9fff]{2})", text)
    if m:
        pair = [m.group(1), m.group(2)]
        if all(len(x) > 2 and x.endswith("类") for x in pair):  # "是体育类还是财经类": 体育, 财经
            pair = [x[:-1] for x in pair]
        labels = _clean_labels(pair)
        if len(labels) == 2:
            return labels, m.group(0), 0.6
    return None


#: sentiment labels named in a description without a list pattern ("..., positive or negative"):
#: used as they are, in any language, instead of the default three of the description's language
SENTIMENT_WORDS = r"\b(positive|negative|neutral)\b|正面|负面|中性|积极|消极|中立"


def mentioned_sentiment(text: str) -> tuple[list[str], str] | None:
    found = _clean_labels([m.group(0) for m in re.finditer(SENTIMENT_WORDS, text, flags=re.IGNORECASE)])
    if len(found) < 2:
        return None
    return found, " / ".join(found)


def parse_objectives(text: str) -> dict[str, tuple[float, str]]:
    found: dict[str, tuple[float, str]] = {}
    m = _search(r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|毫秒)", text)
    if m:
        found["max_latency_ms"] = (float(m.group(1)), m.group(0))
    m = _search(r"(\d+(?:\.\d+)?)\s*(mb|megabytes?|兆|mib)\b", text) or re.search(r"(\d+(?:\.\d+)?)\s*(MB|M|兆)", text)
    if m:
        found["max_size_mb"] = (float(m.group(1)), m.group(0))
    m = _search(r"(?:robust\w*\s+accuracy|accuracy\s+under\s+attack|对抗准确率|鲁棒准确率|攻击下准确率)\D{0,20}(\d+(?:\.\d+)?)\s*(%|％)?", text)
    if m:
        value = float(m.group(1))
        found["min_robust_accuracy"] = (value / 100 if value > 1 else value, m.group(0))
    return found


def detect_description_language(text: str) -> tuple[str, str, float]:
    for lang, pattern in LANGUAGE_RULES:
        m = _search(pattern, text)
        if m:
            return lang, m.group(0), 0.9
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    letters = len(re.findall(r"[A-Za-z]", text))
    if cjk and cjk * 2 >= letters:
        return "zh", "Chinese characters in the description", 0.7
    return "en", "Latin script in the description", 0.6


def rule_matches(text: str, registry: Any) -> list[tuple[str, str, float]]:
    """(task type, matched words, confidence) of the first matching rule of each task type, in
    rule priority order."""
    out: list[tuple[str, str, float]] = []
    for tt, pattern, c in task_rules(registry):
        if any(tt == seen for seen, _, _ in out):
            continue
        m = _search(pattern, text)
        if m:
            out.append((tt, m.group(0), c))
    return out


def decide_task_type(text: str, registry: Any) -> tuple[str, str, float, str, str]:
    """(task type, evidence, confidence, evidence source, matched words).

    The rules' own choice is the task type whose rule matched (the first by priority when several
    did) or the fallback when none did. When none or several matched, the encoder's nearest
    prototypes (among the matching task types, else among all) replace that choice if another
    task type is clearly nearer; without the encoder the rules' choice stands."""
    from autoglm_core.builtin import parser_encoder

    matches = rule_matches(text, registry)
    if len(matches) == 1:
        tt, words, c = matches[0]
        return tt, words, c, "parser", words
    among = [tt for tt, _, _ in matches] or list(registry.names())
    listed = parse_labels(text, "")
    if listed:  # a written list of classes: only task types with labels (entity types count too)
        among = [tt for tt in among if registry.get(tt).has_labels] or among
    ruled = [(tt, w, c) for tt, w, c in matches if tt in among]
    if ruled:
        default, words, conf = ruled[0]
        ev = words
        if listed and len(ruled) < len(matches):  # task types without labels were set aside
            ev = f"{words} (with the label list {listed[1]!r})"
    else:
        default = _fallback_task_type(registry)
        words, conf, ev = text, 0.3, f"no task keyword found: {default.replace('_', ' ')} assumed"
    if len(among) == 1:
        return default, ev, conf, "parser", words
    vote = parser_encoder.nearest_task_type(text, registry, among=among)
    if vote is None or vote.task_type == default:
        return default, ev, conf, "parser", words
    gap = vote.scores[vote.task_type] - vote.scores.get(default, -1.0)
    if gap < parser_encoder.OVERRIDE_MARGIN:
        return (default, f"{ev} (the nearest prototype, {vote.prototype!r}, is of {vote.task_type} but only "
                f"{gap:.3f} nearer)", conf, "parser", words)
    why = ("rules of " + ", ".join(f"{tt} ({w!r})" for tt, w, _ in matches) + " disagree; ") if matches else \
        "no task keyword found; "
    words = next((w for tt, w, _ in matches if tt == vote.task_type), text)
    # a rule's word is surer than a neighbour in embedding space: never above the rules' confidence
    return (vote.task_type, f"{why}nearest prototype {vote.prototype!r} (similarity {vote.similarity:.3f})",
            round(min(0.8, max(0.31, vote.confidence)), 4), "encoder prototypes", words)


def parse_description(description: Any, hints: dict[str, Any] | None = None) -> TaskSpec:
    text = check_description(description)
    hints = dict(hints or {})
    unknown = sorted(set(hints) - HINT_KEYS)
    if unknown:
        raise ConfigError(f"unknown hint(s) {unknown}; allowed hints: {sorted(HINT_KEYS)}.")
    evidence: dict[str, Evidence] = {}
    warnings: list[str] = []

    # task type: the rules every registered task type declares (the encoder's prototypes decide
    # when none matches or several task types' rules do)
    registry = _task_types()
    task_type, ev, conf, source, matched = decide_task_type(text, registry)
    evidence["task_type"] = Evidence(value=task_type, evidence=ev, confidence=conf, source=source)
    tt_cls = registry.get(task_type)
    if conf > 0.3:
        evidence.update(tt_cls().parse_evidence(text, matched))

    language, ev, conf = detect_description_language(text)
    evidence["language"] = Evidence(value=language, evidence=ev, confidence=conf)

    labels: list[str] = []
    if tt_cls.has_labels:
        parsed = parse_labels(text, language)
        if parsed and not tt_cls().accept_parsed_labels(parsed[0]):
            parsed = None
        if parsed:
            labels, ev, conf = parsed
            evidence["labels"] = Evidence(value=labels, evidence=ev, confidence=conf)
        elif mentioned_sentiment(text):  # "Chinese reviews, positive or negative": those two, as written
            labels, ev = mentioned_sentiment(text) or ([], "")
            evidence["labels"] = Evidence(value=labels, evidence=ev, confidence=0.6)
        elif _search(SENTIMENT, text):
            m = _search(SENTIMENT, text)
            labels = list(DEFAULT_SENTIMENT["zh" if language == "zh" else "en"])
            evidence["labels"] = Evidence(value=labels, evidence=f"{m.group(0) if m else ''} (default sentiment labels)",
                                          confidence=0.4)

    metric = tt_cls.default_metric()
    for declared in tt_cls.metrics:
        m = _search(declared.keywords, text) if declared.keywords else None
        if m:
            metric = declared.name
            evidence["metric"] = Evidence(value=metric, evidence=m.group(0), confidence=0.9)
            break
    else:
        evidence["metric"] = Evidence(value=metric, evidence="default for the task type", confidence=0.5, source="default")

    emphasis: list[str] = []
    for name, pattern in EMPHASIS_RULES.items():
        m = _search(pattern, text)
        if m:
            emphasis.append(name)
            evidence[f"emphasis.{name}"] = Evidence(value=True, evidence=m.group(0), confidence=0.8)

    objectives: dict[str, Any] = {"primary_metric": metric, "emphasis": emphasis}
    for key, (value, ev) in parse_objectives(text).items():
        objectives[key] = value
        evidence[f"objectives.{key}"] = Evidence(value=value, evidence=ev, confidence=0.8)
        if key == "max_latency_ms" and "latency" not in emphasis:
            emphasis.append("latency")
        if key == "max_size_mb" and "size" not in emphasis:
            emphasis.append("size")

    domain = None
    for name, pattern in DOMAIN_RULES:
        m = _search(pattern, text)
        if m:
            domain = name
            evidence["domain"] = Evidence(value=name, evidence=m.group(0), confidence=0.7)
            break

    spec: dict[str, Any] = {
        "task_type": task_type, "description": text, "language": language, "labels": labels, "domain": domain,
        "metric": metric, "objectives": objectives, "budget": {}, "evidence": evidence, "warnings": warnings,
    }
    apply_hints(spec, hints)
    return validate(TaskSpec, spec, source="task description and hints")


def apply_hints(spec: dict[str, Any], hints: dict[str, Any]) -> None:
    """Explicit hints win over parsed values; contradictions are recorded as warnings, and hints
    that contradict each other are errors."""
    evidence: dict[str, Evidence] = spec["evidence"]
    warnings: list[str] = spec["warnings"]

    def set_field(key: str, value: Any, target: dict[str, Any] | None = None, ev_key: str | None = None) -> None:
        target = spec if target is None else target
        parsed = evidence.get(ev_key or key)
        if parsed is not None and parsed.source == "parser" and parsed.value not in (value, None) and parsed.value != value:
            warnings.append(f"hint {key}={value!r} overrides {parsed.value!r} parsed from the description "
                            f"({parsed.evidence!r}).")
        target[key] = value
        evidence[ev_key or key] = Evidence(value=value, evidence=f"hint {key}", confidence=1.0, source="hint")

    tt_cls = _task_class(_task_types(), spec["task_type"])
    if "task_type" in hints and hints["task_type"]:
        set_field("task_type", str(hints["task_type"]))
        tt_cls = _task_class(_task_types(), spec["task_type"])  # unknown: AutoTask.create names it
        if tt_cls is not None and not tt_cls.has_labels and "labels" not in hints:
            spec["labels"] = []
            evidence.pop("labels", None)
        if tt_cls is not None and (evidence.get("metric") is None or evidence["metric"].source == "default"
                                   or spec["metric"] not in tt_cls.metric_names()):
            spec["metric"] = tt_cls.default_metric()
            spec["objectives"]["primary_metric"] = spec["metric"]
    if hints.get("labels"):
        labels = hints["labels"]
        if isinstance(labels, str):
            labels = [x.strip() for x in re.split(r"[,/、，]", labels) if x.strip()]
        if tt_cls is not None and not tt_cls.has_labels:
            raise ConfigError(
                f"contradictory hints: labels={labels!r} were given for task type {spec['task_type']!r}, which has no "
                f"labels. Drop the labels or choose a classification task type."
            )
        set_field("labels", list(labels))
    for key in ("language", "domain"):
        if hints.get(key):
            set_field(key, hints[key])
    if hints.get("metric"):
        set_field("metric", hints["metric"])
        spec["objectives"]["primary_metric"] = hints["metric"]
    if hints.get("backbones"):
        b = hints["backbones"]
        spec["backbones"] = [x.strip() for x in b.split(",")] if isinstance(b, str) else list(b)
    if hints.get("data") is not None:
        data = hints["data"]
        spec["data"] = validate(DataRef, {"path": str(data)} if isinstance(data, str | bytes) or hasattr(data, "__fspath__") else data,
                                source="hint data")
    for key in ("max_latency_ms", "max_size_mb", "min_robust_accuracy", "tolerance"):
        if hints.get(key) is not None:
            set_field(key, hints[key], spec["objectives"], f"objectives.{key}")
    if hints.get("emphasis"):
        em = hints["emphasis"]
        spec["objectives"]["emphasis"] = [em] if isinstance(em, str) else list(em)
    for key in ("max_candidates", "max_epochs", "time_budget_s"):
        if hints.get(key) is not None:
            spec["budget"][key] = hints[key]
    # validate the pieces here so errors name the hint
    validate(Objectives, spec["objectives"], source="hints (objectives)")
    validate(Budget, spec["budget"], source="hints (budget)")


@hookimpl(trylast=True)
def autoglm_parse_task(description: str, hints: dict[str, Any]) -> TaskSpec:
    return parse_description(description, hints)

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

from autoglm_core.builtin import parser_encoder
from autoglm_core.builtin.label_extraction import mentioned_sentiment, parse_labels
from autoglm_core.data.description_rules import (
    DEFAULT_SENTIMENT,
    DOMAIN_RULES,
    EMPHASIS_RULES,
    SENTIMENT,
    detect_description_language,
    parse_objectives,
    search,
)
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


def rule_matches(text: str, registry: Any) -> list[tuple[str, str, float]]:
    """(task type, matched words, confidence) of the first matching rule of each task type, in
    rule priority order."""
    out: list[tuple[str, str, float]] = []
    for tt, pattern, c in task_rules(registry):
        if any(tt == seen for seen, _, _ in out):
            continue
        m = search(pattern, text)
        if m:
            out.append((tt, m.group(0), c))
    return out


def decide_task_type(text: str, registry: Any) -> tuple[str, str, float, str, str]:
    """(task type, evidence, confidence, evidence source, matched words).

    The rules' own choice is the task type whose rule matched (the first by priority when several
    did) or the fallback when none did. When none or several matched, the encoder's nearest
    prototypes (among the matching task types, else among all) replace that choice if another
    task type is clearly nearer; without the encoder the rules' choice stands."""
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

    language, ev, conf, unreadable = detect_description_language(text)
    evidence["language"] = Evidence(value=language, evidence=ev, confidence=conf)
    if unreadable and not hints.get("language"):
        warnings.append(unreadable)

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
        elif search(SENTIMENT, text):
            m = search(SENTIMENT, text)
            labels = list(DEFAULT_SENTIMENT["zh" if language == "zh" else "en"])
            evidence["labels"] = Evidence(value=labels, evidence=f"{m.group(0) if m else ''} (default sentiment labels)",
                                          confidence=0.4)

    metric = tt_cls.default_metric()
    for declared in tt_cls.metrics:
        m = search(declared.keywords, text) if declared.keywords else None
        if m:
            metric = declared.name
            evidence["metric"] = Evidence(value=metric, evidence=m.group(0), confidence=0.9)
            break
    else:
        evidence["metric"] = Evidence(value=metric, evidence="default for the task type", confidence=0.5, source="default")

    emphasis: list[str] = []
    for name, pattern in EMPHASIS_RULES.items():
        m = search(pattern, text)
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
        m = search(pattern, text)
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


@hookimpl(trylast=True)
def autoglm_label_similarity(mentions: list[str], labels: list[str]) -> list[list[float]] | None:
    return parser_encoder.similarity_matrix(mentions, labels)

"""Prompt templates, English and Chinese, in a small registry.

    from autoglm_core.models.prompts import render, register_template
    render("classification", "zh", text="利润增长")       # '文本：利润增长\n类别：'
    register_template("classification", "fr", "Texte : {text}\nCatégorie :")

A template is a ``str.format`` string; :func:`render` names a missing field instead of raising a bare
KeyError. Languages fall back to English when a template has no version for the requested one.
"""

from __future__ import annotations

import string
from typing import Any

from autoglm_core.types.errors import ConfigError, UnknownNameError, did_you_mean

_TEMPLATES: dict[str, dict[str, str]] = {
    # zero-shot classification by label log-likelihood: the label follows the prompt
    "classification": {
        "en": "Text: {text}\nCategory:",
        "zh": "文本：{text}\n类别：",
    },
    "sentiment": {
        "en": "Review: {text}\nSentiment:",
        "zh": "评论：{text}\n情感：",
    },
    # code completion: the request is a signature + docstring the model continues
    "code_completion": {
        "en": "{request}",
        "zh": "{request}",
    },
    # instruction-style code request for chat/instruction-tuned models
    "code_instruction": {
        "en": "# Task: {request}\n# Write a Python function that does this.\n",
        "zh": "# 任务：{request}\n# 请编写完成该任务的 Python 函数。\n",
    },
    "continuation": {
        "en": "{text}",
        "zh": "{text}",
    },
}

#: how a label is appended to a classification prompt (leading space for English BPE vocabularies)
LABEL_PREFIX = {"en": " ", "zh": ""}


def register_template(name: str, language: str, template: str, *, replace: bool = False) -> None:
    """Add a template (or a new language of one). ``replace=True`` overrides an existing one."""
    if not isinstance(template, str) or not template:
        raise ConfigError(f"prompt template {name!r} ({language}) must be a non-empty string.")
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"prompt template {name!r} ({language}) is not a valid format string: {exc}.") from None
    langs = _TEMPLATES.setdefault(name, {})
    if language in langs and not replace and langs[language] != template:
        raise ConfigError(f"prompt template {name!r} already has a {language!r} version; pass replace=True to override.")
    langs[language] = template


def template_names() -> list[str]:
    return sorted(_TEMPLATES)


def languages(name: str) -> list[str]:
    return sorted(_get(name))


def _get(name: str) -> dict[str, str]:
    try:
        return _TEMPLATES[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown prompt template {name!r}.{did_you_mean(name, _TEMPLATES)} Known templates: "
            f"{', '.join(template_names())}."
        ) from None


def get_template(name: str, language: str = "en") -> str:
    langs = _get(name)
    return langs.get(language) or langs.get(language.split("-")[0]) or langs["en"]


def fields(name: str, language: str = "en") -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(get_template(name, language)) if f]


def render(name: str, language: str = "en", **values: Any) -> str:
    template = get_template(name, language)
    missing = [f for f in fields(name, language) if f not in values]
    if missing:
        raise ConfigError(f"prompt template {name!r} ({language}) needs field(s) {missing}; got {sorted(values)}.")
    return template.format(**values)


def label_prefix(language: str) -> str:
    return LABEL_PREFIX.get(language, " ")

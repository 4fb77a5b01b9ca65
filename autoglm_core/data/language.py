"""Tiny, dependency-free language guess for task data and descriptions."""

from __future__ import annotations

import re
from collections.abc import Iterable

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


def detect_language(texts: Iterable[str]) -> str:
    """'zh' when most texts contain Chinese characters, 'en' when few do, 'multi' in between."""
    texts = list(texts)
    if not texts:
        return "en"
    share = sum(1 for t in texts if has_cjk(t)) / len(texts)
    if share >= 0.8:
        return "zh"
    if share <= 0.2:
        return "en"
    return "multi"

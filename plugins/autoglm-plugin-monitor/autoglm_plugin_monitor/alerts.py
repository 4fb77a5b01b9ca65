"""Sliding-window alert rules: the share of a label among the last N documents of an entity.

An alert fires when the share reaches the threshold and re-arms only after the share has fallen
below it again, so one sustained burst of negative news gives one alert, not one per document.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from .rules import ALL, AlertRule, RulesFile

ALL_DOCS = "(all)"
MAX_EVIDENCE = 10


def _keyword_pattern(word: str) -> re.Pattern[str]:
    w = re.escape(word.strip())
    # Latin keywords match whole words ("kone" must not match "konecranes"); CJK has no word spaces.
    if re.search(r"^\w", word.strip(), re.ASCII):
        w = r"(?<!\w)" + w
    if re.search(r"\w$", word.strip(), re.ASCII):
        w = w + r"(?!\w)"
    return re.compile(w, re.IGNORECASE)


class EntityMatcher:
    def __init__(self, rules: RulesFile):
        self.field = rules.entity_field
        self.patterns = {ent: [_keyword_pattern(w) for w in words] for ent, words in rules.entities.items()}

    def entities(self, text: str, fields: dict[str, Any]) -> list[str]:
        found: list[str] = []
        if self.field:
            value = fields.get(self.field)
            values = value if isinstance(value, list) else [value]
            found += [str(v).strip() for v in values if v is not None and str(v).strip()]
        for ent, pats in self.patterns.items():
            if ent not in found and any(p.search(text) for p in pats):
                found.append(ent)
        return found


class Window:
    """The last ``size`` documents: (1 if the label was predicted else 0, time, reference)."""

    def __init__(self, size: int, items: list[list[Any]] | None = None, active: bool = False):
        self.items: deque[list[Any]] = deque(items or [], maxlen=size)
        self.active = active

    def add(self, hit: int, t: float, ref: str, max_age_s: float | None) -> None:
        self.items.append([hit, t, ref])
        if max_age_s is not None:
            while self.items and t - self.items[0][1] > max_age_s:
                self.items.popleft()

    @property
    def hits(self) -> int:
        return sum(x[0] for x in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {"items": [list(x) for x in self.items], "active": self.active}


class AlertEngine:
    def __init__(self, rules: RulesFile, state: dict[str, Any] | None = None):
        self.rules = rules
        self.matcher = EntityMatcher(rules)
        self.windows: dict[str, Window] = {}
        by_name = {r.name: r for r in rules.rules}
        for key, w in (state or {}).items():
            rule = by_name.get(key.split("|", 1)[0])
            if rule is not None:
                self.windows[key] = Window(rule.window, w.get("items"), bool(w.get("active")))

    def _keys(self, rule: AlertRule, entities: list[str]) -> list[tuple[str, str]]:
        if rule.entity is None:
            return [(f"{rule.name}|{ALL_DOCS}", ALL_DOCS)]
        if rule.entity == ALL:
            return [(f"{rule.name}|{e}", e) for e in entities]
        return [(f"{rule.name}|{rule.entity}", rule.entity)] if rule.entity in entities else []

    def observe(self, *, label: str, probabilities: dict[str, float], entities: list[str], t: float,
                ref: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """Add one classified document; returns the alerts it triggers."""
        alerts: list[dict[str, Any]] = []
        for rule in self.rules.rules:
            hit = int(label == rule.label and probabilities.get(rule.label, 0.0) >= rule.min_probability)
            max_age = rule.window_minutes * 60 if rule.window_minutes else None
            for key, entity in self._keys(rule, entities):
                w = self.windows.get(key)
                if w is None:
                    w = self.windows[key] = Window(rule.window)
                w.add(hit, t, ref, max_age)
                n = len(w.items)
                share = w.hits / n if n else 0.0
                if share >= rule.threshold and n >= rule.min_documents:
                    if not w.active:
                        w.active = True
                        alerts.append({
                            "rule": rule.name, "entity": entity, "label": rule.label, "share": round(share, 4),
                            "label_documents": w.hits, "documents": n, "window": rule.window,
                            "threshold": rule.threshold, "triggered_by": doc,
                            "evidence": [x[2] for x in w.items if x[0]][-MAX_EVIDENCE:],
                        })
                elif share < rule.threshold:
                    w.active = False  # re-arm
        return alerts

    def state(self) -> dict[str, Any]:
        return {k: w.as_dict() for k, w in self.windows.items()}

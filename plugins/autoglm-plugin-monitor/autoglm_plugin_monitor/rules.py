"""The monitor's rules file (YAML or JSON), validated with pydantic ``extra="forbid"`` so that a
misspelt field is named together with the file, instead of being ignored.

Example::

    text_field: text            # field (JSONL) or column (CSV) holding the document text
    entity_field: company       # optional: field naming the entity of a document
    entities:                   # optional: entity -> keywords found in the text (case-insensitive)
      Nokia: [nokia]
      Kone: [kone, "kone oyj"]
    rules:
      - name: negative-spike
        label: negative          # a label of the model
        entity: "*"              # "*": every entity on its own; a name: that entity; absent: all documents
        window: 20               # the last 20 documents of that entity ...
        threshold: 0.5           # ... alert when the share of 'negative' is at least 0.5
        min_documents: 5         # and at least 5 documents are in the window
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from autoglm_core import ConfigError, StrictModel, validate

ALL = "*"


class AlertRule(StrictModel):
    name: str = Field(description="unique rule name, written in every alert")
    label: str = Field(description="the predicted label whose share is watched (e.g. 'negative')")
    entity: str | None = Field(
        None, description="'*' = each entity separately; a name = that entity only; absent = all documents together")
    window: int = Field(20, ge=1, description="sliding window: the last N documents (of the entity)")
    window_minutes: float | None = Field(
        None, gt=0, description="optional: also drop documents older than this (needs time_field in the rules file)")
    threshold: float = Field(0.5, gt=0, le=1, description="alert when the label's share in the window is >= this")
    min_documents: int = Field(5, ge=1, description="no alert before the window holds this many documents")
    min_probability: float = Field(0.0, ge=0, le=1,
                                   description="count a document for the label only when its probability is >= this")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[\w.\-]+", v):
            raise ValueError("use letters, digits, '_', '-' or '.' only")
        return v

    @model_validator(mode="after")
    def _window(self) -> AlertRule:
        if self.min_documents > self.window:
            raise ValueError(f"min_documents ({self.min_documents}) is larger than window ({self.window})")
        return self


class RulesFile(StrictModel):
    text_field: str | None = Field(None, description="text field/column; default: text, sentence, content, ...")
    id_field: str | None = Field(None, description="optional document id field copied into outputs")
    entity_field: str | None = Field(None, description="optional field naming the document's entity")
    time_field: str | None = Field(None, description="optional ISO-8601 or epoch-seconds timestamp field")
    entities: dict[str, list[str]] = Field(default_factory=dict,
                                           description="entity -> keywords matched in the text (case-insensitive)")
    rules: list[AlertRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> RulesFile:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names repeat: {dupes}")
        for r in self.rules:
            if r.window_minutes is not None and not self.time_field:
                raise ValueError(f"rule {r.name!r} sets window_minutes but the rules file has no time_field")
            if r.entity and r.entity != ALL and self.entities and r.entity not in self.entities and not self.entity_field:
                raise ValueError(f"rule {r.name!r} watches entity {r.entity!r}, which is not in entities "
                                 f"({', '.join(self.entities)})")
        for ent, words in self.entities.items():
            if not words or any(not w.strip() for w in words):
                raise ValueError(f"entity {ent!r} needs at least one non-empty keyword")
        return self

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def load_rules(path: str | Path | None, labels: list[str] | None = None) -> RulesFile:
    """Read and validate a rules file; with ``labels`` (the model's), a rule on an unknown label is
    an error naming the rule and the model's labels."""
    from autoglm_core import read_structured_file

    if path is None:
        rules = RulesFile()
        source = "rules"
    else:
        source = str(path)
        data: Any = read_structured_file(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the rules file must be a mapping (text_field, entities, rules), "
                              f"got {type(data).__name__}.")
        rules = validate(RulesFile, data, source=source)
    if labels is not None:
        for i, r in enumerate(rules.rules):
            if r.label not in labels:
                raise ConfigError(f"{source}: field 'rules.{i}.label': rule {r.name!r} watches label {r.label!r}, "
                                  f"which the model does not predict; the model's labels are {labels}.")
    return rules

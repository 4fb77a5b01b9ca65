"""Token classification (named-entity recognition) as a built-in plugin.

Data: CoNLL (``token TAG`` per line, blank line between sentences) or JSONL (``tokens``/``tags``),
IOB2/BIO tags. Model: a Hugging Face token classifier (the embedded MiniLM by default, a tiny BERT
for tests) trained on the shared loop with first-subword labels. Metrics: entity-level
precision/recall/F1 (seqeval). ``autoglm predict MODEL_DIR "sentence"`` prints the entity spans.
"""

from __future__ import annotations

from typing import Any

from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.tasks.token_classification.task import TokenClassification


@hookimpl
def autoglm_register_task_types(register: Any) -> None:
    register(TokenClassification)

"""Logging filters for third-party warnings that are wrong for the models this project saves.

transformers 4.57.3 to 4.x warns on loading *any* local tokenizer whose config.json was written by
one of those versions that it has "an incorrect regex pattern" and should be loaded with
``fix_mistral_regex=True``: its check flags every local model saved by a version above 4.57.2 as a
possible Mistral tokenizer. Every model this project exports or converts (me5-small, SmolLM2, the
fine-tuned folders) is such a folder and none is a Mistral tokenizer, so the warning only misleads
users. Installing the filter does not import transformers.
"""

from __future__ import annotations

import logging

_MISTRAL_REGEX_HINT = "fix_mistral_regex=True"


class _DropMistralRegexWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _MISTRAL_REGEX_HINT not in record.getMessage()


_FILTER = _DropMistralRegexWarning()


def install() -> None:
    """Idempotent: attach the filter to the logger transformers uses for the warning."""
    logger = logging.getLogger("transformers.tokenization_utils_base")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)

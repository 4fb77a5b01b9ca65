"""Helpers for tests of the core and of plugins (the top layer, beside the CLI): tiny models and data
that build offline in seconds, and the pytest plugin (entry point ``pytest11: autoglm``).

    from autoglm_core.testing import tiny_text_classifier, sample_examples
    built = tiny_text_classifier()            # BuiltModel: 2-layer, 64-dim BERT + WordPiece tokenizer
    examples = sample_examples()              # labelled financial-news style sentences
"""

from __future__ import annotations

from autoglm_core.data.shared_data import shared_data_dir
from autoglm_core.testing.helpers import (
    LABELS,
    OFFLINE_ENV,
    PLUGIN_ENV,
    fresh_plugin_manager,
    sample_examples,
    tiny_text_classifier,
    trained_classifier_and_context,
    trained_tiny_classifier,
    use_offline_env,
    write_csv,
)

__all__ = ['LABELS', 'OFFLINE_ENV', 'PLUGIN_ENV', 'use_offline_env', 'fresh_plugin_manager', 'sample_examples', 'tiny_text_classifier', 'trained_tiny_classifier', 'trained_classifier_and_context', 'write_csv', 'shared_data_dir']

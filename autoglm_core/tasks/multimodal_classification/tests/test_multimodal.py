"""Text + image classification: the table loader (missing/corrupt images reported by line), the
cross-attention and gate maths, the pipeline with its ablation, and reloading."""

from __future__ import annotations

import math

import pytest

from autoglm_core.data.images import export_digit_captions
from autoglm_core.tasks.multimodal_classification.table import load_multimodal_table
from autoglm_core.types.errors import DataError

FAST = {"train": {"epochs": 2, "batch_size": 16}, "evaluate": {"latency_repeats": 1, "latency_batch_sizes": [1],
                                                             "latency_examples": 4}}


@pytest.fixture()
def pairs(tmp_path):
    return export_digit_captions(tmp_path / "mm", limit=3)  # 30 images, 60 rows


def test_caption_set_is_balanced_and_needs_both_modalities(pairs):
    loaded = load_multimodal_table(pairs)
    assert len(loaded.examples) == 60 and not loaded.issues
    labels = [e.label for e in loaded.examples]
    assert labels.count("match") == labels.count("mismatch") == 30
    # every image has one matching and one mismatching caption: the image alone says nothing
    by_image = {}
    for e in loaded.examples:
        by_image.setdefault(e.meta["path"], set()).add(e.label)
    assert all(v == {"match", "mismatch"} for v in by_image.values())


def test_missing_and_corrupt_images_are_reported_by_line(pairs):
    text = pairs.read_text().splitlines()
    (pairs.parent / "images" / "bad.png").write_bytes(b"not a png")
    text += ["a handwritten one,images/nope.png,match", "a handwritten two,images/bad.png,match",
             ",images/1/0001.png,match", "too,many,fields,here"]
    pairs.write_text("\n".join(text) + "\n")
    loaded = load_multimodal_table(pairs)
    assert len(loaded.examples) == 60
    by_line = {i.line: i.reason for i in loaded.issues}
    assert "does not exist" in by_line[62] and "nope.png" in by_line[62]
    assert "bad.png" in by_line[63] and by_line[63]
    assert "empty 'text'" in by_line[64]
    assert "4 fields" in by_line[65]
    with pytest.raises(DataError, match="image-path column"):
        bad = pairs.parent / "noimg.csv"
        bad.write_text("text,label\nhello,a\n")
        load_multimodal_table(bad)


def test_cross_attention_and_gate_follow_the_formulas():
    import torch

    from autoglm_core.models.vision_nets import CrossAttention, GatedFusion

    torch.manual_seed(0)
    att = CrossAttention(8, heads=2).eval()
    text, image = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    out, weights = att(text, image)
    q = att.q(text).view(2, 3, 2, 4).transpose(1, 2)
    k = att.k(image).view(2, 5, 2, 4).transpose(1, 2)
    v = att.v(image).view(2, 5, 2, 4).transpose(1, 2)
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), -1)
    torch.testing.assert_close(weights, w)
    torch.testing.assert_close(out, att.o((w @ v).transpose(1, 2).reshape(2, 3, 8)))
    gate = GatedFusion(8)
    ht, hi = torch.randn(2, 8), torch.randn(2, 8)
    h, g = gate(ht, hi)
    torch.testing.assert_close(g, torch.sigmoid(gate.w(torch.cat([ht, hi], -1))))
    torch.testing.assert_close(h, g * ht + (1 - g) * hi)


@pytest.mark.slow
def test_pipeline_with_ablation_and_reload(tmp_path, pairs):
    import numpy as np

    from autoglm_core import AutoTask
    from autoglm_core.models.loading import load_model
    from autoglm_core.tasks.multimodal_classification.model import MultimodalBuiltModel

    task = AutoTask.from_description("Decide whether the photos and captions match", dataset=str(pairs),
                                     out=tmp_path / "run", config=FAST)
    assert task.spec.task_type == "multimodal_classification"
    assert [m["modality"] for m in task.spec.evidence["modalities"].value] == ["image", "text"]
    report = task.auto_build().launch(progress=False)
    assert report.best is not None and report.best.variant == "fine-tuned"
    assert {"val_accuracy", "val_macro_f1"} <= set(report.best.metrics)  # held-out, what selection reads
    train = next(s for s in report.stages if s.stage == "train")
    assert [r["fusion"] for r in train.metrics["ablation"]] == ["text", "image", "concat", "gated-xattn"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in train.metrics["ablation"])
    md = (tmp_path / "run" / "report.md").read_text()
    assert "## Ablation" in md and "| gated-xattn |" in md and "| concat |" in md
    built = load_model(tmp_path / "run" / "model")
    assert isinstance(built, MultimodalBuiltModel) and built.model.config["fusion"] == "gated-xattn"
    items = [("a handwritten three", str(pairs.parent / "images" / "3" / "0003.png")),
             ("a handwritten five", str(pairs.parent / "images" / "3" / "0003.png"))]
    probs = built.predict_proba(items)
    assert probs.shape == (2, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_two_fusions_are_chosen_on_the_validation_split(tmp_path, pairs):
    from autoglm_core import AutoTask

    task = AutoTask.create(task_type="multimodal_classification", dataset=str(pairs), out=tmp_path / "run",
                           description="match photos and captions", backbones=["concat", "text"], config=FAST)
    report = task.auto_build().launch(progress=False)
    assert len(report.variants) == 2 and all("val_accuracy" in v.metrics for v in report.variants)
    assert "val_accuracy" in report.selection_reason and "test split" not in report.selection_reason

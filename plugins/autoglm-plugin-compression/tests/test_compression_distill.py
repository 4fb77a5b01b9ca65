"""distill: a shallower student initialised from the teacher's layers, trained on KL + CE."""

from __future__ import annotations

import numpy as np
import pytest

from autoglm_core.models.loading import load_model
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, tiny_text_classifier, write_csv
from autoglm_core.types.errors import AutoGLMError


def _distill(**options):
    return get_manager().registry("compressor").get("distill")(options=options)


@pytest.fixture(scope="module")
def distill_teacher():
    return tiny_text_classifier(num_layers=4)


def test_distill_student_layers_choice():
    from autoglm_plugin_compression.distill import student_layers

    assert student_layers(6, 3, None) == [1, 3, 5]
    assert student_layers(6, None, None) == [1, 3, 5]
    assert student_layers(4, 1, None) == [3]
    assert student_layers(6, None, [0, 2, 4]) == [0, 2, 4]


def test_distill_student_copies_teacher_layers(distill_teacher):
    import torch
    from autoglm_plugin_compression.distill import make_student

    student = make_student(distill_teacher.model, [1, 3])
    t, s = distill_teacher.model.bert, student.bert
    assert len(s.encoder.layer) == 2 and student.config.num_hidden_layers == 2
    assert torch.equal(s.encoder.layer[0].attention.self.query.weight, t.encoder.layer[1].attention.self.query.weight)
    assert torch.equal(s.encoder.layer[1].output.dense.weight, t.encoder.layer[3].output.dense.weight)
    assert torch.equal(s.embeddings.word_embeddings.weight, t.embeddings.word_embeddings.weight)
    assert torch.equal(student.classifier.weight, distill_teacher.model.classifier.weight)
    assert len(t.encoder.layer) == 4  # teacher untouched


def test_distill_trains_student_with_kd_loss_and_reloads(distill_teacher, tmp_path, monkeypatch):
    import autoglm_core.training.finetune as training

    seen = {}
    real = training.fine_tune

    def spy(*args, **kwargs):
        seen["compute_loss"] = kwargs.get("compute_loss")
        return real(*args, **kwargs)

    import autoglm_core

    monkeypatch.setattr(autoglm_core, "fine_tune", spy)  # plugins import fine_tune from the facade
    data = write_csv(tmp_path / "d.csv", sample_examples(60))
    out = _distill(num_layers=2, data=str(data), max_steps=3, batch_size=8, temperature=3.0, alpha=0.7).compress(
        distill_teacher, None)
    assert seen["compute_loss"] is not None
    assert out.meta["student_layers"] == 2 and out.meta["layers_from_teacher"] == [1, 3]
    assert out.meta["training"]["steps"] == 3
    assert len(out.model.bert.encoder.layer) == 2 and out.variant == "distill-2L"
    # the loss really is alpha*T^2*KL + (1-alpha)*CE: zero KL when student == teacher
    import torch
    from autoglm_plugin_compression.distill import make_student

    ex = sample_examples(8)
    enc = distill_teacher.tokenizer([e.text for e in ex], padding=True, return_tensors="pt")
    enc["labels"] = torch.tensor([distill_teacher.labels.index(e.label) for e in ex])
    loss_fn = seen["compute_loss"]
    copy4 = make_student(distill_teacher.model, [0, 1, 2, 3]).eval()
    ce = copy4(**enc).loss
    assert torch.allclose(loss_fn(copy4, enc), 0.3 * ce, atol=1e-5)
    out.save(tmp_path / "student")
    again = load_model(tmp_path / "student")
    texts = [e.text for e in ex]
    assert np.allclose(again.predict_proba(texts), out.predict_proba(texts), atol=1e-6)


def test_distill_bad_options(distill_teacher):
    with pytest.raises(AutoGLMError, match="num_layers=4.*shallower"):
        _distill(num_layers=4, data="x.csv").compress(distill_teacher, None)
    with pytest.raises(AutoGLMError, match="num_layers=6"):
        _distill(num_layers=6, data="x.csv").compress(distill_teacher, None)
    with pytest.raises(AutoGLMError, match="layers.*0..3"):
        _distill(layers=[0, 7], data="x.csv").compress(distill_teacher, None)
    with pytest.raises(AutoGLMError, match="needs training data"):
        _distill(num_layers=2).compress(distill_teacher, None)
    with pytest.raises(AutoGLMError, match="temperature"):
        _distill(temperature=0)
    with pytest.raises(AutoGLMError, match="alpha"):
        _distill(alpha=1.5)
    int8 = get_manager().registry("compressor")
    if "int8" in int8:
        q = int8.get("int8")().compress(distill_teacher, None)
        with pytest.raises(AutoGLMError, match="fp32"):
            _distill(num_layers=2, data="x.csv").compress(q, None)

"""Knowledge distillation into a shallower student initialised from the teacher's layers.

loss = alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, label)
(Hinton et al. 2015; the T^2 keeps the soft-target gradients on the scale of the hard ones). The
student copies the teacher's embeddings, pooler, classifier head and an evenly spaced subset of
its layers (ending with the top one), as DistilBERT does, then trains with the project's
fine-tuning loop through its ``compute_loss`` hook.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from autoglm_core import BuiltModel, Compressor, ConfigError, RunContext

from .common import (
    TrainingOptions,
    check_classifier,
    copy_built,
    device_of,
    encoder_layers,
    train_config,
    training_data,
)


class Distillation(Compressor):
    name = "distill"
    description = "teacher -> shallower student (layers copied from the teacher) trained on T^2*KL + CE"

    class Options(TrainingOptions):
        num_layers: int | None = Field(None, ge=1, description="student depth (default: half the teacher's)")
        layers: list[int] | None = Field(None, description="teacher layer indices copied into the student, "
                                                           "bottom to top (default: evenly spaced, top included)")
        temperature: float = Field(2.0, gt=0, description="softmax temperature T of the soft targets")
        alpha: float = Field(0.5, ge=0, le=1, description="weight of the distillation term (1 - alpha: cross-entropy)")

    def needs_training_data(self) -> bool:
        """Whether compress() trains (`autoglm compress` then holds out a test split)."""
        return True

    def compress(self, built: BuiltModel, context: RunContext | None = None) -> BuiltModel:
        import torch
        import torch.nn.functional as F

        check_classifier(built, self.name)
        o = self.options
        teacher = built.model
        depth = len(encoder_layers(teacher, self.name))
        chosen = student_layers(depth, o.num_layers, o.layers)
        train, val = training_data(context, o, self.name, built.labels)
        student = make_student(teacher, chosen)
        teacher = teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        T, alpha = o.temperature, o.alpha

        def kd_loss(model: Any, batch: dict[str, Any]) -> Any:
            out = model(**batch)
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            dev = out.logits.device
            if next(teacher.parameters()).device != dev:
                teacher.to(dev)
            with torch.no_grad():
                t_logits = teacher(**inputs).logits
            kl = F.kl_div(F.log_softmax(out.logits / T, dim=-1), F.softmax(t_logits / T, dim=-1),
                          reduction="batchmean") * (T * T)
            return alpha * kl + (1 - alpha) * out.loss

        cfg = train_config(context, built, o, epochs=4, learning_rate=1e-4)
        from autoglm_core import fine_tune

        res = fine_tune(student, built.tokenizer, train, val, built.labels, cfg, seed=o.seed, device=device_of(context),
                        compute_loss=kd_loss, desc=f"distill {depth}->{len(chosen)} layers")
        teacher.cpu()
        for p in teacher.parameters():
            p.requires_grad_(True)
        model = res.model.cpu().eval()
        meta = {"compressor": self.name, "teacher_layers": depth, "student_layers": len(chosen),
                "layers_from_teacher": chosen, "temperature": T, "alpha": alpha,
                "training": {"epochs_run": len(res.history), "best_epoch": res.best_epoch, "steps": res.steps,
                             "history": res.history}}
        return copy_built(built, model, f"distill-{len(chosen)}L", meta)


def student_layers(depth: int, num_layers: int | None, layers: list[int] | None) -> list[int]:
    """Which teacher layers the student copies (checked against the teacher's depth)."""
    if layers is not None:
        if not layers:
            raise ConfigError("option layers of compressor 'distill' is empty; give at least one teacher layer index.")
        bad = [i for i in layers if not 0 <= i < depth]
        if bad:
            raise ConfigError(f"option layers of compressor 'distill': {bad} are not layers of the teacher "
                              f"(it has layers 0..{depth - 1}).")
        if num_layers is not None and num_layers != len(layers):
            raise ConfigError(f"options of compressor 'distill': num_layers={num_layers} but layers lists "
                              f"{len(layers)} layers; give one of them.")
        if len(layers) >= depth:
            raise ConfigError(f"option layers of compressor 'distill' keeps {len(layers)} of the teacher's "
                              f"{depth} layers; a student must be shallower than its teacher.")
        return sorted(set(layers))
    k = num_layers if num_layers is not None else max(1, depth // 2)
    if k >= depth:
        raise ConfigError(f"option num_layers={k} of compressor 'distill': the student must be shallower than the "
                          f"teacher, which has {depth} layers; give num_layers between 1 and {depth - 1}.")
    return [round((i + 1) * depth / k) - 1 for i in range(k)]


def make_student(teacher: Any, chosen: list[int]) -> Any:
    """A copy of ``teacher`` keeping only the ``chosen`` encoder layers (renumbered 0..k-1)."""
    import copy

    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(chosen)
    pruned = {int(k): v for k, v in (getattr(config, "pruned_heads", None) or {}).items()}
    config.pruned_heads = {new: pruned[old] for new, old in enumerate(chosen) if old in pruned}
    student = AutoModelForSequenceClassification.from_config(config)
    renumber = {old: new for new, old in enumerate(chosen)}
    pattern = re.compile(r"(\bencoder\.layer\.)(\d+)\.")
    state = {}
    for key, value in teacher.state_dict().items():
        m = pattern.search(key)
        if m is None:
            state[key] = value.detach().clone()
        elif int(m.group(2)) in renumber:
            state[pattern.sub(lambda mm: f"{mm.group(1)}{renumber[int(mm.group(2))]}.", key, count=1)] = \
                value.detach().clone()
    student.load_state_dict(state, strict=True)
    return student.float()

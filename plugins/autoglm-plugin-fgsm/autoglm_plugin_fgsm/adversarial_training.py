"""The ``fgsm-adversarial-training`` defense: keep fine-tuning on clean plus FGSM-perturbed inputs.

For text the perturbation lives in embedding space and is recomputed for every batch against the
current weights (Goodfellow et al. 2015; Miyato et al. 2017 for text). ``random_start`` is the
"fast adversarial training" recipe of Wong et al. 2020: start from a uniform point in the epsilon
box and step 1.25 epsilon, which avoids the catastrophic overfitting of plain FGSM training.
Both defenses here are loss hooks of the core's one training loop: text through ``fine_tune``
with ``compute_loss``, images (:func:`fgsm_train_images`) through ``run_loop`` with
:func:`adversarial_image_loss`; early stopping, LoRA, accumulation and the time budget behave as in
normal training.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from autoglm_core import Defense, RunContext

from .common import AttackError, check_epsilons, copy_built, seed_of, train_config, train_splits


class FGSMAdversarialTraining(Defense):
    name = "fgsm-adversarial-training"
    description = "fine-tune on clean plus FGSM-perturbed embeddings (optionally with random start, Wong et al. 2020)"

    class Options(Defense.Options):
        epsilon: float = Field(0.01, description="perturbation size used in training (same units as the attack)")
        relative: bool = Field(False, description="epsilon is a multiple of the embedding matrix's std")
        random_start: bool = Field(True, description="uniform random start and step alpha (Wong et al. 2020)")
        alpha: float | None = Field(None, gt=0, description="step size; default 1.25*epsilon with random start")
        adv_weight: float = Field(0.5, ge=0, le=1, description="weight of the adversarial loss (rest: clean loss)")
        epochs: int = Field(3, ge=1, description="epochs of adversarial fine-tuning, starting from the given model")
        early_stopping: bool = Field(False, description="keep the best clean-validation epoch instead of the last "
                                     "(clean validation scores say little about robustness)")
        learning_rate: float | None = Field(None, gt=0)
        max_steps: int | None = Field(None, ge=1)

        @field_validator("epsilon", mode="before")
        @classmethod
        def _eps(cls, v: Any) -> Any:
            return check_epsilons([v], "epsilon")[0]

    def defend(self, built: Any, context: RunContext | None) -> Any:
        from autoglm_core import fine_tune

        from .gradients import embedding_layer, embedding_scale, perturb_embeddings, special_ids_of

        who = f"defense {self.name!r}"
        if built.inputs == "pixels":
            raise AttackError(f"{who}: image models are trained with fgsm_train_images(); the text pipeline "
                              f"defense works on text classifiers.")
        o = self.options
        train, validation = train_splits(context, who)
        out = copy_built(built, variant=f"{built.variant}+adv")
        embedding_layer(out.model, who)  # fail early, with the explanation, on models without embeddings
        eps = o.epsilon * (embedding_scale(out.model) if o.relative else 1.0)
        alpha = None if o.alpha is None else o.alpha * (eps / o.epsilon if o.epsilon else 1.0)
        special = special_ids_of(built.tokenizer)
        seed = seed_of(context)
        import torch

        gen = torch.Generator().manual_seed(seed)

        def compute_loss(model: Any, batch: dict[str, Any]) -> Any:
            emb = model.get_input_embeddings()
            embeds, delta = perturb_embeddings(model, emb, batch, special, eps, alpha=alpha,
                                               random_start=o.random_start, generator=gen)
            extra = {k: v for k, v in batch.items() if k not in ("input_ids",)}
            clean = model(inputs_embeds=embeds, **extra).loss
            if o.adv_weight == 0:
                return clean
            adv = model(inputs_embeds=embeds + delta, **extra).loss
            return (1 - o.adv_weight) * clean + o.adv_weight * adv

        cfg = train_config(built, context, epochs=o.epochs, learning_rate=o.learning_rate, max_steps=o.max_steps,
                           patience=max(o.epochs, 1))
        result = fine_tune(out.model, built.tokenizer, train, validation if o.early_stopping else [], built.labels, cfg, seed=seed,
                           compute_loss=compute_loss, progress=False, desc="adv-train")
        out.model = result.model
        out.meta["defenses"] = [*built.meta.get("defenses", []), self.name]
        out.meta["fgsm_adversarial_training"] = {
            "epsilon": o.epsilon, "epsilon_absolute": eps, "relative": o.relative, "random_start": o.random_start,
            "adv_weight": o.adv_weight, "epochs_run": len(result.history), "best_epoch": result.best_epoch,
        }
        return out


def adversarial_image_loss(epsilon: float, adv_weight: float = 0.5,
                           clamp: tuple[float, float] = (0.0, 1.0)) -> Any:
    """The shared loop's loss hook for FGSM training of a plain torch image classifier: the clean
    cross-entropy of ``batch["pixels"]``, mixed with the loss on FGSM images made against the
    current weights (pixels clamped to ``clamp``). ``epsilon=0`` or ``adv_weight=0`` is the clean loss."""
    import torch.nn.functional as F

    from .gradients import _image_logits, pixel_fgsm_examples

    def loss(model: Any, batch: dict[str, Any]) -> Any:
        x, y = batch["pixels"], batch["labels"]
        model.train()  # the FGSM step below may run the model; keep training mode for the loss
        clean = F.cross_entropy(_image_logits(model, x), y)
        if epsilon <= 0 or adv_weight <= 0:
            return clean
        x_adv = pixel_fgsm_examples(model, x, y, epsilon, clamp)
        return (1 - adv_weight) * clean + adv_weight * F.cross_entropy(_image_logits(model, x_adv), y)

    return loss


def fgsm_train_images(model: Any, images: Any, labels: Any, *, epsilon: float, epochs: int = 10,
                      lr: float = 1e-3, batch_size: int = 64, adv_weight: float = 0.5,
                      clamp: tuple[float, float] = (0.0, 1.0), seed: int = 0, device: str = "cpu") -> Any:
    """FGSM adversarial training for a plain torch image classifier (pixels in ``clamp`` range),
    through the core's shared loop with :func:`adversarial_image_loss` as its loss hook: Adam
    (AdamW without weight decay) at a constant ``lr``, a fresh shuffle every epoch, the last epoch
    kept. ``epsilon=0`` or ``adv_weight=0`` is ordinary training, for the side-by-side baseline."""
    import math

    import torch

    from autoglm_core import LoopSpec, TrainConfig, run_loop

    x_all = torch.as_tensor(images, dtype=torch.float32)
    y_all = torch.as_tensor(labels, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)

    def batches(epoch: int) -> Any:
        order = torch.randperm(len(x_all), generator=gen)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield {"pixels": x_all[idx], "labels": y_all[idx]}

    spec = LoopSpec(train_batches=batches, steps_per_epoch=math.ceil(len(x_all) / batch_size),
                    loss=adversarial_image_loss(epsilon, adv_weight, clamp), peft_task=None, default_lr=lr,
                    schedule="constant")
    cfg = TrainConfig(epochs=epochs, learning_rate=lr, batch_size=batch_size, weight_decay=0.0, warmup_ratio=0.0,
                      patience=epochs)
    return run_loop(model, spec, cfg, seed=seed, device=device, progress=False, desc="fgsm-train-images").model

"""FGSM in embedding space (text) and pixel space (images).

FGSM (Goodfellow et al. 2015) moves the input one step of size epsilon along the sign of the loss
gradient. Text has no continuous input, so for text models the step is taken on the word embeddings
that the model looks up (``inputs_embeds`` of a Hugging Face model); positions of padding and of
special tokens ([CLS], [SEP]) are left alone so that only the words of the sentence move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import AttackError, model_device


def embedding_layer(model: Any, who: str) -> Any:
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    weight = getattr(emb, "weight", None)
    if emb is None or weight is None or not getattr(weight, "is_floating_point", lambda: False)():
        raise AttackError(
            f"{who}: the model has no floating-point input embedding layer (get_input_embeddings()), so "
            f"there is no gradient for embeddings (a quantized or non-Hugging Face model?). Use a "
            f"gradient-free attack instead: char-noise, or deepwordbug from autoglm-plugin-textattack."
        )
    return emb


def embedding_scale(model: Any) -> float:
    """Standard deviation of the embedding matrix: the unit of ``relative`` epsilons."""
    return float(embedding_layer(model, "fgsm").weight.detach().float().std())


def encode(tokenizer: Any, texts: Sequence[str], max_length: int, device: Any) -> dict[str, Any]:
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items()}


def word_mask(input_ids: Any, attention_mask: Any, special_ids: Sequence[int]) -> Any:
    """1.0 where a real (non-special, non-padding) token sits, shape (batch, seq, 1)."""
    import torch

    mask = attention_mask.bool() if attention_mask is not None else torch.ones_like(input_ids, dtype=torch.bool)
    if special_ids:
        mask &= ~torch.isin(input_ids, torch.tensor(sorted(set(special_ids)), device=input_ids.device))
    return mask.unsqueeze(-1).float()


def special_ids_of(tokenizer: Any) -> list[int]:
    return [i for i in (getattr(tokenizer, "all_special_ids", None) or []) if i is not None]


def forward_embeds(model: Any, embeds: Any, enc: dict[str, Any]) -> Any:
    extra = {k: v for k, v in enc.items() if k not in ("input_ids", "labels", "special_tokens_mask")}
    return model(inputs_embeds=embeds, **extra).logits


def loss_gradient(model: Any, embeds: Any, enc: dict[str, Any], labels: Any, who: str) -> Any:
    """d(sum of cross-entropy)/d(embeds) at ``embeds``."""
    import torch
    import torch.nn.functional as F

    x = embeds.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            logits = forward_embeds(model, x, enc)
            loss = F.cross_entropy(logits.float(), labels, reduction="sum")
            if not loss.requires_grad:
                raise RuntimeError("the loss does not depend on the embeddings")
            (grad,) = torch.autograd.grad(loss, x)
    except (RuntimeError, NotImplementedError, TypeError) as e:
        raise AttackError(
            f"{who}: cannot take the gradient of the loss with respect to the input embeddings ({e}). "
            f"Quantized or exported models have no such gradient; attack the fp32 model, or use a "
            f"gradient-free attack (char-noise, deepwordbug)."
        ) from None
    return grad


def text_fgsm_predictions(model: Any, tokenizer: Any, texts: Sequence[str], labels: Sequence[int],
                          epsilons: Sequence[float], *, max_length: int = 128, batch_size: int = 32,
                          scale: float = 1.0, who: str = "fgsm") -> dict[str, Any]:
    """Predicted class ids per epsilon, plus how many examples had an all-zero gradient.

    The gradient is taken once at the clean input; every epsilon reuses it (FGSM is one step)."""
    import torch

    emb = embedding_layer(model, who)
    device = model_device(model)
    special = special_ids_of(tokenizer)
    preds: dict[float, list[int]] = {float(e): [] for e in epsilons}
    zero_grad = 0
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(texts), batch_size):
            enc = encode(tokenizer, texts[start : start + batch_size], max_length, device)
            y = torch.tensor(list(labels[start : start + batch_size]), device=device)
            with torch.no_grad():
                embeds = emb(enc["input_ids"])
            grad = loss_gradient(model, embeds, enc, y, who)
            mask = word_mask(enc["input_ids"], enc.get("attention_mask"), special)
            step = grad.sign() * mask
            zero_grad += int(((grad * mask).abs().flatten(1).sum(1) == 0).sum())
            with torch.no_grad():
                for eps in preds:
                    logits = forward_embeds(model, embeds + eps * scale * step, enc)
                    preds[eps] += logits.argmax(-1).tolist()
    finally:
        model.train(was_training)
    return {"predictions": preds, "zero_gradient": zero_grad}


def perturb_embeddings(model: Any, emb_layer: Any, batch: dict[str, Any], special_ids: Sequence[int],
                       epsilon: float, *, alpha: float | None = None, random_start: bool = False,
                       generator: Any = None) -> tuple[Any, Any]:
    """(clean embeddings with grad to the embedding matrix, detached FGSM perturbation) for a training batch.

    With ``random_start`` (Wong et al. 2020, "Fast is better than free") the step starts from a
    uniform point in the epsilon box, moves ``alpha`` (default 1.25 epsilon) along the gradient sign
    and is projected back into the box."""
    import torch
    import torch.nn.functional as F

    embeds = emb_layer(batch["input_ids"])
    mask = word_mask(batch["input_ids"], batch.get("attention_mask"), special_ids)
    if random_start:
        delta = (torch.rand(embeds.shape, generator=generator, device="cpu").to(embeds.device) * 2 - 1) * epsilon * mask
        step = alpha if alpha is not None else 1.25 * epsilon
    else:
        delta = torch.zeros_like(embeds)
        step = alpha if alpha is not None else epsilon
    delta = delta.detach().requires_grad_(True)
    logits = forward_embeds(model, embeds.detach() + delta, batch)
    loss = F.cross_entropy(logits.float(), batch["labels"])
    (grad,) = torch.autograd.grad(loss, delta)
    delta = (delta.detach() + step * grad.sign() * mask).clamp(-epsilon, epsilon)
    return embeds, delta.detach()


def pixel_fgsm_predictions(model: Any, images: Any, labels: Any, epsilons: Sequence[float], *,
                           clamp: tuple[float, float] = (0.0, 1.0), batch_size: int = 64,
                           who: str = "fgsm") -> dict[float, list[int]]:
    """FGSM in pixel space: x + eps * sign(grad), clamped to the valid pixel range."""
    import torch
    import torch.nn.functional as F

    device = model_device(model)
    images = torch.as_tensor(images, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long)
    preds: dict[float, list[int]] = {float(e): [] for e in epsilons}
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device).requires_grad_(True)
            y = labels[start : start + batch_size].to(device)
            with torch.enable_grad():
                loss = F.cross_entropy(_image_logits(model, x).float(), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x)
            with torch.no_grad():
                for eps in preds:
                    adv = (x + eps * grad.sign()).clamp(*clamp)
                    preds[eps] += _image_logits(model, adv).argmax(-1).tolist()
    finally:
        model.train(was_training)
    return preds


def pixel_fgsm_examples(model: Any, x: Any, y: Any, epsilon: float, clamp: tuple[float, float] = (0.0, 1.0)) -> Any:
    """Adversarial images for a training batch (used by adversarial training of image models)."""
    import torch
    import torch.nn.functional as F

    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(_image_logits(model, x).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
    return (x + epsilon * grad.sign()).clamp(*clamp).detach()


def _image_logits(model: Any, x: Any) -> Any:
    out = model(pixel_values=x) if _takes_pixel_values(model) else model(x)
    return getattr(out, "logits", out)


def _takes_pixel_values(model: Any) -> bool:
    import inspect

    try:
        return "pixel_values" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return False

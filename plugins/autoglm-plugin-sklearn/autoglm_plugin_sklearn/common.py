"""What the non-neural candidate models share: softmax over a logits matrix, the C grid picked on
validation, which pipeline components apply to them, and the safetensors helpers."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoglm_core import BuiltModel

#: inverse regularisation strengths tried on the validation split (the first is sklearn's default)
C_GRID = (1.0, 4.0, 16.0)


def softmax(z: Any) -> Any:
    import numpy as np

    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_logits(coef: Any, intercept: Any, n_classes: int) -> tuple[Any, Any]:
    """sklearn's binary models keep one row (the logit of class 1); give every class a row so that
    softmax(W x + b) is the probability for any number of classes."""
    import numpy as np

    coef = np.asarray(coef, dtype=np.float32)
    intercept = np.asarray(intercept, dtype=np.float32).reshape(-1)
    if n_classes == 2 and coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1, dtype=np.float32), intercept])
    return coef, intercept


def full_probs(probs: Any, classes: Any, n_classes: int) -> Any:
    """Columns for every label, also those absent from a training fold."""
    import numpy as np

    out = np.zeros((probs.shape[0], n_classes), dtype=np.float32)
    out[:, np.asarray(classes, dtype=int)] = probs
    return out


class NonNeuralModel(BuiltModel):
    """A BuiltModel whose ``model`` is not a torch module: components that rewrite or differentiate
    torch weights do not apply; the ones that only query probabilities do."""

    def not_applicable(self, kind: str, component: Any) -> str | None:
        if kind == "attack" and getattr(component, "black_box", False):
            return None
        what = {"compressor": "compressors rewrite torch weights", "defense": "defenses retrain or wrap torch models",
                "attack": "this attack needs gradients or torch embeddings (black-box attacks such as char-noise apply)"}
        return (f"{getattr(component, 'name', component)!r} does not apply to a {self.format!r} model: "
                f"{what.get(kind, 'it needs a torch model')}.")

    def fit(self, train: list[Any], validation: list[Any], context: Any, C: float | None = None) -> dict[str, Any]:
        raise NotImplementedError


def one_blas_thread() -> Any:
    """Linear fits on sparse TF-IDF gain nothing from BLAS threads, and on a busy machine the
    threads' spin-waiting made one lbfgs fit 4x slower (measured on the 2-core CI box)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def pick_c(fit_score: Any, grid: tuple[float, ...] = C_GRID) -> tuple[float, dict[str, float]]:
    """Try each C with ``fit_score(C) -> validation accuracy``; the best (ties: smallest C) wins."""
    scores = {str(c): float(fit_score(c)) for c in grid}
    best = max(grid, key=lambda c: (scores[str(c)], -c))
    return best, scores


def check_dir(directory: Path, name: str) -> Path:
    from autoglm_core import ModelLoadError

    path = Path(directory) / name
    if not path.is_file():
        raise ModelLoadError(f"{directory}: {name} is missing; the model folder is incomplete.")
    return path


def text_key(text: str) -> str:
    """The key a per-text cache (embeddings, n-gram counts) keeps a text under."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def cache_off(state: dict[str, bool]) -> Iterator[None]:
    """``state["cache"]`` is False inside: latency timing does the per-text work (encoding,
    n-gram analysis) that a served model does, instead of reading a module's cache."""
    old, state["cache"] = state["cache"], False
    try:
        yield
    finally:
        state["cache"] = old

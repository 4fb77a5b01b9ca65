"""Weighted ensembles of classifiers: greedy ensemble selection with replacement (Caruana et al.
2004, as AutoGluon does) on validation probabilities, and the model that applies the weights.

The ensemble is saved as one folder (``ensemble.json`` with the weights plus ``members/<name>/``,
each member in its own format), so ``autoglm predict`` and ``serve`` load it like any model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel, ModelFormat
from autoglm_core.types.errors import ModelLoadError

FORMAT = "ensemble"
ROUNDS = 25


def _score(probs: Any, y: Any) -> tuple[float, float]:
    """(accuracy, -log loss): accuracy decides, log loss breaks its many ties on small splits."""
    import numpy as np

    acc = float((probs.argmax(axis=1) == y).mean())
    nll = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)).mean())
    return acc, -nll


def caruana_weights(member_probs: dict[str, Any], y: Sequence[int], rounds: int = ROUNDS) -> tuple[dict[str, float], float]:
    """Greedy forward selection with replacement: each round adds the member whose addition to the
    running average scores best; the best-scoring prefix of rounds is kept. Returns (name ->
    weight, validation accuracy of the weighted average)."""
    import numpy as np

    names = sorted(member_probs)
    truth = np.asarray(y, dtype=int)
    if not names or len(truth) == 0:
        return {}, float("nan")
    total = np.zeros_like(np.asarray(member_probs[names[0]], dtype=np.float64))
    counts = {n: 0 for n in names}
    best: tuple[tuple[float, float], dict[str, int]] | None = None
    for r in range(1, rounds + 1):
        trials = [(_score((total + member_probs[n]) / r, truth), n) for n in names]
        (sc, pick) = max(trials, key=lambda t: (t[0], -names.index(t[1])))
        total = total + member_probs[pick]
        counts[pick] += 1
        if best is None or sc > best[0]:
            best = (sc, dict(counts))
    assert best is not None
    used = {n: c for n, c in best[1].items() if c}
    s = sum(used.values())
    return {n: c / s for n, c in used.items()}, best[0][0]


class EnsembleModel(BuiltModel):
    """``model`` is a list of (weight, member BuiltModel); probabilities are the weighted mean."""

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> Any:
        import numpy as np

        out = None
        for weight, member in self.model:
            p = np.asarray(member.predict_proba(texts, batch_size=batch_size, max_length=max_length), dtype=np.float32)
            out = weight * p if out is None else out + weight * p
        return out if out is not None else np.zeros((0, len(self.labels)), dtype=np.float32)

    def not_applicable(self, kind: str, component: Any) -> str | None:
        if kind == "attack" and getattr(component, "black_box", False):
            return None
        return (f"{getattr(component, 'name', component)!r} does not apply to an ensemble: compress, defend or "
                f"attack its members (black-box attacks such as char-noise apply to the ensemble itself).")

    def members(self) -> list[tuple[float, BuiltModel]]:
        return list(self.model)


class EnsembleFormat(ModelFormat):
    name = FORMAT
    description = "weighted average of member models saved side by side (ensemble.json + members/)"
    whole_model = True  # no torch architecture: this format saves and loads the whole model

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        from autoglm_core.io import atomic_write_json

        entries = []
        for i, (weight, member) in enumerate(built.model):
            name = f"{i}-{member.candidate.name if member.candidate else 'member'}"
            member.save(Path(directory) / "members" / name)
            entries.append({"dir": f"members/{name}", "weight": weight})
        atomic_write_json(Path(directory) / "ensemble.json", {"members": entries})

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        from autoglm_core.models.loading import load_model
        from autoglm_core.types.schemas import CandidateSpec

        path = Path(directory) / "ensemble.json"
        if not path.is_file():
            raise ModelLoadError(f"{directory}: ensemble.json is missing; the ensemble folder is incomplete.")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ModelLoadError(f"{path}: line {e.lineno}: invalid JSON: {e.msg}.") from None
        members = [(float(m["weight"]), load_model(Path(directory) / m["dir"])) for m in spec["members"]]
        cand = meta.get("candidate")
        return EnsembleModel(model=members, tokenizer=None, labels=list(meta["labels"]),
                             task_type=meta.get("task_type") or members[0][1].task_type,
                             candidate=CandidateSpec.model_validate(cand) if cand else None,
                             variant=meta.get("variant", "ensemble"), format=FORMAT, meta=meta.get("meta", {}))

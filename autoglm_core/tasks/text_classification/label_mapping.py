"""Numeric label codes (0/1) and a description that names the labels: which code is which name?

Every assignment of the description's names to the codes is scored by how often the zero-shot
scorer's prediction on the training rows agrees with it; the best one is applied when its margin
over the runner-up is clear (it and its confidence go into the report), otherwise the run keeps
the codes and prints the exact ``--label-map`` to use. Only the names change, never the rows: the
split is made before (and does not depend on label names)."""

from __future__ import annotations

import dataclasses
import math
from itertools import permutations
from typing import Any

from autoglm_core.types.data import DataSplits, Example

#: the smallest margin (share of rows) between the best and the runner-up assignment that is applied
MIN_MARGIN = 0.10
#: training rows scored (a stratified sample beyond that): enough to decide, cheap to embed
MAX_ROWS = 256
#: permutations grow as k!: beyond this many labels the run only prints --label-map
MAX_LABELS = 6


@dataclasses.dataclass
class MappingDecision:
    mapping: dict[str, str]  # code -> name
    agreement: float
    runner_up: float
    rows: int
    scorer: str
    candidate: str

    @property
    def margin(self) -> float:
        return self.agreement - self.runner_up

    @property
    def threshold(self) -> float:
        # two standard errors of a share measured on n rows are at most 2 * 0.5 / sqrt(n)
        return max(MIN_MARGIN, 1 / math.sqrt(max(self.rows, 1)))

    @property
    def clear(self) -> bool:
        return self.margin >= self.threshold

    def label_map(self) -> str:
        return ",".join(f"{c}={n}" for c, n in sorted(self.mapping.items(), key=lambda kv: int(kv[0])))

    def record(self, applied: bool) -> dict[str, Any]:
        return {"applied": applied, "assignment": dict(self.mapping), "agreement": round(self.agreement, 4),
                "runner_up": round(self.runner_up, 4), "margin": round(self.margin, 4),
                "threshold": round(self.threshold, 4), "rows": self.rows, "scorer": self.scorer,
                "model": self.candidate}


def numeric_codes_with_names(spec: Any, labels: list[str]) -> list[str] | None:
    """The description's label names when the data's labels are numeric codes they could name."""
    names = list(spec.labels)
    source = spec.evidence["labels"].source if "labels" in spec.evidence else "hint"
    if (source != "parser" or len(names) != len(labels) or len(labels) < 2 or set(names) & set(labels)
            or not all(lab.lstrip("-").isdigit() for lab in labels)):
        return None
    return names


def score_assignments(probs: Any, row_codes: list[str], codes: list[str], names: list[str]) -> list[tuple[dict[str, str], float]]:
    """Every code -> name assignment with the share of rows where the scorer's top name is the
    assigned one; best first (ties: the higher mean probability of the assigned names)."""
    import numpy as np

    probs = np.asarray(probs, dtype=np.float64)
    pred = probs.argmax(axis=1)
    code_idx = np.array([codes.index(c) for c in row_codes])
    rows = np.arange(len(row_codes))
    scored = []
    for perm in permutations(range(len(names))):
        assigned = np.array(perm)[code_idx]  # name index each row's code gets
        agreement = float((pred == assigned).mean())
        soft = float(probs[rows, assigned].mean())
        scored.append(({codes[i]: names[perm[i]] for i in range(len(codes))}, agreement, soft))
    scored.sort(key=lambda s: (-s[1], -s[2]))
    return [(m, a) for m, a, _ in scored]


def _sample(train: list[Example], seed: int) -> list[Example]:
    from autoglm_core.data.load import stratified_sample

    return stratified_sample(train, MAX_ROWS, seed)


def decide(context: Any, splits: DataSplits, names: list[str]) -> MappingDecision | None:
    """Score the assignments with the zero-shot scorer on a model of the first neural candidate;
    None when no candidate can score (e.g. only TF-IDF candidates)."""
    cfg = context.config.zero_shot
    scorers = context.manager.registry("zero-shot scorer")
    if cfg.method not in scorers:
        return None
    scorer = scorers.get(cfg.method)(cfg.options, where="config zero_shot.options")
    probe = dataclasses.replace(context, splits=splits)  # the builder reads the splits (tokenizer, labels)
    rows = _sample(list(splits.train), context.config.seed)
    codes = sorted(splits.labels, key=int)
    from autoglm_core.engine.build import build_model

    for cand in context.candidates:
        if cand.family == "causal-lm":
            continue
        built = build_model(probe, cand)
        if callable(getattr(built, "fit", None)):  # a non-neural family has nothing to score before fitting
            continue
        probs = scorer.predict_proba(built, [ex.text for ex in rows], names, splits.summary.language)
        scored = score_assignments(probs, [str(ex.label) for ex in rows], codes, names)
        runner = scored[1][1] if len(scored) > 1 else 0.0
        return MappingDecision(scored[0][0], scored[0][1], runner, len(rows), cfg.method, cand.name)
    return None


def apply(splits: DataSplits, mapping: dict[str, str], names: list[str]) -> None:
    """Rename the labels of every split in place; the description's order becomes the label order."""
    for part in (splits.train, splits.validation, splits.test):
        for ex in part:
            if ex.label is not None:
                ex.label = mapping[ex.label]
    splits.labels = list(names)
    counts = splits.summary.label_counts
    splits.summary.label_counts = {mapping.get(k, k): v for k, v in counts.items()}


def map_numeric_labels(context: Any, splits: DataSplits) -> dict[str, Any] | None:
    """Name numeric label codes from the description when the evidence is clear; returns what was
    decided (for report.json), None when the data does not need it."""
    names = numeric_codes_with_names(context.spec, list(splits.labels))
    if names is None or len(names) > MAX_LABELS:
        return None
    try:
        decision = decide(context, splits, names)
    except Exception as exc:  # noqa: BLE001 - naming is a convenience: a model that cannot be built here fails in its own stage
        splits.notes.append(f"numeric labels were not named automatically: the zero-shot scorer could not run "
                            f"({type(exc).__name__}: {str(exc)[:160]}).")
        return None
    if decision is None:
        return None
    stale = [n for n in splits.notes if "--label-map" in n]
    how = (f"zero-shot scorer {decision.scorer!r} ({decision.candidate}, untrained) agrees with it on "
           f"{decision.agreement:.0%} of {decision.rows} training rows, the runner-up assignment on "
           f"{decision.runner_up:.0%}: margin {decision.margin:.2f}, needed {decision.threshold:.2f}")
    if decision.clear:
        apply(splits, decision.mapping, names)
        splits.notes = [n for n in splits.notes if n not in stale]
        splits.notes.append(f"numeric labels named from the description: {decision.label_map()} ({how}). If this is "
                            f"wrong, rerun with --label-map.")
    else:
        splits.notes.append(f"numeric labels were not named automatically: the best assignment "
                            f"{decision.label_map()} is not clear ({how}). Check which code means which and rerun "
                            f"with --label-map {decision.label_map()} (or the other order).")
    return decision.record(decision.clear)

"""Entity-level precision, recall and F1 (seqeval's definitions, computed by seqeval)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Micro precision/recall/F1 over entities (an entity counts only when its type and both ends
    match), per-type scores, and token accuracy. seqeval's default mode: an I- tag that starts an
    entity (after O or another type) starts a new entity."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    gold, pred = [list(s) for s in gold], [list(s) for s in pred]
    tokens = sum(len(s) for s in gold)
    correct = sum(g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True))
    if not any(t != "O" for s in gold + pred for t in s):
        per_type: dict[str, dict[str, float]] = {}
        p = r = f = 0.0
    else:
        p = float(precision_score(gold, pred, zero_division=0))
        r = float(recall_score(gold, pred, zero_division=0))
        f = float(f1_score(gold, pred, zero_division=0))
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
        per_type = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                        "f1": float(v["f1-score"]), "support": int(v["support"])}
                    for k, v in report.items() if not k.endswith(" avg")}
    return {"precision": p, "recall": r, "f1": f, "token_accuracy": correct / max(tokens, 1), "per_type": per_type}


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last) token spans of the entities in one tag sequence, seqeval's way: B- or an
    I- that does not continue the open entity starts one."""
    out: list[tuple[str, int, int]] = []
    cur: list[Any] | None = None
    for i, tag in enumerate(list(tags) + ["O"]):
        kind, typ = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        if cur is not None and (kind != "I" or typ != cur[0]):
            out.append((cur[0], cur[1], cur[2]))
            cur = None
        if kind == "B" or (kind == "I" and cur is None):
            cur = [typ, i, i]
        elif kind == "I" and cur is not None:
            cur[2] = i
    return out

"""Selection is a function of the results, not of timing noise: ties on the objectives are broken by a
fixed rule and the reason names it."""

from __future__ import annotations

import random

from autoglm_core.engine.selection import select_best
from autoglm_core.types.schemas import Objectives, VariantResult


def _v(cand: str, variant: str, acc: float, lat: float, size: float, params: int = 1000) -> VariantResult:
    return VariantResult(candidate=cand, variant=variant, backbone=cand, metrics={"accuracy": acc, "val_accuracy": acc},
                         latency_ms={"1": lat}, size_mb=size, params=params, model_dir=f"models/{cand}-{variant}")


def _pick(variants: list[VariantResult], **objectives: object) -> tuple[str, str]:
    best, reason = select_best([v.model_copy(deep=True) for v in variants], Objectives(**objectives))
    assert best is not None
    return f"{best.candidate}/{best.variant}", reason


def test_equal_accuracy_is_not_decided_by_latency():
    # The same two variants measured twice: only the (noisy) latencies swap.
    run1 = [_v("minilm", "fine-tuned", 0.9, 3.0, 90.0), _v("minilm", "int8", 0.9, 3.2, 25.0)]
    run2 = [_v("minilm", "fine-tuned", 0.9, 3.3, 90.0), _v("minilm", "int8", 0.9, 2.9, 25.0)]
    (a, reason), (b, _) = _pick(run1), _pick(run2)
    assert a == b == "minilm/int8"
    assert "decided by smaller size" in reason and "tied with minilm/fine-tuned on higher val_accuracy" in reason


def test_full_tie_is_decided_by_name_in_any_input_order():
    for seed in range(5):
        rng = random.Random(seed)
        vs = [_v(c, "int8", 0.8, rng.uniform(1, 5), 10.0) for c in "bac"]
        rng.shuffle(vs)
        name, reason = _pick(vs)
        assert name == "a/int8" and "decided by name order" in reason


def test_higher_metric_still_wins_and_reason_says_so():
    name, reason = _pick([_v("a", "fine-tuned", 0.7, 1.0, 1.0), _v("b", "fine-tuned", 0.9, 9.0, 99.0)])
    assert name == "b/fine-tuned" and "decided by higher val_accuracy" in reason


def test_latency_emphasis_treats_timing_noise_as_a_tie():
    # Within 10 % of the fastest: the latencies tie and the smaller model wins, whichever measured faster.
    for lat_big, lat_small in ((2.0, 2.1), (2.1, 2.0)):
        name, reason = _pick([_v("m", "fine-tuned", 0.9, lat_big, 90.0), _v("m", "int8", 0.9, lat_small, 25.0)],
                             emphasis=["latency"])
        assert name == "m/int8", (lat_big, lat_small)
        assert "decided by" in reason
    # A real speed difference still decides.
    name, reason = _pick([_v("m", "fine-tuned", 0.9, 1.0, 90.0), _v("m", "int8", 0.9, 2.0, 25.0)], emphasis=["latency"])
    assert name == "m/fine-tuned" and "decided by lower batch-1 latency" in reason


def test_size_emphasis_ties_fall_back_to_metric_then_name():
    name, reason = _pick([_v("a", "int8", 0.90, 1.0, 25.0), _v("b", "int8", 0.905, 5.0, 25.0)], emphasis=["size"])
    assert name == "b/int8" and "decided by higher val_accuracy" in reason

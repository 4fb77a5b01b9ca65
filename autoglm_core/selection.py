"""Choosing the best variant on the spec's objectives."""

from __future__ import annotations

from .schemas import Objectives, VariantResult


def meets(v: VariantResult, o: Objectives) -> tuple[bool, list[str]]:
    why: list[str] = []
    lat = v.latency_ms.get("1")
    if o.max_latency_ms is not None and (lat is None or lat > o.max_latency_ms):
        why.append(f"latency {lat} ms > {o.max_latency_ms} ms")
    if o.max_size_mb is not None and (v.size_mb is None or v.size_mb > o.max_size_mb):
        why.append(f"size {v.size_mb} MB > {o.max_size_mb} MB")
    if o.min_robust_accuracy is not None:
        rob = v.robustness.get("robust_accuracy")
        if rob is None:
            why.append("no attack measured its robust accuracy")
        elif rob < o.min_robust_accuracy:
            why.append(f"robust accuracy {rob:.3f} < {o.min_robust_accuracy}")
    return not why, why


def pareto_front(variants: list[VariantResult], metric: str) -> list[int]:
    """Indices of variants not dominated on (metric higher, batch-1 latency lower)."""
    pts = [(v.metrics.get(metric, 0.0), v.latency_ms.get("1", float("inf"))) for v in variants]
    front = []
    for i, (m, lat) in enumerate(pts):
        dominated = any((m2 >= m and l2 <= lat) and (m2 > m or l2 < lat) for j, (m2, l2) in enumerate(pts) if j != i)
        if not dominated:
            front.append(i)
    return front


def select_best(variants: list[VariantResult], objectives: Objectives) -> tuple[VariantResult | None, str]:
    """Best trained variant: those meeting the hard objectives first; within ``tolerance`` of the
    best primary metric, the fastest (latency emphasised) or smallest (size emphasised) wins."""
    metric = objectives.primary_metric
    pool = [v for v in variants if v.variant != "zero-shot" and v.model_dir]
    if not pool:
        return None, "no trained variant to choose from"
    for v in pool:
        ok, why = meets(v, objectives)
        v.meets_objectives = ok
        if not ok:
            v.notes = [n for n in v.notes if not n.startswith("misses objectives")] + ["misses objectives: " + "; ".join(why)]
    eligible = [v for v in pool if v.meets_objectives]
    prefix = ""
    if not eligible:
        eligible = pool
        prefix = "no variant meets every objective, so the best on the metric was taken anyway; "
    # held-out evidence decides when every contender has it (validation split, or the k-fold mean on
    # small data); the test split then only reports, as it should
    if all(f"val_{metric}" in v.metrics for v in eligible):
        metric = f"val_{metric}"
    higher_is_better = not metric.endswith("perplexity")
    sign = 1 if higher_is_better else -1
    best_value = max(sign * v.metrics.get(metric, float("-inf")) for v in eligible)
    emphasis = objectives.emphasis
    cost_key = None
    for e in emphasis:
        if e in ("latency", "size"):
            cost_key = e
            break
    if cost_key:
        near = [v for v in eligible if sign * v.metrics.get(metric, float("-inf")) >= best_value - objectives.tolerance]

        def cost(v: VariantResult) -> float:
            if cost_key == "latency":
                return v.latency_ms.get("1", float("inf"))
            return v.size_mb if v.size_mb is not None else float("inf")

        best = min(near, key=lambda v: (cost(v), -sign * v.metrics.get(metric, 0)))
        reason = (f"{prefix}{cost_key} is emphasised: among variants within {objectives.tolerance:g} of the best "
                  f"{metric} ({sign * best_value:.4f}), {best.candidate}/{best.variant} has the lowest {cost_key}.")
    else:
        best = max(eligible, key=lambda v: (sign * v.metrics.get(metric, float("-inf")), -v.latency_ms.get("1", 0.0)))
        reason = f"{prefix}best {metric} ({'highest' if higher_is_better else 'lowest'}): {best.metrics.get(metric, float('nan')):.4f} ({best.candidate}/{best.variant})."
    return best, reason

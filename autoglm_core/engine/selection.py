"""Choosing the best variant on the spec's objectives."""

from __future__ import annotations

from typing import Any

from autoglm_core.types.errors import AutoGLMError
from autoglm_core.types.schemas import Objectives, VariantResult


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


def pareto_front(variants: list[VariantResult], metric: str, higher_is_better: bool = True) -> list[int]:
    """Indices of variants not dominated on (metric better, batch-1 latency lower)."""
    sign = 1 if higher_is_better else -1
    pts = [(sign * v.metrics.get(metric, 0.0), v.latency_ms.get("1", float("inf"))) for v in variants]
    front = []
    for i, (m, lat) in enumerate(pts):
        dominated = any((m2 >= m and l2 <= lat) and (m2 > m or l2 < lat) for j, (m2, l2) in enumerate(pts) if j != i)
        if not dominated:
            front.append(i)
    return front


def _name(v: VariantResult) -> str:
    return f"{v.candidate}/{v.variant}"


# Timings taken seconds apart on a busy machine differ by several percent; latencies this close to
# the fastest count as equal so that a repeated seeded run picks the same variant.
LATENCY_NOISE = 0.10


def _decide(ranked: list[tuple[VariantResult, tuple[Any, ...]]], rules: list[str]) -> tuple[VariantResult, str]:
    """The variant with the smallest key, and the rule (the first key position) that set it apart
    from the runner-up."""
    ranked = sorted(ranked, key=lambda vk: vk[1])
    best, key = ranked[0]
    if len(ranked) == 1:
        return best, "it is the only eligible variant"
    runner_key = ranked[1][1]
    for i, rule in enumerate(rules):
        if key[i] != runner_key[i]:
            tied = rules[:i]
            lead = f"tied with {_name(ranked[1][0])} on {' and '.join(tied)}; " if tied else ""
            return best, f"{lead}decided by {rule}"
    return best, "decided by name order"  # unreachable: names are unique


#: a variant note that keeps the variant out of selection (reported, never chosen)
NOT_OFFERED = "not offered for selection"


def held_out_problem(task_type: Any, choices: int, metric: str | None = None) -> str | None:
    """Why selection among ``choices`` models of ``task_type`` (a class) on ``metric`` (default: the
    task's primary metric) could only read test or benchmark numbers, naming the member to add or
    the metric to take; None when there is nothing to choose or held-out numbers decide."""
    if choices < 2:
        return None
    metric = metric or task_type.default_metric()
    if not task_type.reports_held_out:
        return (f"task type {task_type.name!r} reports no held-out metrics, so choosing among its {choices} models "
                f"could only read test-split numbers. Make its `evaluate` also return `val_{metric}` (and `val_` of "
                f"each declared metric) scored on `context.splits.validation`, and declare `reports_held_out = True` "
                f"on the class (docs/task-types.md, 'Held-out metrics').")
    if metric in task_type.benchmark_metrics:
        others = [m for m in task_type.metric_names() if m not in task_type.benchmark_metrics]
        return (f"metric {metric!r} of task type {task_type.name!r} is scored on a benchmark, which has no held-out "
                f"part, so it cannot choose among {choices} models. Take {' or '.join(map(repr, others))} as the "
                f"metric (selection reads its val_ score), or plan one model (one candidate, no compressor).")
    return None


def select_best(variants: list[VariantResult], objectives: Objectives,
                higher_is_better: bool = True) -> tuple[VariantResult | None, str]:
    """Best trained variant: those meeting the hard objectives first; within ``tolerance`` of the
    best primary metric, the fastest (latency emphasised) or smallest (size emphasised) wins.

    Every tie is broken by a fixed rule, never by a timing: higher primary metric, then smaller size,
    then fewer parameters, then the name (``candidate/variant``) in alphabetical order. Latency only
    decides when it is emphasised, and then latencies within ``LATENCY_NOISE`` of the fastest tie.
    ``higher_is_better`` is the primary metric's direction, as its task type declares it.

    The metric read is the held-out ``val_<metric>`` (validation split, or the k-fold mean on small
    data), never the test split: with several contenders one without it is an error (the plan-time
    check, :func:`held_out_problem`, refuses task types that do not report it)."""
    metric = objectives.primary_metric
    pool = [v for v in variants if v.variant != "zero-shot" and v.model_dir
            and not any(n.startswith(NOT_OFFERED) for n in v.notes)]
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
    missing = [_name(v) for v in eligible if f"val_{metric}" not in v.metrics]
    if missing and len(eligible) > 1:
        raise AutoGLMError(f"no held-out val_{metric} for {', '.join(missing)}: its `evaluate` returned none (is the "
                           f"validation split empty? give it rows: config split.validation, or --validation FILE); "
                           f"selection never reads the test split.")
    if not missing:  # a lone contender without it is taken without any comparison
        metric = f"val_{metric}"
    sign = 1 if higher_is_better else -1
    inf = float("inf")

    def score(v: VariantResult) -> float:
        return sign * v.metrics.get(metric, -inf * sign)

    def size(v: VariantResult) -> float:
        return v.size_mb if v.size_mb is not None else inf

    def params(v: VariantResult) -> float:
        return float(v.params) if v.params is not None else inf

    better = "higher" if higher_is_better else "lower"
    best_value = max(score(v) for v in eligible)
    cost_key = next((e for e in objectives.emphasis if e in ("latency", "size")), None)
    if cost_key:
        near = [v for v in eligible if score(v) >= best_value - objectives.tolerance]
        if cost_key == "latency":
            fastest = min(v.latency_ms.get("1", inf) for v in near)

            def cost(v: VariantResult) -> float:
                lat = v.latency_ms.get("1", inf)
                return 0.0 if lat <= fastest * (1 + LATENCY_NOISE) else lat
            cost_rule = f"lower batch-1 latency (within {LATENCY_NOISE:.0%} of the fastest counts as a tie)"
        else:
            cost = size
            cost_rule = "smaller size"
        rules = [cost_rule, f"{better} {metric}", "smaller size", "fewer parameters", "name order"]
        best, rule = _decide([(v, (cost(v), -score(v), size(v), params(v), _name(v))) for v in near], rules)
        reason = (f"{prefix}{cost_key} is emphasised: among variants within {objectives.tolerance:g} of the best "
                  f"{metric} ({sign * best_value:.4f}), {_name(best)} wins; {rule}.")
    else:
        rules = [f"{better} {metric}", "smaller size", "fewer parameters", "name order"]
        best, rule = _decide([(v, (-score(v), size(v), params(v), _name(v))) for v in eligible], rules)
        reason = (f"{prefix}best {metric} ({better}): {best.metrics.get(metric, float('nan')):.4f} "
                  f"({_name(best)}); {rule}.")
    return best, reason

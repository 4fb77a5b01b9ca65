"""The leaderboard of a run: every trained candidate, its variants, the ensemble and the baselines,
with the held-out metric that selected them, the test metric, fit time, predict latency, size and
the time budget each got; plus the plot of metric vs fit time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.types.schemas import RunReport


def leaderboard_rows(report: RunReport) -> list[dict[str, Any]]:
    fit_s = {st.candidate: st.duration_s for st in report.stages if st.stage == "train" and st.status == "ok"}
    train_meta = {st.candidate: st.metrics for st in report.stages if st.stage == "train"}
    for st in report.stages:
        if st.stage == "ensemble" and st.status == "ok":
            fit_s["ensemble"] = st.duration_s
        if st.stage == "train" and st.status == "failed":
            train_meta[st.candidate] = {"failed": "; ".join(st.notes)}
    metric = report.spec.objectives.primary_metric
    rows = []
    for v in report.variants:
        meta = train_meta.get(v.candidate, {})
        rows.append({
            "candidate": v.candidate, "variant": v.variant,
            "protocol": (meta.get("protocol") or ("holdout" if f"val_{metric}" in v.metrics else "-"))
            if v.variant not in ("zero-shot", "majority") else "no training",
            "validation": v.metrics.get(f"val_{metric}"), "cv_std": v.metrics.get("cv_accuracy_std"),
            "test": v.metrics.get(metric), "test_macro_f1": v.metrics.get("macro_f1"),
            "fold_test_mean": v.metrics.get("fold_test_accuracy_mean"),
            "fold_test_std": v.metrics.get("fold_test_accuracy_std"),
            "fit_s": fit_s.get(v.candidate) if v.variant in ("fine-tuned", "ensemble") else None,
            "latency_ms_b1": v.latency_ms.get("1"), "latency_ms_b32": v.latency_ms.get("32"),
            "size_mb": v.size_mb, "time_share_s": meta.get("time_share_s"),
            "selected": bool(report.best and report.best.candidate == v.candidate and report.best.variant == v.variant),
        })
    for cand, meta in train_meta.items():
        if "failed" in meta:
            rows.append({"candidate": cand, "variant": "failed", "protocol": "-", "note": meta["failed"][:200]})
    order = {"ensemble": 0, "fine-tuned": 1}
    rows.sort(key=lambda r: (r.get("test") is None, -(r.get("validation") or r.get("test") or 0), order.get(r["variant"], 2)))
    return rows


def _f(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def leaderboard_table(rows: list[dict[str, Any]], metric: str) -> str:
    # a macro-F1 column only for task types that report it (classification)
    f1 = any(r.get("test_macro_f1") is not None for r in rows)
    head = ["candidate", "variant", "protocol", f"held-out {metric}", f"test {metric}", *(["macro-F1"] if f1 else []),
            "fold models on test", "fit s", "ms/ex b1", "ms/ex b32", "size MB", "budget s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["variant"] == "failed":
            lines.append(f"| {r['candidate']} | failed | - | {r.get('note', '')} |" + " |" * (len(head) - 4))
            continue
        held = _f(r["validation"]) + (f" ± {r['cv_std']:.3f}" if r.get("cv_std") is not None else "")
        folds = f"{r['fold_test_mean']:.3f} ± {r['fold_test_std']:.3f}" if r.get("fold_test_mean") is not None else "-"
        name = f"**{r['candidate']}**" if r["selected"] else r["candidate"]
        lines.append("| " + " | ".join([
            name, r["variant"], r["protocol"], held, _f(r["test"]), *([_f(r["test_macro_f1"])] if f1 else []), folds,
            _f(r["fit_s"], 1),
            _f(r["latency_ms_b1"], 2), _f(r["latency_ms_b32"], 2), _f(r["size_mb"], 2), _f(r["time_share_s"], 0),
        ]) + " |")
    return "\n".join(lines)


def plot_metric_vs_time(rows: list[dict[str, Any]], metric: str, path: Path) -> bool:
    pts = [r for r in rows if r.get("fit_s") is not None and r.get("test") is not None]
    if not pts:
        return False
    from autoglm_core.engine.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in pts:
        ax.scatter(max(r["fit_s"], 0.01), r["test"], s=60, alpha=0.8, marker="*" if r["selected"] else "o")
        ax.annotate(r["candidate"], (max(r["fit_s"], 0.01), r["test"]), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("fit time, seconds (log scale)")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{metric} vs fit time (star: selected)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


EFFECTIVE_KEYS = ("train_config", "C", "features", "classifier", "encoder", "protocol", "time_share_s", "probe",
                  "steps", "stop_reason")


def effective_settings(config: Any, stages: list[Any]) -> dict[str, Any]:
    """What each candidate was really trained with (backbone defaults, budget cuts and the time
    limit applied), next to config.json, which records what was asked."""
    per_candidate = {st.candidate: {k: st.metrics[k] for k in EFFECTIVE_KEYS if k in st.metrics}
                     for st in stages if st.stage == "train" and st.status == "ok"}
    return {"seed": config.seed, "time_limit": config.time_limit, "max_train_rows": config.max_train_rows,
            "candidates": per_candidate}


def worse_than_baselines(best: Any, variants: list[Any], metric: str) -> list[str]:
    """A selected model that does not beat the zero-shot or majority-class baseline on the test
    split deserves a loud line, not a quiet row in a table."""
    if best is None or metric not in best.metrics:
        return []
    out = []
    for v in variants:
        if v.variant in ("zero-shot", "majority") and v.metrics.get(metric, float("-inf")) >= best.metrics[metric]:
            out.append(f"the selected model ({best.candidate}/{best.variant}, test {metric} {best.metrics[metric]:.4f}) "
                       f"is not better than the {v.variant} baseline ({v.candidate}: {v.metrics[metric]:.4f}); more "
                       f"data, labels that match the description, or a longer --time-limit may help.")
    return out


def protocol_text(stages: list[Any], summary: Any) -> str:
    """How the candidates were compared: holdout validation, or k-fold for the cheap ones (and for the
    fine-tuned recipe on small data)."""
    trains = [st for st in stages if st.stage == "train" and st.metrics.get("protocol")]
    folds = sorted({str(st.metrics["protocol"]) for st in trains if str(st.metrics["protocol"]).endswith("-fold")})
    if not folds or summary is None:
        return "holdout: candidates are compared on the validation split; the test split only reports."
    rows = summary.split_sizes.get("train", 0) + summary.split_sizes.get("validation", 0)
    fine_tuned = {str(st.metrics["protocol"]) for st in trains if st.metrics.get("train_config")}
    cheap = {str(st.metrics["protocol"]) for st in trains if not st.metrics.get("train_config")}
    parts = []
    if cheap:
        parts.append(f"the cheap candidates (n-gram linear models, frozen-encoder heads) by stratified "
                     f"{'/'.join(sorted(cheap))} cross-validation on train+validation (mean ± spread), then refit on "
                     "all of it")
    if fine_tuned:
        how = "/".join(sorted(fine_tuned))
        parts.append("the fine-tuned transformers on the holdout validation split" if how == "holdout" else
                     f"the fine-tuned transformers by {how} cross-validation of their recipe (the kept model is "
                     "trained on the train split with early stopping on validation)")
    from autoglm_core.training.loop import SMALL_DATA_ROWS

    size = f"small data ({rows} labelled train+validation rows)" if rows < SMALL_DATA_ROWS else \
        f"{rows} labelled train+validation rows"
    return f"{size}: compared {'; '.join(parts)}; the test split only reports."

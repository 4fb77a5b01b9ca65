"""report.md with plots (confusion matrix; metric vs latency of every variant, Pareto front
marked), and the exported model's card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.engine.plots import pyplot
from autoglm_core.engine.selection import pareto_front
from autoglm_core.io import atomic_write_text
from autoglm_core.plugin.task_type import per_class_card_section
from autoglm_core.types.schemas import RunReport, TaskSpec, VariantResult


def _fmt(x: float | None, nd: int = 4) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _task_type(report: RunReport, task_type: Any = None) -> Any:
    """The report's TaskType class (declared metrics, direction, sections); ``None`` when the task
    type is not registered (a report read back without its plugin)."""
    if task_type is not None:
        return task_type
    from autoglm_core.plugin.manager import get_manager

    registry = get_manager().registry("task type")
    return registry.get(report.spec.task_type) if report.spec.task_type in registry else None


def report_metrics(report: RunReport, task_type: Any = None) -> list[str]:
    """The metric columns: the task type's declared metrics (primary first), else what was measured."""
    tt = _task_type(report, task_type)
    primary = report.spec.objectives.primary_metric
    declared = tt.metric_names() if tt is not None else []
    if not declared:
        declared = sorted({k for v in report.variants for k in v.metrics})[:4]
    return [primary] + [m for m in declared if m != primary]


HELD_OUT_PREFIXES = ("val_", "cv_", "fold_")


def evaluator_metrics(report: RunReport, task_type: Any = None) -> list[str]:
    """Numbers that extra evaluators (``evaluate.evaluators``) added beside the declared metrics."""
    if not report.config.evaluate.evaluators:
        return []
    shown = set(report_metrics(report, task_type))
    return sorted({k for v in report.variants for k, x in v.metrics.items() if isinstance(x, int | float)
                   and k not in shown and not k.startswith(HELD_OUT_PREFIXES)})


def evaluator_table(report: RunReport, task_type: Any = None) -> str:
    keys = evaluator_metrics(report, task_type)
    if not keys:
        return ""
    lines = ["| candidate | variant | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for v in report.variants:
        lines.append(f"| {v.candidate} | {v.variant} | " + " | ".join(_fmt(v.metrics.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def variants_table(report: RunReport, task_type: Any = None) -> str:
    metrics = report_metrics(report, task_type)
    rob_keys = sorted({k for v in report.variants for k in v.robustness})
    head = ["candidate", "variant", *metrics, "ms/ex b1", "ms/ex b32", "size MB", "params", "meets"]
    head += rob_keys
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in report.variants:
        best = report.best is not None and v.candidate == report.best.candidate and v.variant == report.best.variant
        row = [v.candidate, f"**{v.variant}**" if best else v.variant, *[_fmt(v.metrics.get(m)) for m in metrics],
               _fmt(v.latency_ms.get("1"), 2), _fmt(v.latency_ms.get("32"), 2),
               _fmt(v.size_mb, 1), f"{v.params:,}" if v.params else "-",
               "-" if v.variant == "zero-shot" else ("yes" if v.meets_objectives else "no")]
        row += [_fmt(v.robustness.get(k)) for k in rob_keys]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def classification_sections(report: RunReport, run_dir: Path) -> list[str]:
    """Sections of classification task types: fusion ablations and the confusion matrix."""
    parts = []
    ablation = ablation_tables(report)
    if ablation:
        parts.append("## Ablation (same split, test set)\n\n" + ablation + "\n")
    labels = list(report.data.label_counts) if report.data else list(report.spec.labels)
    if report.best and report.best.confusion_matrix:
        labels = list(report.best.per_class) or labels
        if plot_confusion(report.best, labels, run_dir / "confusion_matrix.png"):
            parts.append("## Confusion matrix (selected model, test split)\n\n![confusion matrix](confusion_matrix.png)\n")
    return parts


def ablation_tables(report: RunReport) -> str:
    """Fusion ablations that a task type recorded as ``ablation`` rows in its train stage metrics
    (multimodal: text only, image only, concatenation, gated cross-attention)."""
    out = []
    for st in report.stages:
        rows = st.metrics.get("ablation") if st.stage == "train" else None
        if not rows:
            continue
        lines = [f"### {st.candidate}\n", "| fusion | accuracy | macro-F1 | params | train s |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r.get('fusion')} | {_fmt(r.get('accuracy'))} | {_fmt(r.get('macro_f1'))} | "
                         f"{r.get('params', '-'):,} | {_fmt(r.get('train_seconds'), 1)} |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def compressed_pairs(report: RunReport) -> list[tuple[VariantResult, VariantResult]]:
    """(compressed variant, its candidate's fine-tuned model) for every compressed variant."""
    compressors = {st.key.rsplit("/", 1)[-1] for st in report.stages if st.stage == "compress"}
    pairs = []
    for v in report.variants:
        if v.variant not in compressors:
            continue
        base = next((b for b in report.variants if b.candidate == v.candidate and b.variant == "fine-tuned"), None)
        if base is not None:
            pairs.append((v, base))
    return pairs


def metric_lost(variant: VariantResult, base: VariantResult, metric: str, higher_is_better: bool) -> float | None:
    """How much of ``metric`` the compressed ``variant`` lost against its fine-tuned ``base``
    (positive: worse, whichever way the metric points; in points for metrics in [0, 1])."""
    a, b = base.metrics.get(metric), variant.metrics.get(metric)
    if a is None or b is None:
        return None
    lost = (a - b) if higher_is_better else (b - a)
    return lost * 100 if 0 <= a <= 1 else lost


def metric_lost_header(report: RunReport) -> str:
    metric = report.spec.objectives.primary_metric
    scaled = any(0 <= base.metrics.get(metric, -1) <= 1 for _, base in compressed_pairs(report))
    return f"{metric} lost{' (points)' if scaled else ''}"


def compression_table(report: RunReport, higher_is_better: bool = True) -> str | None:
    """Each compressed variant against its candidate's fine-tuned fp32 model (what the primary
    metric lost, in points for metrics in [0, 1])."""
    metric = report.spec.objectives.primary_metric
    rows = []
    for v, base in compressed_pairs(report):

        def ratio(a: float | None, b: float | None) -> str:
            return f"{a / b:.2f}x" if a and b else "-"

        drop = metric_lost(v, base, metric, higher_is_better)
        rows.append(f"| {v.candidate} | {v.variant} | {'-' if drop is None else f'{drop:+.1f}'} | {ratio(base.latency_ms.get('1'), v.latency_ms.get('1'))} | "
                    f"{ratio(base.latency_ms.get('32'), v.latency_ms.get('32'))} | {ratio(v.size_mb, base.size_mb)} | "
                    f"{'; '.join(n for n in v.notes if not n.startswith('misses'))[:120]} |")
    if not rows:
        return None
    head = (f"| candidate | variant | {metric_lost_header(report)} | speed-up b1 | speed-up b32 | size vs fp32 | notes |\n"
            "|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(rows)


def plot_confusion(v: VariantResult, labels: list[str], path: Path) -> bool:
    if not v.confusion_matrix:
        return False
    import numpy as np

    plt = pyplot()
    cm = np.array(v.confusion_matrix)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=labels)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{v.candidate} / {v.variant}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_tradeoff(report: RunReport, path: Path, higher_is_better: bool = True) -> bool:
    metric = report.spec.objectives.primary_metric
    pts = [v for v in report.variants if v.latency_ms.get("1") is not None and metric in v.metrics]
    if not pts:
        return False
    plt = pyplot()
    front = set(pareto_front(pts, metric, higher_is_better))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, v in enumerate(pts):
        size = 30 + 2 * (v.size_mb or 10)
        ax.scatter(v.latency_ms["1"], v.metrics[metric], s=size, alpha=0.7,
                   edgecolors="red" if i in front else "none", linewidths=2)
        ax.annotate(f"{v.candidate}/{v.variant}", (v.latency_ms["1"], v.metrics[metric]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    fr = sorted((pts[i] for i in front), key=lambda v: v.latency_ms["1"])
    ax.plot([v.latency_ms["1"] for v in fr], [v.metrics[metric] for v in fr], "r--", lw=1, label="Pareto front")
    ax.set_xlabel("latency, ms per example (batch 1)")
    ax.set_ylabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better)")
    ax.set_title(f"{metric} vs latency (marker area ~ size on disk)")
    ax.legend(loc="lower right" if higher_is_better else "upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(report: RunReport, run_dir: Path, task_type: Any = None) -> Path:
    s = report.spec
    tt = _task_type(report, task_type)
    metric = s.objectives.primary_metric
    higher = tt.higher_is_better(metric) if tt is not None else True
    shown = report_metrics(report, tt)
    parts = ["# Open-AutoGLM run report\n", f"Task: **{s.task_type}** ({s.language}). Description: {s.description}\n"]
    labels = ", ".join(report.data and report.data.label_counts.keys() or s.labels)
    parts.append((f"Labels: {labels}. " if labels else "")
                 + f"Metric: {s.objectives.primary_metric}. Emphasis: {', '.join(s.objectives.emphasis) or 'none'}.\n")
    if report.data:
        d = report.data
        parts.append(f"Data: {', '.join(d.files)}: {d.rows_used} rows used, {d.rows_skipped} skipped; split "
                     f"{d.split_sizes}; language {d.language}.\n")
    if report.best:
        b = report.best
        scores = ", ".join(f"{m} {_fmt(b.metrics.get(m))}" for m in shown)
        parts.append(f"## Selected model\n\n**{b.candidate} / {b.variant}** ({b.backbone}): {scores}, "
                     f"{_fmt(b.latency_ms.get('1'), 2)} ms/example at batch 1. {report.selection_reason}\n")
        if report.exported_model:
            parts.append(f"Exported to `{report.exported_model}/` (Hugging Face layout, safetensors, model card).\n")
    if report.leaderboard:
        from autoglm_core.engine.leaderboard import leaderboard_table, plot_metric_vs_time

        metric = s.objectives.primary_metric
        parts.append("## Leaderboard\n\n" + (f"Protocol: {report.protocol}\n\n" if report.protocol else "")
                     + leaderboard_table(report.leaderboard, metric) + "\n")
        if plot_metric_vs_time(report.leaderboard, metric, run_dir / "leaderboard.png"):
            parts.append("![metric vs fit time](leaderboard.png)\n")
    parts.append("## All variants (zero-shot baseline, fine-tuned, compressed, defended)\n\n"
                 + variants_table(report, tt) + "\n")
    extra = evaluator_table(report, tt)
    if extra:
        parts.append("## Evaluator metrics (plugin evaluators, every variant)\n\n" + extra + "\n")
    table = compression_table(report, higher)
    if table:
        parts.append("## Compression (against the fine-tuned fp32 model)\n\n" + table + "\n")
    if tt is not None:
        parts += tt().report_sections(report, run_dir)
    if plot_tradeoff(report, run_dir / "tradeoff.png", higher):
        parts.append(f"## {metric} vs latency and size\n\nEvery variant; marker area grows with size on disk; the "
                     f"Pareto front (no other variant is both better on {metric} and faster) is outlined in red.\n\n"
                     "![metric vs latency](tradeoff.png)\n")
    stage_rows = ["| stage | status | seconds | notes |", "|---|---|---|---|"]
    for st in report.stages:
        stage_rows.append(f"| {st.key} | {st.status} | {st.duration_s:.1f} | {'; '.join(st.notes)[:200]} |")
    parts.append("## Stages\n\n" + "\n".join(stage_rows) + "\n")
    if report.warnings:
        parts.append("## Warnings\n\n" + "\n".join(f"- {w}" for w in report.warnings) + "\n")
    path = run_dir / "report.md"
    atomic_write_text(path, "\n".join(parts))
    return path


def model_card(spec: TaskSpec, best: VariantResult, reason: str, sections: list[str] | None = None,
               pipeline_tag: str = "text-classification") -> str:
    """The exported model's README.md: what every task shares, then the task type's ``sections``
    (``TaskType.model_card_sections``; without them, the classification table)."""
    from autoglm_core.types.version import __version__

    body = "\n".join(sections if sections is not None else per_class_card_section(spec, best))
    return f"""---
library_name: transformers
pipeline_tag: {pipeline_tag}
tags: [autoglm, {spec.task_type}]
---
# {spec.task_type} model ({best.variant}) trained by Open-AutoGLM {__version__}

Task: {spec.description}

- Backbone: `{best.backbone}`; variant: {best.variant}
- Test {', '.join(f"{k} {_fmt(v)}" for k, v in best.metrics.items() if isinstance(v, int | float))}
- Latency {_fmt(best.latency_ms.get('1'), 2)} ms/example (batch 1), {_fmt(best.latency_ms.get('32'), 2)} ms/example (batch 32)
- Selection: {reason}

{body}
Load it with `autoglm_core.load_model("<this folder>")` (or `transformers` for the fp32 variant).
Weights are stored as safetensors. Evaluate on your own data before relying on it.
"""

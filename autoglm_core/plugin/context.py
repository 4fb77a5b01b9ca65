"""RunContext: what every stage and component sees of the run (no ML imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_core.plugin.manager import AutoGLMPluginManager, get_manager
from autoglm_core.plugin.task_type import PLAIN_HF_TASK_TYPE, TaskType
from autoglm_core.types.schemas import CandidateSpec, PipelineConfig, TaskSpec, TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.types.data import DataSplits


@dataclass
class RunContext:
    """What every stage and component sees of the run."""

    run_dir: Path
    spec: TaskSpec
    config: PipelineConfig
    manager: AutoGLMPluginManager
    candidates: list[CandidateSpec] = field(default_factory=list)
    splits: DataSplits | None = None
    progress: bool = True
    #: per-run scratch space shared by stages (validation/test probabilities for the ensemble, ...)
    scratch: dict[Any, Any] = field(default_factory=dict)
    #: candidate name -> seconds of training the time limit leaves it (see autoglm_core.engine.budget)
    time_shares: dict[str, float] = field(default_factory=dict)

    @classmethod
    def standalone(cls, *, splits: DataSplits | None = None, task_type: str | None = None,
                   train: TrainConfig | dict[str, Any] | None = None, config: PipelineConfig | None = None,
                   spec: TaskSpec | None = None, run_dir: str | Path | None = None,
                   manager: AutoGLMPluginManager | None = None, progress: bool = False) -> RunContext:
        """A context for components used outside a pipeline run (CLI commands such as ``autoglm
        compress``, tests): the given splits and training settings, defaults for the rest, and a
        fresh temporary run directory unless one is given."""
        import tempfile

        if manager is None:
            manager = get_manager()
        if spec is None:
            labels = list(splits.labels) if splits is not None else []
            spec = TaskSpec(task_type=task_type or PLAIN_HF_TASK_TYPE, labels=labels)
        if config is None:
            config = PipelineConfig() if train is None else PipelineConfig(train=train)
        elif train is not None:
            config = config.model_copy(update={"train": TrainConfig.model_validate(train)})
        directory = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="autoglm-standalone-"))
        return cls(run_dir=directory, spec=spec, config=config, manager=manager, splits=splits, progress=progress)

    @property
    def device(self) -> str:
        if self.config.device != "auto":
            return self.config.device
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"

    @property
    def task_type(self) -> TaskType:
        """The spec's task type (an instance, created once)."""
        cached: TaskType | None = self.__dict__.get("_task_type")
        if cached is None or cached.name != self.spec.task_type:
            cached = self.manager.registry("task type").get(self.spec.task_type)()
            self.__dict__["_task_type"] = cached
        return cached

    @property
    def seed(self) -> int:
        return self.config.seed

    def train_config(self, candidate: CandidateSpec | None = None) -> TrainConfig:
        """The pipeline's TrainConfig with the backbone's recommended values filled in (only where
        the user left the default) and the task budget applied."""
        base = self.config.train.model_dump()
        explicit = self.config.train.model_fields_set
        if candidate is not None:
            for key, value in candidate.train_overrides.items():
                if key not in explicit:
                    base[key] = value
        if self.spec.budget.max_epochs:
            base["epochs"] = min(base["epochs"], self.spec.budget.max_epochs)
        if self.spec.budget.time_budget_s and not base.get("time_budget_s"):
            base["time_budget_s"] = self.spec.budget.time_budget_s
        share = self.time_shares.get(candidate.name) if candidate is not None else None
        if share is not None:
            base["time_budget_s"] = max(1.0, min(base.get("time_budget_s") or share, share))
        return TrainConfig.model_validate(base)

    def candidate_dir(self, candidate: CandidateSpec | str) -> Path:
        name = candidate if isinstance(candidate, str) else candidate.name
        return self.run_dir / "candidates" / name

    def rel(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.run_dir.resolve()))

"""RunContext: what every stage and component sees of the run (no ML imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autoglm_core.types.schemas import CandidateSpec, PipelineConfig, TaskSpec, TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.plugin.manager import AutoGLMPluginManager
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
        return TrainConfig.model_validate(base)

    def candidate_dir(self, candidate: CandidateSpec | str) -> Path:
        name = candidate if isinstance(candidate, str) else candidate.name
        return self.run_dir / "candidates" / name

    def rel(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.run_dir.resolve()))

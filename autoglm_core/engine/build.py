"""Building a candidate's model: plugins' ``autoglm_build_model`` first, then the task type's own
builder, so a plugin can add or replace a builder without the task type knowing."""

from __future__ import annotations

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import CandidateSpec


def build_model(context: RunContext, candidate: CandidateSpec) -> BuiltModel:
    built = context.manager.hook.autoglm_build_model(candidate=candidate, spec=context.spec, context=context)
    if built is None:
        built = context.task_type.build(candidate, context)
    if built is None:
        raise ConfigError(
            f"no model builder handles candidate {candidate.name!r} (builder {candidate.builder!r}, task "
            f"{context.spec.task_type!r}). Install the plugin that provides it; `autoglm plugins` lists builders."
        )
    return built

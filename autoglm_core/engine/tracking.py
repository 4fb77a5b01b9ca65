"""Experiment tracking in a run: which trackers it uses (``--track NAME``, ``track: [NAME]`` in the
config, ``AUTOGLM_TRACK=NAME,...``), their plan-time checks, and :class:`RunListeners`, which
connects the tracking hub and the progress display to the stage hooks and the training loop for
the duration of a run.

The pieces: the ``Tracker`` contract is :mod:`autoglm_core.plugin.tracker`; the hub that calls the
trackers, each in its own thread, is :mod:`autoglm_core.engine.tracking_hub`; the training loop's
feed is :mod:`autoglm_core.training.listeners`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autoglm_core.engine.progress import StageProgress
from autoglm_core.engine.tracking_hub import TrackingHub
from autoglm_core.training.listeners import add_listener, remove_listener

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.types.schemas import ComponentRef, PipelineConfig, RunReport

TRACK_ENV = "AUTOGLM_TRACK"


def tracker_refs(config: PipelineConfig, env: Mapping[str, str] | None = None) -> list[ComponentRef]:
    """The trackers a run uses: the config's ``track`` (which ``--track`` extends) plus
    ``AUTOGLM_TRACK``; one entry per name, the config's options winning."""
    from autoglm_core.types.schemas import ComponentRef

    env = os.environ if env is None else env
    refs: dict[str, ComponentRef] = {}
    for ref in config.track:
        refs.setdefault(ref.name, ref)
    for name in (x.strip() for x in env.get(TRACK_ENV, "").replace(";", ",").split(",")):
        if name and name not in refs:
            refs[name] = ComponentRef(name=name)
    return list(refs.values())


def check_trackers(config: PipelineConfig, manager: Any) -> None:
    """Plan time: an unknown tracker name (did you mean ...) or a bad option fails before any work."""
    registry = manager.registry("tracker")
    for ref in tracker_refs(config):
        source = "AUTOGLM_TRACK" if ref not in config.track else "config track"
        registry.get(ref.name)(ref.options, where=f"{source} {ref.name!r} options")


class RunListeners:
    """What listens to one run: the tracking hub (when trackers are enabled) and the progress
    display. Registered on the plugin manager and the training-loop feed for the run only."""

    def __init__(self, pipeline: Any, progress: bool):
        self.manager = pipeline.task.manager
        self.hub = TrackingHub.for_pipeline(pipeline, tracker_refs(pipeline.config))
        self.progress = StageProgress.for_run(progress)
        self.listeners = [x for x in (self.hub, self.progress) if x is not None]
        self._names: list[str] = []

    @property
    def warnings(self) -> list[str]:
        return self.hub.warnings if self.hub is not None else []

    def __enter__(self) -> RunListeners:
        for i, listener in enumerate(self.listeners):
            name = f"autoglm-run-listener-{id(self)}-{i}"
            self.manager.register(listener, name=name)
            self._names.append(name)
            add_listener(listener)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None and self.hub is not None:
                self.hub.fail()
        finally:
            for name, listener in zip(self._names, self.listeners, strict=False):
                remove_listener(listener)
                try:
                    self.manager.unregister(name=name)
                except ValueError:  # already gone (a test reset the manager)
                    pass

    def finish(self, report: RunReport) -> None:
        if self.hub is not None:
            self.hub.finish(report)

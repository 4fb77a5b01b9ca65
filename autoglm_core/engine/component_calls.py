"""Calls into components (task types, compressors, defenses, attacks, evaluators) fail the way hook
calls do (:mod:`autoglm_core.plugin.hook_guard`): an unexpected exception in a third-party
component becomes a :class:`ComponentError` naming the plugin, the component and the member that
raised, instead of an ``internal error`` with a bare ``AttributeError``. Errors of the project's
own family (``AutoGLMError``) pass through unchanged, and so do the built-in plugins' (a failure
there is a bug of the core, to report with its traceback).

Whether the run stops is the caller's choice: a required stage lets the error through; an
optional one (compress, defend, attack, the latency measurement, extra evaluators) records it as a
skip with the message as its note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from autoglm_core.types.errors import AutoGLMError, PluginHookError

T = TypeVar("T")


class ComponentError(PluginHookError):
    """A plugin's component raised (the plugin, the component and its member are named)."""

    def __init__(self, plugin: str, component: str, member: str, error: BaseException):
        super().__init__(plugin, f"{component}.{member}", error)
        self.component, self.member = component, member
        self.args = (f"plugin {plugin!r} failed in {component} ({member}): {type(error).__name__}: {error}. Fix "
                     f"or uninstall the plugin, or block it with AUTOGLM_DISABLE_PLUGINS={plugin} (--debug or "
                     f"AUTOGLM_DEBUG=1 shows the traceback).",)

    def __str__(self) -> str:
        return str(self.args[0])


def plugin_of(manager: Any, kind: str, name: str) -> str:
    """The plugin that registered ``name`` in the registry ``kind`` (``"<unknown>"`` when none did)."""
    try:
        return str(manager.registry(kind).entry(name).plugin)
    except (AutoGLMError, KeyError, AttributeError):
        return "<unknown>"


def is_builtin(manager: Any, plugin: str) -> bool:
    record = getattr(manager, "records", {}).get(plugin)
    return bool(record is not None and record.builtin)


def call_component(manager: Any, kind: str, name: str, member: str, fn: Callable[..., T], *args: Any,
                   **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, where ``fn`` is member ``member`` of the ``kind`` named ``name``."""
    try:
        return fn(*args, **kwargs)
    except AutoGLMError:
        raise
    except Exception as exc:
        plugin = plugin_of(manager, kind, name)
        if is_builtin(manager, plugin):
            raise
        raise ComponentError(plugin, f"{kind} {name!r}", member, exc) from exc


def call_task_type(ctx: Any, member: str, *args: Any, **kwargs: Any) -> Any:
    """Member ``member`` of the run's task type, isolated like any component call."""
    return call_component(ctx.manager, "task type", ctx.spec.task_type, member, getattr(ctx.task_type, member),
                          *args, **kwargs)

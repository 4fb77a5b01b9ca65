"""Failures inside plugin hooks are named after the plugin that raised them.

Every hook implementation is wrapped when its plugin is registered:

* notification hooks (:data:`NOTIFICATION_HOOKS`: progress UIs, trackers) are isolated: an
  exception there is logged as a warning naming the plugin and the hook, and the run goes on, since
  a broken dashboard must not cost a training run;
* every other hook (parsers, candidate generators, builders, ``autoglm_add_commands``, the
  ``autoglm_register_*`` hooks) re-raises the failure as :class:`PluginHookError`, a user-facing
  error that names the plugin and the hook (CLI exit code 2, no traceback unless ``--debug``).

Errors of the project's own family (``AutoGLMError``) pass through unchanged: a plugin raising a
``ConfigError`` is reporting a user mistake on purpose, with its own message.

``SystemExit`` (a plugin calling ``sys.exit()``) and any other ``BaseException`` are failures of the
plugin like an ``Exception``: left alone they would end the host with the plugin's exit code and no
word of which plugin did it. Only ``KeyboardInterrupt`` passes through: it is the user's, not the
plugin's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from autoglm_core.types.errors import AutoGLMError, PluginHookError

log = logging.getLogger("autoglm_core.plugin.manager")

#: hooks whose result nobody uses: a failure there must never stop a run
NOTIFICATION_HOOKS = frozenset({"autoglm_stage_started", "autoglm_stage_finished"})

_GUARDED = "__autoglm_guarded__"


def guard_hookimpl(function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
    """``function`` wrapped so that its failures name ``plugin`` (idempotent)."""
    if getattr(function, _GUARDED, False):
        return function
    notify = hook in NOTIFICATION_HOOKS

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except AutoGLMError:
            if notify:
                log.warning("plugin %r raised in %s; ignored, the run goes on", plugin, hook, exc_info=True)
                return None
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit and the like too: see the module docstring
            if notify:
                log.warning("plugin %r raised in %s: %s: %s; ignored, the run goes on", plugin, hook,
                            type(exc).__name__, exc)
                log.debug("traceback of the failure in plugin %r", plugin, exc_info=True)
                return None
            raise PluginHookError(plugin, hook, exc) from exc

    setattr(guarded, _GUARDED, True)
    return guarded


def guard_plugin(hookcallers: list[Any], plugin: object, *, builtin: bool = False) -> None:
    """Wrap every implementation that ``plugin`` contributes to ``hookcallers`` (pluggy HookCallers).
    Old- and new-style hook wrappers are left alone: they are generators, and wrapping them would
    turn their exceptions inside the generator protocol into confusing errors. A built-in plugin
    only gets the notification isolation: an unexpected error in the core is a bug to report with
    its traceback, not a plugin to block."""
    for caller in hookcallers:
        if builtin and caller.name not in NOTIFICATION_HOOKS:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or impl.hookwrapper or impl.wrapper:
                continue
            impl.function = guard_hookimpl(impl.function, impl.plugin_name, caller.name)

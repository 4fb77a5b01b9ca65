"""Error types.

Every error a user can cause derives from :class:`AutoGLMError`; the CLI prints its message as one
paragraph and exits with status 2, never with a traceback. Messages say what is wrong, where (file,
line, field or plugin) and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AutoGLMError(Exception):
    """Base class for errors caused by user input or configuration (CLI exit code 2)."""

    exit_code = 2


class ConfigError(AutoGLMError):
    """A configuration, hint or option is invalid."""


class DescriptionError(AutoGLMError):
    """The task description cannot be parsed (empty, binary, too long, ...)."""


class DataError(AutoGLMError):
    """A data file cannot be used."""


class UnknownNameError(AutoGLMError, KeyError):
    """A component name (compressor, evaluator, backbone, ...) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RegistryCollisionError(AutoGLMError):
    """Two plugins registered the same component name."""


class RegistryTypeError(AutoGLMError):
    """A plugin registered something that is not the registry's base class (or an instance of it)."""


class PluginLoadError(AutoGLMError):
    """A plugin failed to import or to register (fatal only with --strict-plugins)."""

    def __init__(self, plugin: str, error: BaseException | str, distribution: str | None = None):
        self.plugin = plugin
        self.distribution = distribution
        self.error = error
        where = f" (distribution {distribution})" if distribution else ""
        what = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        super().__init__(
            f"plugin {plugin!r}{where} failed to load: {what}. Fix or uninstall the plugin, or block it with "
            f"AUTOGLM_DISABLE_PLUGINS={plugin}."
        )


class PluginHookError(AutoGLMError):
    """A plugin's hook implementation raised (the plugin and the hook are named)."""

    def __init__(self, plugin: str, hook: str, error: BaseException):
        self.plugin = plugin
        self.hook = hook
        self.error = error
        super().__init__(
            f"plugin {plugin!r} failed in hook {hook}: {type(error).__name__}: {error}. Fix or uninstall the "
            f"plugin, or block it with AUTOGLM_DISABLE_PLUGINS={plugin} (--debug or AUTOGLM_DEBUG=1 shows "
            f"the traceback)."
        )


class PluginWarning(RuntimeWarning):
    """A plugin problem that does not stop the command (failed plugin, misspelt allow/block entry)."""


class NotApplicableError(AutoGLMError):
    """A component does not apply to this model or task type (an optional stage becomes "skipped")."""


class ModelLoadError(AutoGLMError):
    """A model directory cannot be loaded safely."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest known names, or an empty string."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[k] for k in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)]
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"

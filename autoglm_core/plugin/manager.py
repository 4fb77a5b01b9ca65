"""The plugin manager: built-ins first, then entry points of group ``autoglm``.

Like pytest and simonw/llm:

* ``AUTOGLM_LOAD_PLUGINS=dist-a,dist-b`` allow-lists entry-point plugins (by distribution or
  entry-point name); built-ins always load.
* ``AUTOGLM_DISABLE_PLUGINS=name,...`` blocks plugins (entry-point name, distribution name, or a
  built-in module name such as ``autoglm_core.builtin.parser``).
* A plugin that fails to import or register is recorded with its error (``autoglm plugins`` shows
  it) and the rest keep working; ``strict=True`` / ``--strict-plugins`` /
  ``AUTOGLM_STRICT_PLUGINS=1`` makes it fatal.
* ``get_manager().register(obj, name)`` registers a plugin object or module programmatically.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from autoglm_core.plugin import hookspecs
from autoglm_core.plugin.bases import REGISTRY_BASES
from autoglm_core.plugin.checks import unknown_hooks, unmatched_entries
from autoglm_core.plugin.hook_guard import guard_plugin
from autoglm_core.plugin.registry import Registry
from autoglm_core.types.errors import PluginHookError, PluginLoadError, PluginWarning, RegistryCollisionError
from autoglm_core.types.version import __version__

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "autoglm"
ALLOW_ENV = "AUTOGLM_LOAD_PLUGINS"
BLOCK_ENV = "AUTOGLM_DISABLE_PLUGINS"
STRICT_ENV = "AUTOGLM_STRICT_PLUGINS"

BUILTIN_MODULES = (
    "autoglm_core.builtin.parser",
    "autoglm_core.builtin.data_loaders",
    "autoglm_core.tasks.text_classification.plugin",
    "autoglm_core.tasks.text_classification.zero_shot",
    "autoglm_core.builtin.evaluators",
    "autoglm_core.builtin.formats",
    "autoglm_core.cli.commands.core",
    "autoglm_core.cli.commands.compress",
    "autoglm_core.cli.commands.attack",
    "autoglm_core.cli.commands.generate",
    "autoglm_core.cli.commands.predict",
    "autoglm_core.cli.commands.humaneval",
    "autoglm_core.cli.commands.verify",
    "autoglm_core.cli.commands.search_worker",
    "autoglm_core.training.search_backends",
    "autoglm_core.models.decoding.decoders",
    "autoglm_core.tasks.text_generation.plugin",
    "autoglm_core.tasks.code_generation.plugin",
    "autoglm_core.tasks.image_classification.plugin",
    "autoglm_core.tasks.multimodal_classification.plugin",
    "autoglm_core.cli.commands.data",
    "autoglm_core.cli.commands.plugin",
    "autoglm_core.cli.commands.report",
    "autoglm_core.tasks.token_classification",
    "autoglm_core.cli.commands.models",
)

# Components that optional plugins in plugins/ provide: named in "unknown name" errors.
INSTALL_HINTS: dict[str, dict[str, str]] = {
    "compressor": {
        "int8": "pip install ./plugins/autoglm-plugin-int8",
        "prune-magnitude": "pip install ./plugins/autoglm-plugin-compression",
        "prune-structured": "pip install ./plugins/autoglm-plugin-compression",
        "distill": "pip install ./plugins/autoglm-plugin-compression",
    },
    "attack": {
        "fgsm": "pip install ./plugins/autoglm-plugin-fgsm",
        "deepwordbug": "pip install ./plugins/autoglm-plugin-textattack",
    },
    "defense": {"fgsm-adversarial-training": "pip install ./plugins/autoglm-plugin-fgsm"},
    "evaluator": {"lm-eval": "pip install ./plugins/autoglm-plugin-lmeval"},
    "tracker": {"mlflow": "pip install ./plugins/autoglm-plugin-mlflow",
                "tensorboard": "pip install ./plugins/autoglm-plugin-tensorboard"},
    "search backend": {"ray": "pip install ./plugins/autoglm-plugin-ray"},
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {_normalise(x) for x in raw.split(",") if x.strip()}


@dataclass
class PluginRecord:
    name: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    status: str = "loaded"  # loaded | blocked | not-allowed | failed
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "distribution": self.distribution, "version": self.version,
            "builtin": self.builtin, "status": self.status, "error": self.error, "hooks": self.hooks,
        }


class AutoGLMPluginManager(pluggy.PluginManager):
    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.failures: list[PluginLoadError] = []
        self._registries: dict[str, Registry[Any]] | None = None
        self.strict = False

    # ------------------------------------------------------------------ loading
    def load(self, *, strict: bool | None = None, entry_points: bool = True) -> AutoGLMPluginManager:
        self.strict = bool(strict) if strict is not None else os.environ.get(STRICT_ENV, "") not in ("", "0")
        blocked = _env_list(BLOCK_ENV) or set()
        for modname in BUILTIN_MODULES:
            if _normalise(modname) in blocked:
                self.records[modname] = PluginRecord(modname, "autoglm-core", __version__, True, "blocked")
                continue
            module = importlib.import_module(modname)
            self.register(module, name=modname)
            rec = self.records[modname]
            rec.builtin, rec.distribution, rec.version = True, "autoglm-core", __version__
        allowed = _env_list(ALLOW_ENV)
        if entry_points:
            self._load_entry_points(blocked, allowed)
        self._check_lists(blocked, allowed)
        self.check_pending()  # register() refuses unknown hooks; this catches any that slipped past
        return self

    def _check_lists(self, blocked: set[str], allowed: set[str] | None) -> None:
        """Warn about allow/block entries that name no plugin (a typo would otherwise be silent)."""
        names = [*BUILTIN_MODULES, *self.records]
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            names += [ep.name] + ([dist.metadata["Name"]] if dist is not None else [])
        known = {_normalise(name): name for name in names}
        for var, entries in ((BLOCK_ENV, blocked), (ALLOW_ENV, allowed or set())):
            for message in unmatched_entries(var, entries, known):
                warnings.warn(message, PluginWarning, stacklevel=3)

    def _load_entry_points(self, blocked: set[str], allowed: set[str] | None) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            names = {_normalise(ep.name)} | ({_normalise(dist_name)} if dist_name else set())
            if self.has_plugin(ep.name) or ep.name in self.records:
                continue
            if names & blocked:
                self.records[ep.name] = PluginRecord(ep.name, dist_name, version, status="blocked")
                continue
            if allowed is not None and not (names & allowed):
                self.records[ep.name] = PluginRecord(ep.name, dist_name, version, status="not-allowed")
                continue
            try:
                obj = ep.load()
                self.register(obj, name=ep.name)
            except PluginLoadError as exc:  # refused by register(): keep its reason, add the distribution
                self._fail(ep.name, exc.error, dist_name, version)
                continue
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a broken plugin (even one calling sys.exit()) must not take the others down
                self._fail(ep.name, exc, dist_name, version)
                continue
            rec = self.records[ep.name]
            rec.distribution, rec.version = dist_name, version

    def _fail(self, name: str, exc: BaseException | str, dist: str | None = None, version: str | None = None) -> None:
        err = PluginLoadError(name, exc, dist)
        if self.strict:
            raise err from (exc if isinstance(exc, BaseException) else None)
        self.failures.append(err)
        rec = self.records.get(name) or PluginRecord(name, dist, version)
        rec.status, rec.error = "failed", f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else exc
        self.records[name] = rec
        warnings.warn(str(err), PluginWarning, stacklevel=3)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin object or module (programmatic registration). A hook implementation
        that matches no hookspec (a misspelt name) is a :class:`PluginLoadError` naming the plugin
        and the hook, and the plugin is not registered."""
        plugin_name = super().register(plugin, name=name)
        if plugin_name is not None:
            callers = list(self.get_hookcallers(plugin) or [])
            problems = unknown_hooks(callers, plugin, hookspecs.hook_names())
            if problems:
                super().unregister(plugin=plugin)
                self._registries = None
                raise PluginLoadError(plugin_name, "; ".join(problems))
            guard_plugin(callers, plugin, builtin=plugin_name in BUILTIN_MODULES)
            rec = self.records.get(plugin_name) or PluginRecord(plugin_name, status="loaded")
            rec.status = "loaded"
            rec.hooks = sorted(h.name for h in self.get_hookcallers(plugin) or [])
            self.records[plugin_name] = rec
        self._registries = None  # rebuilt on next use
        return plugin_name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        result = super().unregister(plugin=plugin, name=name)
        if name is None and plugin is not None:
            name = self.get_name(plugin) if self.is_registered(plugin) else None
        for key in [k for k, r in self.records.items() if k == name]:
            del self.records[key]
        self._registries = None
        return result

    # ------------------------------------------------------------------ registries
    def registry(self, kind: str) -> Registry[Any]:
        """The registry of one kind ('compressor', 'attack', ...), built on first use by calling
        every plugin's ``autoglm_register_*`` hook with a ``register`` bound to that plugin."""
        if self._registries is None:
            self._registries = self._build_registries()
        try:
            return self._registries[kind]
        except KeyError:
            raise KeyError(f"no registry kind {kind!r}; kinds: {sorted(self._registries)}") from None

    def _build_registries(self) -> dict[str, Registry[Any]]:
        registries: dict[str, Registry[Any]] = {}
        for hook_name, kind in hookspecs.REGISTRY_HOOKS.items():
            spec = REGISTRY_BASES.get(kind)
            reg: Registry[Any] = Registry(kind, INSTALL_HINTS.get(kind), base=spec.resolve() if spec else None,
                                          instance=bool(spec and spec.instance))
            caller = getattr(self.hook, hook_name)
            for impl in caller.get_hookimpls():  # registration order: built-ins first
                try:
                    impl.function(register=reg.registrar(impl.plugin_name))
                except RegistryCollisionError:
                    raise
                except PluginHookError as exc:
                    self._fail(impl.plugin_name, exc.error)
                except Exception as exc:
                    self._fail(impl.plugin_name, exc)
            registries[kind] = reg
        return registries

    def plugin_list(self) -> list[PluginRecord]:
        for name, rec in self.records.items():
            plugin = self.get_plugin(name)
            if plugin is not None:
                rec.hooks = sorted(h.name for h in self.get_hookcallers(plugin) or [])
        return sorted(self.records.values(), key=lambda r: (not r.builtin, r.name))


_MANAGER: AutoGLMPluginManager | None = None


def get_manager(*, strict: bool | None = None) -> AutoGLMPluginManager:
    """The process-wide plugin manager, loaded on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = AutoGLMPluginManager().load(strict=strict)
    return _MANAGER


def reset_manager() -> None:
    """Forget the loaded manager (tests, or after changing the allow/block variables)."""
    global _MANAGER
    _MANAGER = None

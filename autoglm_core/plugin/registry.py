"""Name -> component registries, in the style of lm-eval's: unknown names get "did you mean",
two plugins registering the same name is an error that names both, and (like lm-eval's
``register_model`` asserting ``issubclass(cls, LM)``) a registry with a base class refuses anything
that does not extend it, naming the plugin and the expected class."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from autoglm_core.types.errors import (
    RegistryCollisionError,
    RegistryTypeError,
    UnknownNameError,
    did_you_mean,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    plugin: str


class Registry(Generic[T]):
    """A registry of one kind of component (``compressor``, ``attack``, ...)."""

    def __init__(self, kind: str, install_hints: dict[str, str] | None = None, *,
                 base: type | None = None, instance: bool = False):
        self.kind = kind
        # what a registered object must be: a subclass of ``base`` (or, with instance=True, an instance)
        self.base = base
        self.instance = instance
        self._entries: dict[str, Entry[T]] = {}
        # name -> "pip install ..." for well-known components provided by optional plugins
        self.install_hints = dict(install_hints or {})

    def register(self, obj: T, *, name: str | None = None, plugin: str = "<programmatic>") -> T:
        self._check_type(obj, plugin)
        key = name or getattr(obj, "name", None)
        if not key or not isinstance(key, str):
            raise RegistryCollisionError(
                f"plugin {plugin!r} registered a {self.kind} without a name: give the class a "
                f"`name = '...'` attribute or pass name=... to register()."
            )
        if key in self._entries:
            other = self._entries[key]
            raise RegistryCollisionError(
                f"{self.kind} {key!r} is registered twice: by plugin {other.plugin!r} and by plugin "
                f"{plugin!r}. Rename one of them, or block one plugin with AUTOGLM_DISABLE_PLUGINS."
            )
        self._entries[key] = Entry(key, obj, plugin)
        return obj

    def _check_type(self, obj: object, plugin: str) -> None:
        if self.base is None:
            return
        expected = f"{self.base.__module__}.{self.base.__qualname__}"
        if self.instance:
            if isinstance(obj, self.base):
                return
            raise RegistryTypeError(
                f"plugin {plugin!r} registered {_describe(obj)} as a {self.kind}: it must be an instance "
                f"of {expected} (call register({self.base.__name__}(...)))."
            )
        if isinstance(obj, type) and issubclass(obj, self.base):
            return
        hint = (" Register the class itself, not an instance of it." if isinstance(obj, self.base) else
                f" Subclass it: `class {_name_of(obj)}({self.base.__name__}): ...`.")
        raise RegistryTypeError(
            f"plugin {plugin!r} registered {_describe(obj)} as a {self.kind}: it must be a subclass of "
            f"{expected}.{hint}"
        )

    def registrar(self, plugin: str) -> Callable[..., Any]:
        """The ``register`` callable handed to a plugin's ``autoglm_register_*`` hook."""

        def register(obj: T, name: str | None = None) -> T:
            return self.register(obj, name=name, plugin=plugin)

        return register

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(self._entries)
            hint = did_you_mean(name, known)
            if not hint and name in self.install_hints:
                hint = f" It is provided by an optional plugin: {self.install_hints[name]}."
            listing = ", ".join(known) if known else "none"
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {listing}. "
                f"`autoglm plugins` lists what each installed plugin provides."
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[k] for k in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _name_of(obj: object) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__name__} object {obj!r:.60}"

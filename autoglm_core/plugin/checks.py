"""Checks that turn silent plugin mistakes into named messages: a misspelt hook implementation
(pluggy would keep it as a "pending" hook that is never called) and a misspelt allow/block list
entry (which would allow or block nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from autoglm_core.types.errors import did_you_mean


def unknown_hooks(hookcallers: Iterable[Any], plugin: object, known: Iterable[str]) -> list[str]:
    """Messages for the hooks ``plugin`` implements that no hookspec declares (optional hooks,
    ``@hookimpl(optionalhook=True)``, are allowed), each with a did-you-mean over ``known``."""
    names = sorted(known)
    out: list[str] = []
    for caller in hookcallers:
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                out.append(f"it implements unknown hook {caller.name!r}.{did_you_mean(caller.name, names)} "
                           f"Hook names are listed in docs/plugins.md; mark a hook that is meant for another "
                           f"version with @hookimpl(optionalhook=True)")
    return out


def unmatched_entries(variable: str, entries: Iterable[str], known: dict[str, str]) -> list[str]:
    """Warnings for the entries of an allow/block variable that match no plugin. ``entries`` and the
    keys of ``known`` are normalised (lower case, ``-`` for ``_`` and ``.``); the values of ``known``
    are the names as the plugins spell them, which is what the suggestions show."""
    spelled = sorted(set(known.values()))
    out: list[str] = []
    for entry in sorted(set(entries) - set(known)):
        out.append(f"{variable}: {entry!r} matches no installed plugin, so it has no effect."
                   f"{did_you_mean(entry, spelled)} `autoglm plugins` lists the names.")
    return out

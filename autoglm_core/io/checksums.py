"""SHA-256 of every file of a saved model, recorded next to it and checked when it is loaded.

``autoglm_files.json`` lists each file of the model directory (relative path -> SHA-256). Loading
recomputes them: a changed, missing or added file is a :class:`ChecksumError` that names it, so
bit-flipped or swapped weights never load silently. ``autoglm verify MODEL_DIR`` runs the same check.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from autoglm_core.types.errors import ModelLoadError

CHECKSUM_FILE = "autoglm_files.json"


class ChecksumError(ModelLoadError):
    """A model file differs from the SHA-256 recorded when the model was saved."""


class UnverifiedModelWarning(UserWarning):
    """A model folder is loaded without recorded checksums: its files cannot be checked."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_files(directory: Path) -> list[Path]:
    # temporary files of an atomic write in flight are not part of the model
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != CHECKSUM_FILE
                  and not (p.name.startswith(".") and p.name.endswith(".tmp")))


def write_checksums(directory: str | Path) -> Path:
    """Record the SHA-256 of every file under ``directory`` (atomically)."""
    from autoglm_core.io import atomic_write_json

    directory = Path(directory)
    files = {p.relative_to(directory).as_posix(): sha256_file(p) for p in _model_files(directory)}
    return atomic_write_json(directory / CHECKSUM_FILE, {"algorithm": "sha256", "files": files})


def read_checksums(directory: Path) -> dict[str, str] | None:
    path = directory / CHECKSUM_FILE
    if not path.exists():
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ChecksumError(f"{path}: unreadable checksum file ({exc}).") from None
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("algorithm") != "sha256" or not isinstance(files, dict) or \
            not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ChecksumError(f"{path}: expected {{\"algorithm\": \"sha256\", \"files\": {{path: hex}}}}.")
    return files


def verify_checksums(directory: str | Path, *, required: bool = False) -> int:
    """Check every recorded file; return how many were checked (0: nothing recorded and not
    ``required``). Raises :class:`ChecksumError` naming changed, missing and unrecorded files."""
    directory = Path(directory)
    recorded = read_checksums(directory)
    if recorded is None:
        if required:
            raise ChecksumError(f"{directory} has no {CHECKSUM_FILE}: no checksums were recorded for this model "
                                f"(saved by another tool or an older autoglm); nothing to verify against.")
        return 0
    root = directory.resolve()
    problems: list[str] = []
    for rel, digest in sorted(recorded.items()):
        path = directory / rel
        if not path.resolve().is_relative_to(root):
            problems.append(f"{rel}: outside the model folder")
        elif not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: SHA-256 differs from the one recorded at save time")
    extra = [p.relative_to(directory).as_posix() for p in _model_files(directory)]
    problems += [f"{rel}: not recorded at save time (added later)" for rel in extra if rel not in recorded]
    if problems:
        raise ChecksumError(
            f"{directory} does not match the checksums recorded when it was saved ({CHECKSUM_FILE}): "
            + "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            + ". The files were changed or corrupted after export; re-export the model or restore the files."
        )
    return len(recorded)


def check_integrity(directory: str | Path, *, verify: bool = False) -> int:
    """What loading runs: the recorded checksums must match; a folder without them loads with an
    :class:`UnverifiedModelWarning` (a :class:`ChecksumError` when ``verify``), because a deleted
    checksum file would otherwise let changed weights load without a word."""
    directory = Path(directory)
    checked = verify_checksums(directory, required=verify)
    if checked == 0:
        why = ("autoglm records them for every model it saves, so the file was deleted"
               if (directory / "autoglm_model.json").is_file() else "it was not saved by autoglm")
        warnings.warn(f"{directory} has no {CHECKSUM_FILE} ({why}): its files cannot be checked against the "
                      f"checksums recorded at save time and are loaded unverified. Re-export the model, or "
                      f"refuse such folders with --verify (Python: verify=True).", UnverifiedModelWarning,
                      stacklevel=3)
    return checked

"""One run per run folder: an advisory ``fcntl`` lock on ``RUN_DIR/.lock``, held for the whole run.

A second run on the same ``--out`` (with or without ``--overwrite`` / ``--resume``) fails at once
with :class:`RunDirInUseError` naming the holder's pid, before anything in the folder is touched,
so ``--overwrite`` never deletes a folder another process is writing and two ``--resume`` runs
never mix stage files. The kernel drops the lock when its process dies, so a ``.lock`` left by a
killed run is simply taken over (its pid is rewritten).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from autoglm_core.types.errors import ConfigError

LOCK_FILE = ".lock"


class RunDirInUseError(ConfigError):
    """Another process holds the run folder's lock."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "a process that has not written its pid yet"


@contextlib.contextmanager
def hold_run_dir(run_dir: str | Path) -> Iterator[Path]:
    """Lock ``run_dir`` for the duration of the ``with`` block (creating the folder if needed; a
    folder created only for the lock is removed again when the run leaves nothing else in it)."""
    import fcntl

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"output path {str(run_dir)!r} is a file; give a folder for the run (--out).")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirInUseError(
                f"{run_dir} is in use by another run ({_holder(fd)}); nothing was changed. Wait for it to "
                f"finish, or choose another --out folder."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield run_dir
        finally:
            if created and [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:
                # nothing but the lock (e.g. the data failed to load): leave no folder behind
                path.unlink()
                run_dir.rmdir()
    finally:
        os.close(fd)  # releases the lock


def clear_run_dir(run_dir: Path) -> None:
    """Delete an earlier run's files for ``--overwrite``, keeping the lock file this run holds."""
    import shutil

    for entry in run_dir.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()

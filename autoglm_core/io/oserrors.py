"""One-paragraph messages for operating-system errors on paths the user gave (unreadable or missing
files, folders given as files, unwritable output folders, full disks). The CLI prints them with
exit code 2 instead of a traceback, because the fix is on the user's side: a path or a permission."""

from __future__ import annotations

import errno

_HINTS = {
    errno.EACCES: "check the file's permissions (or run as a user who may access it)",
    errno.EPERM: "check the file's permissions (or run as a user who may access it)",
    errno.ENOENT: "check the path (relative paths are taken from the current folder)",
    errno.EISDIR: "it is a folder: give a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.ENOSPC: "the disk is full: free space or choose another --out folder",
    errno.EROFS: "the file system is read-only: choose another --out folder",
    errno.EEXIST: "remove it or choose another path",
    errno.ENAMETOOLONG: "choose a shorter path",
}


def describe_os_error(exc: OSError, action: str = "use") -> str:
    """``cannot read 'x.csv': Permission denied; check the file's permissions ...``"""
    name = exc.filename if exc.filename is not None else None
    where = f" {str(name)!r}" if name is not None else ""
    if exc.filename2 is not None:
        where += f" -> {str(exc.filename2)!r}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = _HINTS.get(exc.errno or 0)
    return f"cannot {action}{where}: {reason}" + (f"; {hint}." if hint else ".")


def describe_decode_error(exc: UnicodeDecodeError, path: object, raw: bytes | None = None) -> str:
    """Name the file, line and byte offset of the first byte that is not valid in the encoding."""
    line = raw[: exc.start].count(b"\n") + 1 if raw is not None else None
    at = f"line {line}, " if line is not None else ""
    return (f"{path}: {at}byte {exc.start}: not valid {exc.encoding} ({exc.reason}). "
            f"Save the file as UTF-8 (or give its encoding).")

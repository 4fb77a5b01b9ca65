"""Reading text files robustly: binary detection, UTF-8 with ISO-8859-1 fallback, clear errors."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError


def check_file(path: Path) -> None:
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as e:  # a path through a file, a name too long, a folder without search permission
        from ..oserrors import describe_os_error

        raise DataError(f"data file: {describe_os_error(e, 'read')}") from None
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist. Check the path (relative paths are taken from {Path.cwd()}).")
    if path.is_dir():
        raise DataError(
            f"{str(path)!r} is a folder, not a data file. Give a .csv, .tsv, .jsonl or "
            f"Financial PhraseBank .txt file (or --train/--validation/--test files)."
        )
    if path.stat().st_size == 0:
        raise DataError(f"data file {str(path)!r} is empty: it needs a header and at least one labelled row.")


def read_text(path: Path) -> tuple[str, str]:
    """Return (text, encoding). UTF-8 first (BOM tolerated), then ISO-8859-1 (the Financial
    PhraseBank 50/66/75Agree files use it). Binary files are refused."""
    check_file(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        from ..oserrors import describe_os_error

        raise DataError(f"data file: {describe_os_error(e, 'read')}") from None
    if b"\x00" in raw[:65536]:
        raise DataError(
            f"data file {str(path)!r} looks binary (it contains NUL bytes): give a UTF-8 or ISO-8859-1 text file."
        )
    try:
        text = raw.decode("utf-8-sig")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
        encoding = "iso-8859-1"
    if not text.strip():
        raise DataError(f"data file {str(path)!r} contains only whitespace: it needs labelled rows.")
    return text, encoding

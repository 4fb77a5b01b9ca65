"""Reading text files robustly: binary detection, UTF-8 with ISO-8859-1 fallback, clear errors.

Files are checked line by line, so an error names the lines to fix: NUL bytes anywhere, lines that
are not valid in the chosen encoding, and files that mix UTF-8 and ISO-8859-1 lines (decoding such a
file as ISO-8859-1 would silently turn its UTF-8 lines, Chinese text for example, into mojibake).
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

from autoglm_core.types.errors import DataError

# The encoding the user gave for the files being loaded (DataRef.encoding / --encoding); a context
# variable so that every loader's read_text() call sees it, third-party loaders included.
_ENCODING: contextvars.ContextVar[str | None] = contextvars.ContextVar("autoglm_data_encoding", default=None)
SHOWN_LINES = 10


@contextlib.contextmanager
def using_encoding(encoding: str | None) -> Iterator[None]:
    """Within the block, :func:`read_text` decodes with ``encoding`` (None: detect)."""
    token = _ENCODING.set(normalise_encoding(encoding) if encoding else None)
    try:
        yield
    finally:
        _ENCODING.reset(token)


def normalise_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}: give a Python codec name such as utf-8, iso-8859-1, "
                        f"gb18030 or cp1252.") from None


def check_file(path: Path) -> None:
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as e:  # a path through a file, a name too long, a folder without search permission
        from autoglm_core.io.oserrors import describe_os_error

        raise DataError(f"data file: {describe_os_error(e, 'read')}") from None
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist. Check the path (relative paths are taken from {Path.cwd()}).")
    if path.is_dir():
        raise DataError(
            f"{str(path)!r} is a folder, not a data file. Give a .csv, .tsv, .jsonl or "
            f"Financial PhraseBank .txt file (or --train/--validation/--test files)."
        )
    kind = _not_a_regular_file(path)
    if kind:
        raise DataError(f"data file {str(path)!r} is not a regular file but {kind}. Give a .csv, .tsv, .jsonl or "
                        f"Financial PhraseBank .txt file.")
    if path.stat().st_size == 0:
        raise DataError(f"data file {str(path)!r} is empty: it needs a header and at least one labelled row.")


def _not_a_regular_file(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file: reading a device or a pipe never ends, or
    blocks until a writer comes, and its size of 0 would otherwise read as "empty"."""
    import stat

    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISCHR(mode):
        return "a character device (an endless stream such as /dev/zero or /dev/urandom)"
    if stat.S_ISBLK(mode):
        return "a block device (a whole disk or partition)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO): it blocks until another program writes to it"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file that can be read as data"


def line_list(lines: list[int]) -> str:
    """'3, 7, 9' or '3, 7, ... (12 lines)'."""
    shown = ", ".join(map(str, lines[:SHOWN_LINES]))
    return shown if len(lines) <= SHOWN_LINES else f"{shown}, ... ({len(lines)} lines)"


def _nul_lines(chunks: list[bytes] | list[str], nul: bytes | str) -> list[int]:
    return [n for n, chunk in enumerate(chunks, start=1) if nul in chunk]  # type: ignore[operator]


def read_text(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, encoding). With no encoding given (argument or :func:`using_encoding`): UTF-8
    (BOM tolerated), else ISO-8859-1 when no line is valid non-ASCII UTF-8 (the Financial PhraseBank
    50/66/75Agree files use it). Files with NUL bytes, lines invalid in a given encoding and files
    that mix UTF-8 and ISO-8859-1 lines are refused with the line numbers."""
    check_file(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        from autoglm_core.io.oserrors import describe_os_error

        raise DataError(f"data file: {describe_os_error(e, 'read')}") from None
    chosen = normalise_encoding(encoding) if encoding else _ENCODING.get()
    if chosen is not None:
        text = _decode_as(path, raw, chosen)
    else:
        text, chosen = _detect(path, raw)
    if not text.strip():
        raise DataError(f"data file {str(path)!r} contains only whitespace: it needs labelled rows.")
    return text, chosen


def _refuse_nul(path: Path, lines: list[int]) -> None:
    raise DataError(
        f"data file {str(path)!r} looks binary or corrupt: NUL bytes on line(s) {line_list(lines)}. "
        f"Give a UTF-8 or ISO-8859-1 text file (or remove the NUL bytes)."
    )


def _detect(path: Path, raw: bytes) -> tuple[str, str]:
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    if b"\x00" in raw:
        _refuse_nul(path, _nul_lines(raw.split(b"\n"), b"\x00"))
    try:
        return raw.decode("utf-8"), "utf-8"  # the common case, in one C call
    except UnicodeDecodeError:
        pass
    bad: list[int] = []
    utf8: list[int] = []
    for n, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(n)
            continue
        if not line.isascii():
            utf8.append(n)
    if utf8:
        raise DataError(
            f"data file {str(path)!r} mixes encodings: line(s) {line_list(bad)} are not valid UTF-8 (ISO-8859-1 "
            f"or another 8-bit encoding?) while line(s) {line_list(utf8)} are UTF-8 with non-ASCII text. Decoding "
            f"it all as ISO-8859-1 would garble the UTF-8 lines. Fix those lines, or give the encoding (CLI: "
            f"--encoding iso-8859-1; Python: dataset={{'path': ..., 'encoding': ...}})."
        )
    return raw.decode("iso-8859-1"), "iso-8859-1"


def _decode_as(path: Path, raw: bytes, encoding: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        bad = _invalid_lines(raw, encoding)
        where = f"line(s) {line_list(bad)}" if bad else f"byte {e.start}"
        raise DataError(f"data file {str(path)!r}: {where} not valid {encoding} ({e.reason}). Fix those lines or "
                        f"give the file's real encoding (--encoding).") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        _refuse_nul(path, _nul_lines(text.split("\n"), "\x00"))
    return text


def _invalid_lines(raw: bytes, encoding: str) -> list[int]:
    """Line numbers that do not decode, for encodings where b'\\n' is a line end (all 8-bit and
    multi-byte ASCII-compatible ones); [] for the others (UTF-16/32)."""
    if "\n".encode(encoding, errors="ignore") != b"\n":
        return []
    bad = []
    for n, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad.append(n)
    return bad

"""Input records for the monitor: JSONL / CSV / TSV / TXT files, a folder that grows, or stdin.

Files are read from a saved byte offset, and only complete lines are taken while a file may still
grow (a writer's half-written last line waits for the next poll). Every physical record becomes a
:class:`Record`: either ``data`` (its fields) or ``error`` (why it is unusable), so the caller can
count and report every line; none is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from autoglm_core import ConfigError, DataError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".txt": "txt"}
STDIN = "<stdin>"
READ_CHUNK = 1 << 20


@dataclass
class Record:
    source: str                       # file name (relative to the input folder) or <stdin>
    line: int                         # 1-based line where the record starts
    end: int                          # byte offset just after the record: where a resume continues
    last_line: int = 0                # line where the record ends (a quoted CSV field may span lines)
    data: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class Cursor:
    """Where reading of one file stopped (saved in the monitor's state file)."""

    offset: int = 0
    line: int = 0
    header: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "line": self.line, "header": self.header}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cursor:
        return cls(int(d.get("offset", 0)), int(d.get("line", 0)), d.get("header"))


def format_of(path: Path, fmt: str | None) -> str | None:
    if fmt:
        return fmt
    return FORMATS.get(path.suffix.lower())


def _is_candidate(path: Path) -> bool:
    # Hidden files and *.tmp / *.part are files still being written by an atomic-rename writer.
    name = path.name
    return (path.is_file() and not name.startswith((".", "~")) and not name.endswith((".tmp", ".part", ".partial"))
            and path.suffix.lower() in FORMATS)


@dataclass
class InputSpec:
    """The ``--input`` argument: a file, a folder or ``-``."""

    path: str
    fmt: str | None = None
    ignored: set[str] = field(default_factory=set)

    @property
    def is_stdin(self) -> bool:
        return self.path == "-"

    def check(self) -> None:
        if self.is_stdin:
            return
        p = Path(self.path)
        if not p.exists():
            raise DataError(f"monitor input {self.path!r} does not exist (give a .jsonl/.csv/.tsv/.txt file, a "
                            f"folder of them, or '-' for standard input).")
        if p.is_file() and format_of(p, self.fmt) is None:
            raise DataError(f"{self.path}: cannot tell the format from the suffix {p.suffix!r}; known: "
                            f"{', '.join(sorted(FORMATS))}. Pass --format jsonl|csv|tsv|txt.")
        if self.fmt and self.fmt not in set(FORMATS.values()):
            raise ConfigError(f"--format {self.fmt!r} is not known; use one of jsonl, csv, tsv, txt.")

    def files(self) -> list[tuple[str, Path]]:
        """(name, path) of the files to read now, in name order; a folder is listed again at
        every poll so that new files are picked up."""
        p = Path(self.path)
        if p.is_file():
            return [(p.name, p)]
        out = []
        for child in sorted(p.iterdir()):
            if _is_candidate(child):
                out.append((child.name, child))
        return out


# --------------------------------------------------------------------------- parsing


def parse_line(text: str, fmt: str, header: list[str] | None) -> tuple[dict[str, Any] | None, str | None]:
    """One record's text -> (fields, None) or (None, reason)."""
    if fmt == "jsonl":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            return None, f"not JSON: {e.msg} at column {e.colno}"
        if not isinstance(obj, dict):
            return None, f"not a JSON object (got {type(obj).__name__})"
        return obj, None
    if fmt == "txt":
        return {"text": text}, None
    delim = "\t" if fmt == "tsv" else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delim, strict=True))
    except csv.Error as e:
        return None, f"malformed {fmt.upper()} row: {e}"
    if len(rows) != 1:
        return None, f"malformed {fmt.upper()} row"
    row = rows[0]
    assert header is not None
    if len(row) != len(header):
        return None, f"{fmt.upper()} row has {len(row)} field(s), the header has {len(header)}"
    return dict(zip(header, row, strict=True)), None


def _complete(text: str, fmt: str) -> bool:
    # A CSV record spans several lines while a quoted field is open: quotes then come in odd number.
    return fmt not in ("csv", "tsv") or text.count('"') % 2 == 0


def read_file(name: str, path: Path, fmt: str, cursor: Cursor, final: bool, warnings: list[str]) -> Iterator[Record]:
    """Records of ``path`` after ``cursor`` (the cursor itself is advanced by the caller on commit)."""
    size = path.stat().st_size
    offset, line = cursor.offset, cursor.line
    header = cursor.header
    if size < offset:
        warnings.append(f"{name}: the file shrank ({size} < {offset} bytes read): it was replaced or truncated, "
                        f"so it is read again from the start.")
        offset, line, header = 0, 0, None
    if size == offset:
        return
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(size - offset)
    pending: list[bytes] = []
    start_line = line + 1
    pos = offset
    pieces = data.split(b"\n")
    last_complete = data.endswith(b"\n")
    for i, raw in enumerate(pieces):
        is_last = i == len(pieces) - 1
        if is_last:
            if raw == b"" or (not final and not last_complete):
                break  # nothing, or a line still being written: wait for it
        consumed = len(raw) + (0 if is_last else 1)
        pos += consumed
        line += 1
        if not pending:
            start_line = line
        pending.append(raw.rstrip(b"\r"))
        try:
            text = b"\n".join(pending).decode("utf-8")
        except UnicodeDecodeError as e:
            pending = []
            yield Record(name, start_line, pos, last_line=line, error=f"not UTF-8 text ({e.reason} at byte {e.start})")
            continue
        if not _complete(text, fmt):
            if is_last and final:
                pending = []
                yield Record(name, start_line, pos, last_line=line, error="unterminated quoted field at the end of the file")
            continue
        pending = []
        if fmt in ("csv", "tsv") and header is None:
            header = next(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter="\t" if fmt == "tsv" else ","), [])
            header = [h.strip() for h in header]
            yield Record(name, start_line, pos, last_line=line, data={"__header__": header})
            continue
        if not text.strip():
            yield Record(name, start_line, pos, last_line=line, data={"__blank__": True})
            continue
        fields, error = parse_line(text.lstrip("\ufeff") if start_line == 1 else text, fmt, header)
        yield Record(name, start_line, pos, last_line=line, data=fields, error=error)


def read_stream(stream: TextIO | None, fmt: str, state: dict[str, Any]) -> Iterator[Record]:
    """Records from standard input (no byte offsets: a stream cannot be resumed)."""
    stream = stream or sys.stdin
    header = state.get("header")
    line = state.get("line", 0)
    pending: list[str] = []
    start = line + 1
    for raw in stream:
        line += 1
        if not pending:
            start = line
        pending.append(raw.rstrip("\r\n"))
        text = "\n".join(pending)
        if not _complete(text, fmt):
            continue
        pending = []
        state["line"] = line
        if fmt in ("csv", "tsv") and header is None:
            header = [h.strip() for h in next(csv.reader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ","), [])]
            state["header"] = header
            yield Record(STDIN, start, 0, last_line=line, data={"__header__": header})
            continue
        if not text.strip():
            yield Record(STDIN, start, 0, last_line=line, data={"__blank__": True})
            continue
        fields, error = parse_line(text, fmt, header)
        yield Record(STDIN, start, 0, last_line=line, data=fields, error=error)
    if pending:
        yield Record(STDIN, start, 0, last_line=line, error="unterminated quoted field at the end of the input")

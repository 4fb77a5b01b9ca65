"""Tables read from CSV, TSV and JSON-lines files: the header, the rows with their line numbers,
the unusable rows, and the text and label columns picked by name. The built-in data loaders and
task types with their own table formats (multimodal) read through these."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core.data.reading import read_text
from autoglm_core.types.data import Example, LoadedRows
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import RowIssue

TEXT_COLUMNS = (
    "text", "sentence", "review", "content", "title", "headline", "news", "document", "input",
    "comment", "tweet", "body", "文本", "评论", "内容", "句子", "新闻", "标题",
)
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "category", "target", "y", "标签", "类别", "情感", "情绪")


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, path: Path,
          flag: str) -> str:
    """The ``role`` column of a table: ``wanted`` (a name, or a 0-based index), else the first of
    ``candidates`` in the header (any case); an error names the columns and the ``flag`` to pass."""
    if wanted is not None:
        if wanted not in columns and wanted.strip().isdigit() and int(wanted) < len(columns):
            return columns[int(wanted)]  # a column chosen by its 0-based index
        if wanted not in columns:
            raise DataError(
                f"{path}: the {role} column {wanted!r} is not in the header; columns are {columns}. "
                f"Pass the right name with {flag}."
            )
        return wanted
    lowered = {c.lower().strip(): c for c in columns}
    for cand in candidates:
        if cand in lowered:
            return lowered[cand]
    if looks_like_data(columns):
        raise DataError(
            f"{path}: line 1 looks like data, not a header ({columns[:3]}): the file seems to have no header row. "
            f"Pass --no-header and choose the columns by 0-based index, e.g. --no-header --text-column 0 "
            f"--label-column 1."
        )
    raise DataError(
        f"{path}: no {role} column found; columns are {columns}. Name one {role} column "
        f"(tried {', '.join(candidates[:8])}, ...) or pass it with {flag}."
    )


def looks_like_data(columns: list[str]) -> bool:
    """A first row of sentences or numbers rather than column names."""
    cells = [c.strip() for c in columns if c.strip()]
    return bool(cells) and any(len(c.split()) >= 4 or len(c) > 40 or c.lstrip("-").replace(".", "", 1).isdigit()
                               for c in cells)


def rows_to_examples(
    records: list[tuple[int, dict[str, Any]]], path: Path, text_column: str, label_column: str | None,
    rows_read: int, issues: list[RowIssue],
) -> LoadedRows:
    examples: list[Example] = []
    for line, rec in records:
        text = rec.get(text_column)
        text = "" if text is None else str(text).strip()
        if not text:
            issues.append(RowIssue(file=str(path), line=line, reason=f"empty {text_column!r}"))
            continue
        label: str | None = None
        if label_column is not None:
            raw = rec.get(label_column)
            label = "" if raw is None else str(raw).strip()
            if not label:
                issues.append(RowIssue(file=str(path), line=line, reason=f"missing {label_column!r}"))
                continue
        examples.append(Example(text=text, label=label, file=str(path), line=line))
    return LoadedRows(examples, issues, rows_read, text_column, label_column)


@dataclass
class TableRows:
    """A table as read from a file: header, (line, row) records, unusable rows, rows read."""

    header: list[str]
    records: list[tuple[int, dict[str, Any]]]
    issues: list[RowIssue]
    rows_read: int
    encoding: str


def read_delimited(path: Path, delimiter: str, no_header: bool = False) -> TableRows:
    """CSV/TSV with a header row (``no_header``: columns are named "0", "1", ... and line 1 is
    data); rows with the wrong field count become issues with their line."""
    text, encoding = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    if no_header:
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        header = [str(i) for i in range(len(first))]
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = header if no_header else [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: no header row.") from None
    except csv.Error as e:
        raise DataError(f"{path}: line 1: unreadable header: {e}.") from None
    _refuse_duplicate_columns(path, header)
    records: list[tuple[int, dict[str, Any]]] = []
    issues: list[RowIssue] = []
    rows_read = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            rows_read += 1  # a row, if an unreadable one: counted so that read = used + skipped
            issues.append(RowIssue(file=str(path), line=start, reason=f"unreadable row: {e}"))
            continue
        if not row or all(not c.strip() for c in row):
            continue  # blank lines are not rows
        rows_read += 1
        if len(row) != len(header):
            issues.append(RowIssue(file=str(path), line=start,
                                   reason=f"{len(row)} fields where the header has {len(header)}"))
            continue
        records.append((start, dict(zip(header, row, strict=True))))
    return TableRows(header, records, issues, rows_read, encoding)


def _refuse_duplicate_columns(path: Path, header: list[str]) -> None:
    # a row becomes a dict by column name: of two columns with one name, the last would win silently
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise DataError(f"{path}: line 1: the header names {', '.join(map(repr, twice))} more than once "
                        f"(columns {header}); rename the columns so that each name is used once.")


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: json.loads would keep the last of two equal keys without a word."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(f"duplicate key {key!r} in one object (which value is meant is ambiguous)")
        obj[key] = value
    return obj


def read_json_rows(path: Path) -> TableRows:
    """JSON Lines (or one JSON array) of objects; the header is the union of their keys."""
    text, encoding = read_text(path)
    issues: list[RowIssue] = []
    if text.lstrip().startswith("["):  # a JSON array of objects
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {e.lineno}: invalid JSON: {e.msg}.") from None
        except _DuplicateKeyError as e:
            raise DataError(f"{path}: {e}; use each key once per object.") from None
        except (RecursionError, ValueError) as e:  # nesting too deep, an integer over 4300 digits
            raise DataError(f"{path}: invalid JSON: {'nested too deeply' if isinstance(e, RecursionError) else e}.") from None
        items = [(i + 1, x) for i, x in enumerate(data)]
    else:
        items = []
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                items.append((n, json.loads(raw, object_pairs_hook=_unique_keys)))
            except json.JSONDecodeError as e:
                issues.append(RowIssue(file=str(path), line=n, reason=f"not valid JSON: {e.msg}"))
            except _DuplicateKeyError as e:
                raise DataError(f"{path}: line {n}: {e}; use each key once per object.") from None
            except RecursionError:
                issues.append(RowIssue(file=str(path), line=n, reason="not valid JSON: nested too deeply"))
            except ValueError as e:  # an integer over Python's 4300-digit limit
                issues.append(RowIssue(file=str(path), line=n, reason=f"not valid JSON: {e}"))
    rows_read = len(items) + len(issues)
    header: list[str] = []
    records: list[tuple[int, dict[str, Any]]] = []
    for n, obj in items:
        if not isinstance(obj, dict):
            issues.append(RowIssue(file=str(path), line=n, reason="not a JSON object"))
            continue
        header += [k for k in obj if k not in header]
        records.append((n, obj))
    issues.sort(key=lambda i: i.line)
    return TableRows(header, records, issues, rows_read, encoding)


def read_table_rows(path: Path) -> TableRows:
    """Any table file by its suffix: .jsonl/.ndjson/.json, .tsv/.tab, otherwise CSV."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return read_json_rows(path)
    return read_delimited(path, "\t" if suffix in (".tsv", ".tab") else ",")

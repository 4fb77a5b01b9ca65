"""Built-in data loaders: CSV, TSV, JSONL/JSON and the Financial PhraseBank ``sentence@label`` format.

Each returns :class:`~autoglm_core.types.data.LoadedRows`: usable examples plus every unusable row
with its line number and reason, so nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from autoglm_core.data.reading import read_text
from autoglm_core.plugin.components import DataLoader
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.data import Example, LoadedRows
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import RowIssue

TEXT_COLUMNS = (
    "text", "sentence", "review", "content", "title", "headline", "news", "document", "input",
    "comment", "tweet", "body", "文本", "评论", "内容", "句子", "新闻", "标题",
)
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "category", "target", "y", "标签", "类别", "情感", "情绪")


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, path: Path,
          flag: str) -> str:
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


def read_json_rows(path: Path) -> TableRows:
    """JSON Lines (or one JSON array) of objects; the header is the union of their keys."""
    text, encoding = read_text(path)
    issues: list[RowIssue] = []
    if text.lstrip().startswith("["):  # a JSON array of objects
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {e.lineno}: invalid JSON: {e.msg}.") from None
        except (RecursionError, ValueError) as e:  # nesting too deep, an integer over 4300 digits
            raise DataError(f"{path}: invalid JSON: {'nested too deeply' if isinstance(e, RecursionError) else e}.") from None
        items = [(i + 1, x) for i, x in enumerate(data)]
    else:
        items = []
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                items.append((n, json.loads(raw)))
            except json.JSONDecodeError as e:
                issues.append(RowIssue(file=str(path), line=n, reason=f"not valid JSON: {e.msg}"))
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


class DelimitedLoader(DataLoader):
    name = "csv"
    description = "comma-separated values with a header row"
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    delimiter = ","

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = True) -> LoadedRows:
        no_header = getattr(self, "no_header", False)
        table = read_delimited(path, self.delimiter, no_header=no_header)
        header = table.header
        if no_header:  # columns by index: text first, label second unless told otherwise
            text_column = text_column or "0"
            label_column = label_column or ("1" if len(header) > 1 else None)
        if len(header) < 2 and require_label:
            raise DataError(
                f"{path}: the header has {len(header)} column ({header}); a {self.name.upper()} file needs a "
                f"text and a label column. Is the delimiter right (use .tsv for tabs)?"
            )
        tcol = _pick(header, text_column, TEXT_COLUMNS, "text", path, "--text-column")
        lcol = _pick(header, label_column, LABEL_COLUMNS, "label", path, "--label-column") if (require_label or label_column) else None
        loaded = rows_to_examples(table.records, path, tcol, lcol, table.rows_read, table.issues)
        loaded.encoding = table.encoding
        return loaded


class TsvLoader(DelimitedLoader):
    name = "tsv"
    description = "tab-separated values with a header row"
    suffixes: ClassVar[tuple[str, ...]] = (".tsv", ".tab")
    delimiter = "\t"


class JsonlLoader(DataLoader):
    name = "jsonl"
    description = "one JSON object per line (or a JSON array of objects)"
    suffixes: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson", ".json")

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = True) -> LoadedRows:
        table = read_json_rows(path)
        records, issues, keys = table.records, table.issues, table.header
        if not records:
            raise DataError(f"{path}: no JSON object rows found ({len(issues)} unreadable lines; first: "
                            f"{issues[0].reason if issues else 'none'} at line {issues[0].line if issues else '-'}).")
        tcol = _pick(keys, text_column, TEXT_COLUMNS, "text", path, "--text-column")
        lcol = _pick(keys, label_column, LABEL_COLUMNS, "label", path, "--label-column") if (require_label or label_column) else None
        loaded = rows_to_examples(records, path, tcol, lcol, table.rows_read, issues)
        loaded.encoding = table.encoding
        return loaded


class PhraseBankLoader(DataLoader):
    name = "phrasebank"
    description = "Financial PhraseBank: one 'sentence@label' per line (UTF-8 or ISO-8859-1)"
    suffixes: ClassVar[tuple[str, ...]] = (".txt",)

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = True) -> LoadedRows:
        text, encoding = read_text(path)
        issues: list[RowIssue] = []
        examples: list[Example] = []
        rows_read = 0
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            rows_read += 1
            sentence, sep, label = raw.rpartition("@")
            if not sep:
                issues.append(RowIssue(file=str(path), line=n, reason="no '@label' at the end of the line"))
                continue
            sentence, label = sentence.strip(), label.strip()
            if not sentence or not label:
                issues.append(RowIssue(file=str(path), line=n, reason="empty sentence or label"))
                continue
            examples.append(Example(text=sentence, label=label, file=str(path), line=n))
        if rows_read and not examples:
            raise DataError(
                f"{path}: none of its {rows_read} lines has the 'sentence@label' form of a Financial PhraseBank "
                f"file. For other text files use .csv/.tsv/.jsonl with text and label columns."
            )
        return LoadedRows(examples, issues, rows_read, None, None, encoding)


@hookimpl
def autoglm_register_data_loaders(register):
    for cls in (DelimitedLoader, TsvLoader, JsonlLoader, PhraseBankLoader):
        register(cls)

"""Built-in data loaders: CSV, TSV, JSONL/JSON and the Financial PhraseBank ``sentence@label`` format.

Each returns :class:`~autoglm_core.types.data.LoadedRows`: usable examples plus every unusable row
with its line number and reason, so nothing is dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from autoglm_core.data.reading import read_text
from autoglm_core.data.tables import (
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    pick_column,
    read_delimited,
    read_json_rows,
    rows_to_examples,
)
from autoglm_core.plugin.components import DataLoader
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.data import Example, LoadedRows
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import RowIssue


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
        tcol = pick_column(header, text_column, TEXT_COLUMNS, "text", path, "--text-column")
        lcol = pick_column(header, label_column, LABEL_COLUMNS, "label", path, "--label-column") if (require_label or label_column) else None
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
        tcol = pick_column(keys, text_column, TEXT_COLUMNS, "text", path, "--text-column")
        lcol = pick_column(keys, label_column, LABEL_COLUMNS, "label", path, "--label-column") if (require_label or label_column) else None
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

"""The ``text`` and ``text-file`` corpus loaders (registered by the text generation task type)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from autoglm_core.plugin.components import DataLoader
from autoglm_core.types.data import Example, LoadedRows
from autoglm_core.types.schemas import RowIssue


class TextCorpusLoader(DataLoader):
    """One document per non-empty line of a UTF-8 text file. Selected with ``format: text``
    (``.txt`` alone means the Financial PhraseBank loader)."""

    name = "text"
    description = "plain-text corpus, one document per line (select with format: text)"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = False) -> LoadedRows:
        from autoglm_core.data.reading import read_text

        text, encoding = read_text(Path(path))
        examples, issues = [], []
        lines = text.splitlines()
        for i, line in enumerate(lines, 1):
            if line.strip():
                examples.append(Example(text=line.rstrip(), label=None, file=str(path), line=i))
            else:
                issues.append(RowIssue(file=str(path), line=i, reason="empty line"))
        return LoadedRows(examples, [] if examples else issues, len(lines), None, None, encoding)


class TextFileLoader(TextCorpusLoader):
    """The whole file is one document (source files, long texts): split into training windows later."""

    name = "text-file"
    description = "plain-text corpus, the whole file is one document (select with format: text-file)"

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = False) -> LoadedRows:
        from autoglm_core.data.reading import read_text

        text, encoding = read_text(Path(path))
        if not text.strip():
            return LoadedRows([], [RowIssue(file=str(path), line=1, reason="the file is empty")], 1)
        return LoadedRows([Example(text=text, label=None, file=str(path), line=1)], [], 1, None, None, encoding)

"""Reading a multimodal table: a CSV/TSV/JSONL file with a text column, an image-path column and a label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.data.images import open_image
from autoglm_core.types.data import Example, LoadedRows
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import RowIssue

IMAGE_COLUMNS = ("image", "image_path", "imagepath", "img", "picture", "photo", "image_file", "file", "path",
                 "filename", "图片", "图像", "照片", "图片路径")


def read_table_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]], list[RowIssue]]:
    """Header and (line, row) pairs of a CSV/TSV/JSONL table; malformed rows become issues."""
    from autoglm_core.data.tables import read_table_rows as read

    table = read(path)
    return table.header, table.records, table.issues


def find_image_column(header: list[str]) -> str | None:
    lowered = {h.lower().strip(): h for h in header}
    for cand in IMAGE_COLUMNS:
        if cand in lowered:
            return lowered[cand]
    return None


def _pick(header: list[str], wanted: str | None, names: tuple[str, ...], role: str, path: Path, flag: str) -> str:
    from autoglm_core.data.tables import pick_column as pick

    return pick(header, wanted, names, role, path, flag)


def load_multimodal_table(path: str | Path, *, text_column: str | None = None, label_column: str | None = None,
                          image_column: str | None = None, decode: bool = True) -> LoadedRows:
    """Rows with text, an existing readable image and a label; every other row is an issue with its
    line. Relative image paths are taken from the table's folder. ``decode`` opens each image
    (examples get ``meta["image"]``, a PIL image, and ``meta["path"]``)."""
    from autoglm_core.data.tables import LABEL_COLUMNS, TEXT_COLUMNS

    path = Path(path)
    header, rows, issues = read_table_rows(path)
    if not rows:
        raise DataError(f"{path}: no rows.")
    tcol = _pick(header, text_column, TEXT_COLUMNS + ("caption", "标题"), "text", path, "--text-column")
    icol = image_column or find_image_column(header)
    if icol is None or icol not in header:
        raise DataError(f"{path}: no image-path column found; columns are {header}. Name it one of "
                        f"{', '.join(IMAGE_COLUMNS[:6])} or pass --image-column.")
    lcol = _pick(header, label_column, LABEL_COLUMNS, "label", path, "--label-column")
    examples: list[Example] = []
    for line, rec in rows:
        text = str(rec.get(tcol) or "").strip()
        label = str(rec.get(lcol) or "").strip()
        img = str(rec.get(icol) or "").strip()
        if not text or not label or not img:
            missing = [n for n, v in ((tcol, text), (lcol, label), (icol, img)) if not v]
            issues.append(RowIssue(file=str(path), line=line, reason=f"empty {', '.join(repr(m) for m in missing)}"))
            continue
        ipath = Path(img) if Path(img).is_absolute() else path.parent / img
        if not ipath.is_file():
            issues.append(RowIssue(file=str(path), line=line, reason=f"image file {img!r} does not exist ({ipath})"))
            continue
        meta: dict[str, Any] = {"path": str(ipath)}
        if decode:
            im, why = open_image(ipath)
            if im is None:
                issues.append(RowIssue(file=str(path), line=line, reason=f"image {img!r}: {why}"))
                continue
            meta["image"] = im
        examples.append(Example(text=text, label=label, file=str(path), line=line, meta=meta))
    issues.sort(key=lambda i: i.line)
    return LoadedRows(examples, issues, len(rows) + len(issues), tcol, lcol)

"""``autoglm data``: ``convert`` image folders to JPEG/PNG, ``check`` a folder or table, and
export the embedded ``digits`` data set as an image folder.

One bad file never stops a conversion: it is reported by path and the rest go on. Sources are
never written: the destination may not be the source folder, and a file whose output path would
be a source file is refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.errors import ConfigError, DataError

CONVERTIBLE = (".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jpg", ".jpeg", ".ppm", ".pgm")
TARGETS = {"jpg": (".jpg", "JPEG"), "jpeg": (".jpg", "JPEG"), "png": (".png", "PNG")}
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json")


# --------------------------------------------------------------------------- convert


def convert_folder(src: str | Path, dst: str | Path, to: str = "jpg", *, quality: int = 95,
                   overwrite: bool = False) -> dict[str, Any]:
    """Convert every image under ``src`` to ``to`` under ``dst`` keeping the folder layout.

    Returns a report: converted, copied (already in the target format), skipped (exists), failed
    (unreadable, with the reason) and non-image files, each by path."""
    from autoglm_core.data.images import open_image, to_mode

    src, dst = Path(src), Path(dst)
    if to.lower() not in TARGETS:
        raise ConfigError(f"--to {to!r}: supported targets are {', '.join(sorted(TARGETS))}.")
    suffix, fmt = TARGETS[to.lower()]
    if not src.is_dir():
        raise DataError(f"source {str(src)!r} is not a folder." if src.exists() else f"source {str(src)!r} does not exist.")
    src_r, dst_r = src.resolve(), dst.resolve()
    if src_r == dst_r:
        raise ConfigError(f"destination {str(dst)!r} is the source folder: conversion never overwrites sources; "
                          f"give another destination.")
    if dst_r in src_r.parents:
        raise ConfigError(f"destination {str(dst)!r} contains the source folder {str(src)!r}: outputs could land "
                          f"among the sources. Give a destination outside the source.")
    # a destination inside the source is allowed: it is not read as input
    report: dict[str, Any] = {"source": str(src), "destination": str(dst), "to": fmt, "converted": [], "copied": [],
                              "skipped": [], "failed": [], "not_images": [], "modes": Counter(), "renamed": []}
    taken: set[Path] = set()
    files = sorted(p for p in src.rglob("*") if p.is_file() and dst_r not in p.resolve().parents)
    for path in files:
        rel = path.relative_to(src)
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in CONVERTIBLE:
            report["not_images"].append(str(path))
            continue
        out = dst / rel.with_suffix(suffix)
        if out in taken:  # a.png and a.bmp in one folder: keep both
            out = dst / rel.with_name(f"{rel.stem}.{path.suffix.lstrip('.').lower()}{suffix}")
            report["renamed"].append({"source": str(path), "output": str(out)})
        if out.resolve() == path.resolve():  # defensive: the checks above make this impossible
            report["failed"].append({"path": str(path), "reason": f"output {out} would overwrite a source file"})
            continue
        taken.add(out)
        if out.exists() and not overwrite:
            report["skipped"].append({"path": str(path), "reason": f"{out} exists (use --overwrite)"})
            continue
        im, why = open_image(path)
        if im is None:
            report["failed"].append({"path": str(path), "reason": why})
            continue
        report["modes"][im.mode] += 1
        frames = _frame_count(path)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            same = path.suffix.lower() in (".jpg", ".jpeg") and fmt == "JPEG" and im.mode in ("RGB", "L")
            if same:
                shutil.copy2(path, out)  # already JPEG: re-encoding would only lose quality
                report["copied"].append(str(path))
                continue
            rgb = to_mode(im, "RGB") if fmt == "JPEG" or im.mode not in ("L", "RGB", "RGBA") else im
            tmp = out.with_name(out.name + ".partial")
            rgb.save(tmp, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
            tmp.replace(out)
        except (OSError, ValueError) as e:
            report["failed"].append({"path": str(path), "reason": f"cannot write {out}: {e}"})
            continue
        entry: dict[str, Any] = {"source": str(path), "output": str(out), "mode": im.mode}
        if frames > 1:
            entry["note"] = f"animated ({frames} frames): first frame kept"
        report["converted"].append(entry)
    report["modes"] = dict(report["modes"])
    return report


def _frame_count(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    except (OSError, ValueError):
        return 1


def _print_convert(report: dict[str, Any]) -> None:
    print(f"converted {len(report['converted'])} file(s) to {report['to']} in {report['destination']}"
          f" ({len(report['copied'])} already {report['to']}, copied; {len(report['skipped'])} skipped; "
          f"{len(report['failed'])} unreadable; {len(report['not_images'])} not images). Source modes: {report['modes']}.")
    for f in report["failed"]:
        print(f"  unreadable: {f['path']}: {f['reason']}")
    for f in report["skipped"]:
        print(f"  skipped: {f['path']}: {f['reason']}")
    for p in report["not_images"]:
        print(f"  not an image: {p}")
    for r in report["renamed"]:
        print(f"  name clash, written as: {r['output']} (from {r['source']})")
    for c in report["converted"]:
        if "note" in c:
            print(f"  {c['source']}: {c['note']}")


# --------------------------------------------------------------------------- check


def check_folder(path: str | Path) -> dict[str, Any]:
    """Open every image of an image folder; class counts per split, modes, sizes and problems."""
    from autoglm_core.data.images import open_image, scan_folder

    scan = scan_folder(path)
    problems = [{"path": i.file, "reason": i.reason} for i in scan.issues]
    counts: dict[str, Counter[str]] = {}
    modes: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for split, items in scan.files.items():
        c = counts.setdefault(split, Counter())
        for p, cls in items:
            im, why = open_image(p)
            if im is None:
                problems.append({"path": str(p), "reason": why})
                continue
            c[cls] += 1
            modes[im.mode] += 1
            sizes[f"{im.size[0]}x{im.size[1]}"] += 1
    return {"path": str(path), "kind": "image folder", "layout": scan.layout,
            "class_counts": {s: dict(sorted(c.items())) for s, c in counts.items()},
            "modes": dict(modes), "sizes": dict(sizes.most_common(5)), "problems": problems}


def check_table(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                image_column: str | None = None) -> dict[str, Any]:
    """A text table (text + label) or a text+image table (text + image path + label)."""
    from autoglm_core.tasks.multimodal_classification.table import find_image_column, read_table_rows

    path = Path(path)
    header, rows, issues = read_table_rows(path)
    icol = image_column or find_image_column(header)
    if icol is not None:
        from autoglm_core.tasks.multimodal_classification.table import load_multimodal_table

        loaded = load_multimodal_table(path, text_column=text_column, label_column=label_column,
                                       image_column=icol, decode=True)
        counts = Counter(ex.label for ex in loaded.examples)
        return {"path": str(path), "kind": "text+image table", "columns": {"text": loaded.text_column,
                "image": icol, "label": loaded.label_column}, "rows": loaded.rows_read,
                "class_counts": {"all": dict(sorted(counts.items()))},
                "problems": [{"path": f"{i.file}:{i.line}", "reason": i.reason} for i in loaded.issues]}
    from autoglm_core.data.load import load_file
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.schemas import DataRef

    loaded = load_file(path, DataRef(path=str(path), text_column=text_column, label_column=label_column), get_manager())
    counts = Counter(ex.label for ex in loaded.examples)
    return {"path": str(path), "kind": "text table", "columns": {"text": loaded.text_column,
            "label": loaded.label_column}, "rows": loaded.rows_read,
            "class_counts": {"all": dict(sorted(counts.items()))},
            "problems": [{"path": f"{i.file}:{i.line}", "reason": i.reason} for i in loaded.issues]}


def _print_check(r: dict[str, Any]) -> None:
    print(f"{r['path']}: {r['kind']}" + (f" (layout: {r['layout']})" if "layout" in r else "")
          + (f", columns {r['columns']}" if "columns" in r else ""))
    for split, counts in r["class_counts"].items():
        total = sum(counts.values())
        print(f"  {split}: {total} usable, classes: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    if r.get("modes"):
        print(f"  modes: {r['modes']}; most common sizes: {r['sizes']}")
    print(f"  problems: {len(r['problems'])}")
    for p in r["problems"][:200]:
        print(f"    {p['path']}: {p['reason']}")
    if len(r["problems"]) > 200:
        print(f"    ... {len(r['problems']) - 200} more (use --json for all)")


# --------------------------------------------------------------------------- CLI


def cmd_convert(args: argparse.Namespace) -> int:
    report = convert_folder(args.src, args.dst, args.to, quality=args.quality, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_convert(report)
    return 1 if args.strict and report["failed"] else 0


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.is_dir():
        report = check_folder(path)
    elif path.suffix.lower() in TABLE_SUFFIXES or path.suffix.lower() == ".txt":
        report = check_table(path, args.text_column, args.label_column, args.image_column)
    elif not path.exists():
        raise DataError(f"{str(path)!r} does not exist.")
    else:
        raise DataError(f"{path}: give an image folder or a table (.csv, .tsv, .jsonl).")
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_check(report)
    return 1 if report["problems"] else 0


def cmd_digits(args: argparse.Namespace) -> int:
    from autoglm_core.data.images import export_digits

    dst = Path(args.dst)
    if dst.exists() and any(dst.iterdir()) and not args.overwrite:
        raise ConfigError(f"{dst} exists and is not empty; choose another folder or pass --overwrite.")
    counts = export_digits(dst, limit=args.limit, upscale=args.upscale)
    print(f"wrote {sum(counts.values())} digit images (scikit-learn digits, 8x8 greyscale"
          f"{f', upscaled x{args.upscale}' if args.upscale > 1 else ''}) to {dst}/<digit>/: {counts}")
    return 0


@hookimpl
def autoglm_add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("data", help="convert image folders, check data, export the digits example",
                              description="Data tools: convert, check, digits.")
    sub = p.add_subparsers(dest="data_command", metavar="{convert,check,digits}")
    sub.required = True
    c = sub.add_parser("convert", help="convert PNG/BMP/TIFF/WebP/GIF images to JPEG (or PNG) keeping the layout")
    c.add_argument("src", help="source folder (never modified)")
    c.add_argument("dst", help="destination folder")
    c.add_argument("--to", default="jpg", help="target format: jpg (default) or png")
    c.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    c.add_argument("--overwrite", action="store_true", help="replace outputs that already exist in DST")
    c.add_argument("--strict", action="store_true", help="exit 1 when any file could not be converted")
    c.add_argument("--json", action="store_true", help="print the full report as JSON")
    c.set_defaults(handler=cmd_convert)
    k = sub.add_parser("check", help="validate an image folder or a table: class counts and problems")
    k.add_argument("path", help="image folder, or .csv/.tsv/.jsonl table (text, label, optional image column)")
    k.add_argument("--text-column", dest="text_column")
    k.add_argument("--label-column", dest="label_column")
    k.add_argument("--image-column", dest="image_column")
    k.add_argument("--json", action="store_true")
    k.set_defaults(handler=cmd_check)
    d = sub.add_parser("digits", help="export scikit-learn's handwritten digits as an image folder")
    d.add_argument("dst", help="destination folder (gets <digit>/<index>.png)")
    d.add_argument("--limit", type=int, help="images per class (default all: 1,797 in total)")
    d.add_argument("--upscale", type=int, default=1, help="enlarge the 8x8 images by this factor")
    d.add_argument("--overwrite", action="store_true")
    d.set_defaults(handler=cmd_digits)

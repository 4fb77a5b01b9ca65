"""Image folders: reading, validating and splitting them, with every unusable file reported.

Layouts understood (``<class>`` folder names are the labels):

* ``ROOT/train/<class>/*`` with ``ROOT/val/<class>/*`` (or ``validation/``) and optionally
  ``ROOT/test/<class>/*``; a missing split is carved out of train by seed;
* ``ROOT/<class>/*``: one folder, split train/validation/test by seed (stratified).

Every file is opened and fully decoded with Pillow (``Image.load()``), so corrupt and truncated
images are found here and reported by path, not halfway through training. Images of mixed modes
(L, RGBA, P, CMYK, 16-bit) are converted to one mode: transparency is composited on white,
because a transparent pixel's stored colour is arbitrary. Pixels are kept as float32 arrays in
[0, 1], shape (channels, height, width), in ``Example.meta["pixels"]`` (what the FGSM attack uses).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_core.types.data import DataSplits, Example
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import DataSummary, RowIssue, SplitConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "validation": "validation",
               "dev": "validation", "test": "test"}
MAX_REPORTED = 100
#: images are scaled down so that their longer side is at most this (keeps memory and CPU time small)
DEFAULT_MAX_SIDE = 64


@dataclass
class FolderScan:
    """What is in an image folder before any pixel is decoded."""

    root: Path
    layout: str  # "splits" or "classes"
    files: dict[str, list[tuple[Path, str]]]  # split ("all" for one folder) -> [(path, class)]
    issues: list[RowIssue] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted({c for items in self.files.values() for _, c in items})


def _issue(path: Path | str, reason: str) -> RowIssue:
    return RowIssue(file=str(path), line=0, reason=reason)


def is_image_folder(path: str | Path) -> bool:
    return Path(path).is_dir()


def _scan_classes(folder: Path, split: str, scan: FolderScan) -> list[tuple[Path, str]]:
    items: list[tuple[Path, str]] = []
    loose = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    for p in loose:
        scan.issues.append(_issue(p, "file outside a class folder (put images in <class>/ sub-folders)"))
    for cdir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n = 0
        for p in sorted(cdir.rglob("*")):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                scan.issues.append(_issue(p, f"not an image file (suffix {p.suffix or '(none)'!r})"))
                continue
            items.append((p, cdir.name))
            n += 1
        if n == 0:
            where = f"{split}/{cdir.name}" if split != "all" else cdir.name
            scan.empty_classes.append(where)
            scan.issues.append(_issue(cdir, "class folder with no images"))
    return items


def scan_folder(root: str | Path) -> FolderScan:
    """Find the layout, classes and candidate image files (nothing is decoded yet)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"image folder {str(root)!r} does not exist. Check the path (relative paths are taken "
                        f"from {Path.cwd()}).")
    if not root.is_dir():
        raise DataError(f"{str(root)!r} is a file; give a folder of <class>/ sub-folders, or train/ and val/ "
                        f"folders each holding <class>/ sub-folders.")
    subdirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    if "train" in subdirs:
        scan = FolderScan(root, "splits", {})
        for name, p in sorted(subdirs.items()):
            split = SPLIT_NAMES.get(name)
            if split is None:
                scan.issues.append(_issue(p, f"folder {p.name!r} beside train/ is not a split (train, val, test); ignored"))
                continue
            if split in scan.files:
                raise DataError(f"{root}: two folders for the {split} split ({p.name} and another); keep one.")
            scan.files[split] = _scan_classes(p, split, scan)
    else:
        scan = FolderScan(root, "classes", {})
        scan.files["all"] = _scan_classes(root, "all", scan)
    if not any(scan.files.values()):
        first = f" ({len(scan.issues)} problem(s); first: {scan.issues[0].file}: {scan.issues[0].reason})" if scan.issues else ""
        raise DataError(f"{root}: no image files found{first}. Expected ROOT/<class>/*.png or "
                        f"ROOT/train/<class>/* with ROOT/val/<class>/*.")
    return scan


# --------------------------------------------------------------------------- decoding


def open_image(path: str | Path) -> tuple[Any, str | None]:
    """Open and fully decode an image. Returns (image, None) or (None, reason)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()  # decodes every pixel: a truncated file fails here, not later
            return im.copy(), None
    except UnidentifiedImageError:
        return None, "not a readable image (unknown or corrupt format)"
    except (OSError, ValueError, SyntaxError) as e:  # truncated data, bad headers, decompression bombs
        return None, f"corrupt or truncated image: {e}"
    except Image.DecompressionBombError as e:
        return None, f"image too large: {e}"


def to_mode(im: Any, mode: str) -> Any:
    """Convert to ``"L"`` or ``"RGB"``; transparent pixels become white (their colour is arbitrary)."""
    from PIL import Image

    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale to 8 bits instead of clipping everything above 255 to white
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype("uint8"), "L")
    if im.mode == "F":
        im = im.convert("L")
    return im.convert(mode) if im.mode != mode else im


def choose_size(sizes: Counter[tuple[int, int]], max_side: int) -> tuple[int, int]:
    """The most common (width, height), scaled down so its longer side is at most ``max_side``."""
    (w, h), _ = sizes.most_common(1)[0]
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def to_pixels(im: Any, size: tuple[int, int], mode: str) -> Any:
    """PIL image -> float32 array (C, H, W) in [0, 1] at ``size`` (width, height)."""
    import numpy as np
    from PIL import Image

    im = to_mode(im, mode)
    if im.size != tuple(size):
        im = im.resize(tuple(size), Image.Resampling.BILINEAR)
    arr = np.asarray(im, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


@dataclass
class DecodedImages:
    examples: dict[str, list[Example]]
    issues: list[RowIssue]
    modes: Counter[str]
    size: tuple[int, int]
    mode: str
    files_read: int


def decode_scan(scan: FolderScan, *, max_side: int = DEFAULT_MAX_SIDE, mode: str | None = None,
                size: tuple[int, int] | None = None) -> DecodedImages:
    """Decode every image of a scan; unreadable ones are reported and skipped.

    ``mode`` None: "L" when most images are greyscale, else "RGB". ``size`` None: the most common
    size, scaled to ``max_side``."""
    decoded: dict[str, list[tuple[Path, str, Any]]] = {}
    issues = list(scan.issues)
    modes: Counter[str] = Counter()
    sizes: Counter[tuple[int, int]] = Counter()
    files_read = 0
    for split, items in scan.files.items():
        out = decoded.setdefault(split, [])
        for path, cls in items:
            files_read += 1
            im, why = open_image(path)
            if im is None:
                issues.append(_issue(path, why or "unreadable"))
                continue
            modes[im.mode] += 1
            sizes[im.size] += 1
            out.append((path, cls, im))
    if not sizes:
        first = issues[0] if issues else None
        raise DataError(f"{scan.root}: none of the {files_read} image file(s) could be read"
                        + (f" (first: {first.file}: {first.reason})." if first else "."))
    grey = sum(n for m, n in modes.items() if m in ("L", "1", "LA", "I;16", "I;16B", "I;16L", "I", "F"))
    mode = mode or ("L" if grey * 2 >= sum(modes.values()) else "RGB")
    size = tuple(size) if size else choose_size(sizes, max_side)  # type: ignore[assignment]
    examples: dict[str, list[Example]] = {}
    for split, items in decoded.items():
        examples[split] = [
            Example(text=str(path.relative_to(scan.root)), label=cls, file=str(path), line=0,
                    meta={"pixels": to_pixels(im, size, mode), "path": str(path)})
            for path, cls, im in items
        ]
    return DecodedImages(examples, issues, modes, size, mode, files_read)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- splits


def load_image_folder(root: str | Path, split: SplitConfig | None = None, seed: int = 0, *,
                      max_side: int = DEFAULT_MAX_SIDE, labels: list[str] | None = None) -> DataSplits:
    """An image folder -> DataSplits (stratified by class; problems in ``summary.skipped``)."""
    from autoglm_core.data.load import stratified_split

    split = split or SplitConfig()
    scan = scan_folder(root)
    dec = decode_scan(scan, max_side=max_side)
    notes: list[str] = []
    ex = dec.examples
    if scan.layout == "classes":
        all_ex = ex.get("all", [])
        train, val, test, notes = stratified_split(all_ex, split, seed)
    else:
        train = ex.get("train", [])
        val, test = ex.get("validation"), ex.get("test")
        if val is None or test is None:
            frac_val = split.validation / split.train if val is None else 0.0
            frac_test = split.test / split.train if test is None else 0.0
            sub = SplitConfig.model_construct(train=1 - frac_val - frac_test, validation=frac_val, test=frac_test)
            tr, va, te, notes = stratified_split(train, sub, seed)
            train, val, test = tr, (val if val is not None else va), (test if test is not None else te)
        all_ex = train + val + test
    if not train:
        raise DataError(f"{root}: the training split has no readable images.")
    if not test:
        raise DataError(f"{root}: the test split is empty; give more images per class or a test/ folder.")
    found = sorted({e.label for e in all_ex if e.label is not None})
    if labels:
        unknown = [c for c in found if c not in labels]
        if unknown:
            raise DataError(f"{root}: class folders {unknown} are not among the task's labels {labels}; rename the "
                            f"folders or leave labels out to use the folder names.")
        found = list(labels)
    if scan.empty_classes:
        notes.append(f"class folder(s) with no images, ignored: {', '.join(scan.empty_classes)}")
    mixed = {m: n for m, n in dec.modes.items() if m != dec.mode}
    if mixed:
        notes.append(f"image modes {dict(dec.modes)}: all converted to {dec.mode} (transparency on white)")
    notes.append(f"images used at {dec.size[0]}x{dec.size[1]} pixels, mode {dec.mode} (layout: {scan.layout})")
    counts = Counter(e.label for e in all_ex)
    summary = DataSummary(
        files=[str(root)], rows_read=dec.files_read + sum(1 for i in scan.issues if "not an image" in i.reason),
        rows_used=len(all_ex), rows_skipped=len(dec.issues), skipped=dec.issues[:MAX_REPORTED],
        label_counts={str(k): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))},
        split_sizes={"train": len(train), "validation": len(val), "test": len(test)},
        language="n/a", text_column=None, label_column=None,
    )
    splits = DataSplits(train, val, test, found, summary, notes=notes)
    splits.image_size = dec.size  # type: ignore[attr-defined]
    splits.image_mode = dec.mode  # type: ignore[attr-defined]
    return splits


def pixel_shape(splits: DataSplits) -> tuple[int, int, int]:
    """(channels, height, width) of the pixels in a split set."""
    for part in (splits.train, splits.validation, splits.test):
        for ex in part:
            return tuple(ex.meta["pixels"].shape)  # type: ignore[return-value]
    raise DataError("no images in the splits.")


# --------------------------------------------------------------------------- embedded default data


def export_digits(dst: str | Path, *, limit: int | None = None, upscale: int = 1) -> dict[str, int]:
    """Write scikit-learn's handwritten digits (1,797 real 8x8 greyscale scans that ship with
    scikit-learn) as ``dst/<digit>/<index>.png``. Returns class counts. ``limit`` keeps the first
    ``limit`` images per class (tests); ``upscale`` enlarges them (nearest neighbour)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    dst = Path(dst)
    d = load_digits()
    counts: Counter[str] = Counter()
    for i, (img, target) in enumerate(zip(d.images, d.target, strict=True)):
        cls = str(int(target))
        if limit is not None and counts[cls] >= limit:
            continue
        arr = np.clip(img / 16.0 * 255.0, 0, 255).astype("uint8")
        im = Image.fromarray(arr, "L")
        if upscale > 1:
            im = im.resize((8 * upscale, 8 * upscale), Image.Resampling.NEAREST)
        out = dst / cls / f"{i:04d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        im.save(out)
        counts[cls] += 1
    return dict(sorted(counts.items()))


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTION_TEMPLATES = ("a handwritten {w}", "this is the digit {w}", "a photo of the number {w}",
                     "scan showing a {w}", "the figure {w} written by hand")


def export_digit_captions(dst: str | Path, *, limit: int | None = None, seed: int = 0) -> Path:
    """A text+image matching set built from scikit-learn's digits: every image appears twice, once
    with a caption naming its digit (label ``match``) and once with a caption naming another digit
    (``mismatch``). Neither modality alone says whether they match. Writes ``dst/images/*.png`` and
    ``dst/pairs.csv`` (columns text, image, label); returns the CSV path."""
    import csv
    import random

    counts = export_digits(Path(dst) / "images", limit=limit)
    rng = random.Random(seed)
    rows = []
    for png in sorted((Path(dst) / "images").rglob("*.png")):
        digit = int(png.parent.name)
        other = rng.choice([d for d in range(10) if d != digit])
        rel = png.relative_to(dst).as_posix()
        for d, label in ((digit, "match"), (other, "mismatch")):
            rows.append((rng.choice(CAPTION_TEMPLATES).format(w=DIGIT_WORDS[d]), rel, label))
    rng.shuffle(rows)
    out = Path(dst) / "pairs.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "image", "label"])
        w.writerows(rows)
    del counts
    return out

"""From a :class:`DataRef` to validated, stratified train/validation/test splits."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from autoglm_core.data.diagnose import check_labels_are_classes, require_two_labels, why_split_is_empty
from autoglm_core.data.language import detect_language
from autoglm_core.data.reading import check_file, using_encoding
from autoglm_core.types.data import DataSplits, Example, LoadedRows
from autoglm_core.types.errors import DataError, UnknownNameError
from autoglm_core.types.schemas import DataRef, DataSummary, RowIssue, SplitConfig, TaskSpec

MAX_REPORTED_ISSUES = 100


def loader_for(path: Path, fmt: str | None, manager: Any) -> Any:
    registry = manager.registry("data loader")
    if fmt:
        return registry.get(fmt)()
    suffix = path.suffix.lower()
    for entry in registry.entries():
        if suffix in getattr(entry.obj, "suffixes", ()):
            return entry.obj()
    known = sorted({s for e in registry.entries() for s in getattr(e.obj, "suffixes", ())})
    raise DataError(
        f"{path}: no data loader for files ending in {suffix or '(no suffix)'!r}; known suffixes: "
        f"{', '.join(known)}. Rename the file or pass the format (data loaders: {', '.join(registry.names())})."
    )


def load_file(path: str | Path, ref: DataRef, manager: Any, require_label: bool = True) -> LoadedRows:
    path = Path(path)
    check_file(path)
    try:
        loader = loader_for(path, ref.format, manager)
    except UnknownNameError as e:
        raise DataError(f"{path}: {e}") from None
    if ref.no_header:  # delimited loaders read line 1 as data and name the columns "0", "1", ...
        loader.no_header = True
    kwargs: dict[str, Any] = {"text_column": ref.text_column, "label_column": ref.label_column}
    with using_encoding(ref.encoding):
        try:
            loaded = loader.load(path, require_label=require_label, **kwargs)
        except TypeError:  # third-party loaders may not take require_label
            loaded = loader.load(path, **kwargs)
    loaded.issues.sort(key=lambda i: i.line)
    if ref.label_map is not None:
        apply_label_map(loaded.examples, ref.label_map, path)
    if not loaded.examples:
        first = loaded.issues[0] if loaded.issues else None
        why = f" First problem: line {first.line}: {first.reason}." if first else ""
        raise DataError(f"{path}: no usable rows ({loaded.rows_read} read, {len(loaded.issues)} unusable).{why}")
    return loaded


def apply_label_map(examples: list[Example], label_map: dict[str, str], path: Path) -> None:
    """Rename labels in place; a data label the map does not name is an error naming file and line."""
    for ex in examples:
        if ex.label is None:
            continue
        if ex.label not in label_map:
            raise DataError(
                f"{path}:{ex.line}: label {ex.label!r} is not in label_map (keys: {', '.join(map(repr, label_map))}). "
                f"Add it to label_map, or fix the data."
            )
        ex.label = label_map[ex.label]


def peek_language(ref: DataRef, manager: Any, limit: int = 2000) -> str | None:
    """The language of a data set's texts ('zh', 'en', 'multi', 'other'), or None when it cannot be read now
    (the data stage reports problems with the data properly)."""
    path = ref.path or ref.train
    if not path:
        return None
    try:
        loaded = load_file(path, ref, manager, require_label=False)
    except Exception:  # noqa: BLE001 - only a hint; the data stage reports real errors
        return None
    return detect_language(ex.text for ex in loaded.examples[:limit])


def reconcile_labels(spec: TaskSpec, examples: list[Example]) -> tuple[list[str], list[str]]:
    """Decide the label set. Returns (labels, warnings).

    * data labels within the spec's labels: the spec's order is kept;
    * spec labels that came from the parser and share nothing with the data: the data wins (a
      warning says so) because parsed labels are a guess;
    * otherwise labels in the data that the spec does not know are an error naming file and line.
    """
    first_seen: dict[str, Example] = {}
    for ex in examples:
        if ex.label is not None and ex.label not in first_seen:
            first_seen[ex.label] = ex
    data_labels = sorted(first_seen)
    warnings: list[str] = []
    if not spec.labels:
        return data_labels, warnings
    unknown = [lab for lab in data_labels if lab not in spec.labels]
    if not unknown:
        missing = [lab for lab in spec.labels if lab not in first_seen]
        if missing:
            warnings.append(f"labels {missing} of the task spec never occur in the data.")
        return list(spec.labels), warnings
    source = spec.evidence.get("labels").source if "labels" in spec.evidence else "hint"
    if source == "parser":
        matched = labels_matched_to_data(spec.labels, data_labels, first_seen, warnings)
        if matched is not None:
            return matched, warnings
    if source == "parser" and not set(data_labels) & set(spec.labels):
        hint = ""
        if len(data_labels) == len(spec.labels) and all(lab.lstrip("-").isdigit() for lab in data_labels):
            # numeric codes and named labels: say exactly how to name them instead of predicting "0"/"1"
            pairs = ",".join(f"{d}={n}" for d, n in zip(sorted(data_labels, key=int), spec.labels, strict=True))
            hint = (f" The data's labels are numeric codes; to keep the names, rerun with --label-map {pairs} "
                    f"(this pairs them in the description's order; check which code means which, e.g. "
                    f"ChnSentiCorp uses 1=positive).")
        warnings.append(
            f"the description suggested labels {spec.labels} but the data uses {data_labels}; using the data's labels."
            + hint
        )
        return data_labels, warnings
    where = "; ".join(f"{lab!r} first at {first_seen[lab].file}:{first_seen[lab].line}" for lab in unknown[:5])
    raise DataError(
        f"the data has labels the task spec does not know: {where}. The spec's labels are {spec.labels}. "
        f"Fix the data, or give labels=... (CLI: --labels) that include them, or leave labels out to use the data's."
    )


def labels_matched_to_data(mentions: list[str], data_labels: list[str], first_seen: dict[str, Example],
                           warnings: list[str]) -> list[str] | None:
    """The data's labels, in the order the description names them, when the description's labels
    name them in other words (another language, another case); None when nothing matches."""
    from autoglm_core.data.label_match import match_labels

    matches = [m for m in match_labels(mentions, data_labels) if m.how != "same word" or m.mention != m.label]
    if not matches:
        return None
    exact = {m for m in mentions if m in first_seen}
    by_mention = {m.mention: m.label for m in matches}
    named = [by_mention.get(m, m) for m in mentions if m in by_mention or m in exact]
    rest = [lab for lab in data_labels if lab not in named]
    dropped = [m for m in mentions if m not in by_mention and m not in exact]
    warnings.append("labels: the description's labels matched to the data's: "
                    + ", ".join(m.describe() for m in matches) + ".")
    if rest:
        warnings.append(f"labels {rest} of the data are not named in the description; they are kept.")
    if dropped:
        warnings.append(f"labels {dropped} of the description never occur in the data.")
    return named + rest


def stratified_split(examples: list[Example], split: SplitConfig, seed: int) -> tuple[list[Example], list[Example], list[Example], list[str]]:
    by_label: dict[str | None, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.label].append(ex)
    rng = random.Random(seed)
    train: list[Example] = []
    val: list[Example] = []
    test: list[Example] = []
    notes: list[str] = []
    # groups in order of their first row, not by label name: renaming labels (--label-map) must not
    # change which rows land in which split
    for label in sorted(by_label, key=lambda lab: _row_id(by_label[lab][0])):
        items = by_label[label][:]
        rng.shuffle(items)
        n = len(items)
        if n < 3:
            notes.append(f"label {label!r} has only {n} example(s): all go to the training split.")
            train += items
            continue
        n_test = max(1, round(n * split.test)) if split.test > 0 else 0
        n_val = max(1, round(n * split.validation)) if split.validation > 0 else 0
        if n_test + n_val >= n:
            n_test, n_val = (1 if split.test > 0 else 0), (1 if split.validation > 0 and n > 2 else 0)
        test += items[:n_test]
        val += items[n_test : n_test + n_val]
        train += items[n_test + n_val :]
    for part in (train, val, test):
        rng.shuffle(part)
    return train, val, test, notes


def _row_id(ex: Example) -> tuple[str, int]:
    return (ex.file, ex.line)


def stratified_sample(examples: list[Example], n: int, seed: int) -> list[Example]:
    """``n`` rows with the label proportions of ``examples`` (every label keeps at least one row)."""
    if len(examples) <= n:
        return list(examples)
    by_label: dict[str | None, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.label].append(ex)
    rng = random.Random(seed)
    out: list[Example] = []
    for label in sorted(by_label, key=lambda lab: _row_id(by_label[lab][0])):
        items = by_label[label][:]
        rng.shuffle(items)
        out += items[: max(1, round(n * len(items) / len(examples)))]
    rng.shuffle(out)
    return out[:n] if len(out) > n else out


@dataclasses.dataclass
class GivenFiles:
    """The files a DataRef names, each read once: examples by role ("path" for one file to split,
    else "train"/"validation"/"test": a given path wins over split files), with what reading found."""

    parts: dict[str, list[Example]]
    files: list[str]
    issues: list[RowIssue]
    rows_read: int
    text_column: str | None
    label_column: str | None


def read_given_files(ref: Any, manager: Any) -> GivenFiles:
    given = GivenFiles({}, [], [], 0, None, None)
    for role in ("path",) if ref.path else ("train", "validation", "test"):
        path = getattr(ref, role)
        if path:
            loaded = load_file(path, ref, manager)
            given.files.append(path)
            given.issues += loaded.issues
            given.rows_read += loaded.rows_read
            given.text_column, given.label_column = loaded.text_column, loaded.label_column
            given.parts[role] = loaded.examples
    return given


def load_splits(spec: TaskSpec, split: SplitConfig, seed: int, manager: Any) -> DataSplits:
    ref = spec.data
    if ref is None:
        raise DataError("no data given: pass a data file (CLI: --data FILE; Python: dataset='file.csv').")
    given = read_given_files(ref, manager)
    files, issues, rows_read = given.files, given.issues, given.rows_read
    text_col, label_col = given.text_column, given.label_column
    notes: list[str] = []
    if "path" in given.parts:
        all_examples = given.parts["path"]
        labels, warns = reconcile_labels(spec, all_examples)
        train, val, test, notes = stratified_split(all_examples, split, seed)
    else:
        parts = given.parts
        all_examples = [ex for part in parts.values() for ex in part]
        labels, warns = reconcile_labels(spec, all_examples)
        train = parts["train"]
        val, test = parts.get("validation"), parts.get("test")
        if test is None or val is None:
            # carve the missing split(s) out of train with the configured proportions
            frac_val = split.validation / split.train if val is None else 0.0
            frac_test = split.test / split.train if test is None else 0.0
            sub = SplitConfig.model_construct(train=1 - frac_val - frac_test, validation=frac_val, test=frac_test)
            tr, va, te, notes = stratified_split(train, sub, seed)
            train = tr
            val = val if val is not None else va
            test = test if test is not None else te
    numeric = check_labels_are_classes(all_examples, files, label_col)
    warns = numeric + warns
    require_two_labels(all_examples, files)
    for name, part in (("training", train), ("test", test)):
        if not part:
            raise DataError(f"{', '.join(files)}: the {name} split is empty. "
                            + why_split_is_empty(all_examples, issues, rows_read)
                            + "".join(f" {note[0].upper()}{note[1:]}" for note in numeric))
    counts = Counter(ex.label for ex in all_examples)
    summary = DataSummary(
        files=files, rows_read=rows_read, rows_used=len(all_examples), rows_skipped=len(issues),
        skipped=issues[:MAX_REPORTED_ISSUES], label_counts={str(k): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))},
        split_sizes={"train": len(train), "validation": len(val), "test": len(test)},
        language=detect_language(ex.text for ex in all_examples[:2000]),
        text_column=text_col, label_column=label_col,
    )
    return DataSplits(train, val, test, labels, summary, notes=warns + notes)

"""The monitor loop: read new records, clean, de-duplicate, classify in batches, apply the alert
rules, write outputs, save the state.

Output folder::

    predictions.jsonl   one line per classified document (source, line, text, label, probabilities, entities)
    alerts.jsonl        one line per alert
    rejected.jsonl      one line per input record that was skipped (source, line, reason): malformed
                        JSON/CSV, no text field, empty after cleaning, duplicate
    summary.json, summary.md   counts (read = predicted + duplicates + empty + rejected), labels,
                        entities, alerts, throughput
    state.json          per-file byte offsets, duplicate fingerprints, alert windows and the sizes
                        of the output files, written atomically after every batch

Exactly-once on resume: outputs are appended and fsynced before the state is replaced; on start
the outputs are cut back to the sizes the state recorded, so a crash between the two never leaves
a document twice or not at all.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from autoglm_core import ConfigError, atomic_write_json, atomic_write_text

from .alerts import AlertEngine
from .clean import Deduplicator, clean_text, fingerprint
from .rules import RulesFile, load_rules
from .sources import STDIN, Cursor, InputSpec, Record, format_of, read_file, read_stream

log = logging.getLogger(__name__)

STATE_VERSION = 1
OUTPUTS = ("predictions.jsonl", "alerts.jsonl", "rejected.jsonl")
TEXT_FIELDS = ("text", "sentence", "content", "review", "body", "title", "headline", "input")
MAX_REJECTED_IN_SUMMARY = 20


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an epoch number or an ISO-8601 string; None when unusable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    s = str(value).strip()
    try:
        return float(s)
    except ValueError:
        pass
    try:
        dt = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return dt.timestamp()


@dataclass
class MonitorSummary:
    input: str
    model: str
    counts: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    entities: dict[str, Counter[str]] = field(default_factory=dict)
    alerts: Counter[str] = field(default_factory=Counter)
    rejected_examples: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    session_documents: int = 0
    session_seconds: float = 0.0
    inference_seconds: float = 0.0

    @property
    def documents_per_s(self) -> float:
        return self.session_documents / self.session_seconds if self.session_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "input": self.input, "model": self.model,
            "counts": {k: c.get(k, 0) for k in ("read", "predicted", "duplicates", "empty", "rejected")},
            "labels": dict(self.labels), "entities": {k: dict(v) for k, v in sorted(self.entities.items())},
            "alerts": dict(self.alerts), "alerts_total": sum(self.alerts.values()),
            "rejected_examples": self.rejected_examples, "files": self.files, "warnings": self.warnings,
            "session": {"documents": self.session_documents, "seconds": round(self.session_seconds, 3),
                        "inference_seconds": round(self.inference_seconds, 3),
                        "documents_per_s": round(self.documents_per_s, 2)},
            "updated_at": _now_iso(),
        }

    @classmethod
    def from_state(cls, d: dict[str, Any], input: str, model: str) -> MonitorSummary:
        s = cls(input=input, model=model)
        s.counts = Counter(d.get("counts", {}))
        s.labels = Counter(d.get("labels", {}))
        s.entities = {k: Counter(v) for k, v in d.get("entities", {}).items()}
        s.alerts = Counter(d.get("alerts", {}))
        s.rejected_examples = list(d.get("rejected_examples", []))
        s.files = dict(d.get("files", {}))
        s.warnings = list(d.get("warnings", []))
        return s

    def markdown(self) -> str:
        d = self.as_dict()
        c = d["counts"]
        lines = [
            "# Monitor summary", "",
            f"Input: `{self.input}`  ", f"Model: `{self.model}`", "",
            "| read | predicted | duplicates | empty | rejected | alerts |", "|---|---|---|---|---|---|",
            f"| {c['read']} | {c['predicted']} | {c['duplicates']} | {c['empty']} | {c['rejected']} | {d['alerts_total']} |",
            "", f"Throughput (this session): {d['session']['documents_per_s']:.1f} documents/s "
                f"({self.session_documents} documents in {self.session_seconds:.1f} s).", "",
        ]
        if self.labels:
            lines += ["## Labels", "", "| label | documents |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in self.labels.most_common()] + [""]
        if self.entities:
            labs = sorted(self.labels)
            lines += ["## Entities", "", "| entity | " + " | ".join(labs) + " |", "|---" * (len(labs) + 1) + "|"]
            for ent, cnt in sorted(self.entities.items()):
                lines.append(f"| {ent} | " + " | ".join(str(cnt.get(lab, 0)) for lab in labs) + " |")
            lines.append("")
        if self.alerts:
            lines += ["## Alerts", "", "| rule | alerts |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in sorted(self.alerts.items())] + ["", "Details: `alerts.jsonl`.", ""]
        if self.rejected_examples:
            lines += ["## Skipped records (first ones; all are in rejected.jsonl)", ""]
            lines += [f"- {r['source']}:{r['line']}: {r['reason']}" for r in self.rejected_examples] + [""]
        if self.warnings:
            lines += ["## Warnings", ""] + [f"- {w}" for w in self.warnings] + [""]
        return "\n".join(lines)


@dataclass
class _Doc:
    record: Record
    text: str
    fields: dict[str, Any]


class Monitor:
    """Classify a stream of documents with a saved model and raise alerts from rules.

    ``predictor`` may be given directly (tests, benchmarks); otherwise ``model_dir`` is loaded with
    :class:`autoglm_core.engine.predictor.Predictor` (fp32, compressed variants such as int8, ONNX).
    """

    def __init__(self, model_dir: str | Path, input: str, out: str | Path, *, rules: str | Path | RulesFile | None = None,
                 fmt: str | None = None, text_field: str | None = None, batch_size: int = 32,
                 max_length: int | None = None, dedupe_capacity: int = 100_000, restart: bool = False,
                 predictor: Any = None, stdin: TextIO | None = None):
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {batch_size}.")
        self.model_dir = str(model_dir)
        self.input = InputSpec(input, fmt)
        self.input.check()
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError(f"--out {str(self.out)!r} is a file; give a folder for the monitor's outputs.")
        self.batch_size = batch_size
        self.stdin = stdin
        self.predictor = predictor or self._load_predictor(max_length)
        labels = list(self.predictor.labels)
        if isinstance(rules, RulesFile):
            for r in rules.rules:
                if r.label not in labels:
                    raise ConfigError(f"rule {r.name!r} watches label {r.label!r}; the model's labels are {labels}.")
            self.rules = rules
        else:
            self.rules = load_rules(rules, labels)
        self.text_field = text_field or self.rules.text_field
        self.state_path = self.out / "state.json"
        self._open(restart, dedupe_capacity)

    # ------------------------------------------------------------------ setup
    def _load_predictor(self, max_length: int | None) -> Any:
        from autoglm_core import Predictor, read_model_meta

        if max_length is None:
            meta = read_model_meta(self.model_dir) or {}
            trained = (meta.get("meta") or {}).get("train_config", {}).get("max_length")
            max_length = int(trained) if trained else 128
        return Predictor.load(self.model_dir, max_length=max_length)

    def _input_id(self) -> str:
        return STDIN if self.input.is_stdin else str(Path(self.input.path).resolve())

    def _open(self, restart: bool, dedupe_capacity: int) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {}
        if self.state_path.exists() and not restart:
            try:
                state = json.loads(self.state_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{self.state_path}: line {e.lineno}: the state file is not valid JSON ({e.msg}); "
                                  f"start again with --restart.") from None
            if state.get("input") != self._input_id():
                raise ConfigError(
                    f"{self.out} holds the state of a monitor of {state.get('input')!r}, not {self._input_id()!r}. "
                    f"Use another --out folder, or --restart to discard that state and its outputs.")
        if restart or not state:
            for name in (*OUTPUTS, "summary.json", "summary.md", "state.json"):
                (self.out / name).unlink(missing_ok=True)
        # Cut outputs back to what the last saved state covers (see the module docstring).
        sizes = state.get("outputs", {})
        for name in OUTPUTS:
            p = self.out / name
            want = int(sizes.get(name, 0))
            if p.exists() and p.stat().st_size > want:
                with p.open("r+b") as fh:
                    fh.truncate(want)
            elif not p.exists():
                p.touch()
        self.cursors = {k: Cursor.from_dict(v) for k, v in state.get("files", {}).items()}
        self.stream_state: dict[str, Any] = dict(state.get("stream", {}))
        self.dedupe = Deduplicator(dedupe_capacity, state.get("dedupe"))
        warnings: list[str] = []
        windows = state.get("windows")
        if state and state.get("rules_digest") != self.rules.digest():
            warnings.append("the rules changed since the last session: alert windows start empty.")
            windows = None
        self.alerts = AlertEngine(self.rules, windows)
        self.summary = MonitorSummary.from_state(state.get("summary", {}), self._input_id(), self.model_dir)
        self.summary.warnings += warnings
        self.resumed = bool(state)

    # ------------------------------------------------------------------ one batch
    def _text_of(self, fields: dict[str, Any]) -> tuple[str | None, str | None]:
        if self.text_field:
            names = [self.text_field]
        else:
            names = [n for n in TEXT_FIELDS if n in fields]
        for n in names:
            if n in fields:
                value = fields[n]
                if value is None:
                    return None, f"field {n!r} is null"
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    return str(value), None
                return None, f"field {n!r} is a {type(value).__name__}, not text"
        want = repr(self.text_field) if self.text_field else "text field (" + ", ".join(TEXT_FIELDS[:4]) + ", ...)"
        keys = ", ".join(map(str, list(fields)[:8])) or "none"
        return None, f"no {want}; fields: {keys}"

    def _commit(self, records: list[Record]) -> None:
        """Classify, alert, append the outputs, then save the state: the unit of resumption."""
        out_lines: dict[str, list[str]] = {name: [] for name in OUTPUTS}
        docs: list[_Doc] = []
        verdicts: list[tuple[Record, str | None, _Doc | None]] = []
        for rec in records:
            if rec.data is not None and "__header__" in rec.data:
                continue
            reason: str | None = None
            doc: _Doc | None = None
            if rec.error is not None:
                reason = rec.error
                self.summary.counts["rejected"] += 1
            elif rec.data is not None and rec.data.get("__blank__"):
                reason = "empty line"
                self.summary.counts["empty"] += 1
            else:
                raw, reason = self._text_of(rec.data or {})
                if reason is not None:
                    self.summary.counts["rejected"] += 1
                else:
                    text = clean_text(raw or "")
                    if not text:
                        reason = "empty after cleaning"
                        self.summary.counts["empty"] += 1
                    elif self.dedupe.seen(fingerprint(text)):
                        reason = "duplicate"
                        self.summary.counts["duplicates"] += 1
                    else:
                        doc = _Doc(rec, text, rec.data or {})
                        docs.append(doc)
            self.summary.counts["read"] += 1
            verdicts.append((rec, reason, doc))
        t0 = time.perf_counter()
        preds = self.predictor.predict([d.text for d in docs], batch_size=self.batch_size) if docs else []
        self.summary.inference_seconds += time.perf_counter() - t0
        pred_of = {id(d): p for d, p in zip(docs, preds, strict=True)}
        for rec, reason, doc in verdicts:
            if doc is None:
                entry = {"source": rec.source, "line": rec.line, "reason": reason}
                out_lines["rejected.jsonl"].append(json.dumps(entry, ensure_ascii=False))
                if reason not in ("duplicate", "empty line") and len(self.summary.rejected_examples) < MAX_REJECTED_IN_SUMMARY:
                    self.summary.rejected_examples.append(entry)
                continue
            pred = pred_of[id(doc)]
            entities = self.alerts.matcher.entities(doc.text, doc.fields)
            ref = f"{rec.source}:{rec.line}"
            ident = doc.fields.get(self.rules.id_field or "id")
            t = parse_time(doc.fields.get(self.rules.time_field)) if self.rules.time_field else None
            row = {"source": rec.source, "line": rec.line, **({"id": ident} if ident is not None else {}),
                   "text": doc.text, "label": pred["label"], "probabilities": pred["probabilities"],
                   "entities": entities}
            out_lines["predictions.jsonl"].append(json.dumps(row, ensure_ascii=False))
            self.summary.counts["predicted"] += 1
            self.summary.labels[pred["label"]] += 1
            for e in entities:
                self.summary.entities.setdefault(e, Counter())[pred["label"]] += 1
            trigger = {"source": rec.source, "line": rec.line, **({"id": ident} if ident is not None else {})}
            for alert in self.alerts.observe(label=pred["label"], probabilities=pred["probabilities"],
                                             entities=entities, t=t if t is not None else time.time(), ref=ref,
                                             doc=trigger):
                alert = {"time": _now_iso(), **alert}
                out_lines["alerts.jsonl"].append(json.dumps(alert, ensure_ascii=False))
                self.summary.alerts[alert["rule"]] += 1
                log.warning("alert %s: %s share %.2f for %s", alert["rule"], alert["label"], alert["share"], alert["entity"])
        for name, lines in out_lines.items():
            if lines:
                with (self.out / name).open("a", encoding="utf-8") as fh:
                    fh.write("\n".join(lines) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
        for rec in records:
            if rec.source == STDIN:
                continue
            cur = self.cursors.setdefault(rec.source, Cursor())
            if rec.end >= cur.offset or rec.line == 1:
                cur.offset, cur.line = rec.end, rec.last_line
            if rec.data is not None and "__header__" in rec.data:
                cur.header = rec.data["__header__"]
            self.summary.files[rec.source] = cur.line
        self.summary.session_documents += len(docs)
        self._save_state()

    def _save_state(self) -> None:
        state = {
            "version": STATE_VERSION, "input": self._input_id(), "model": self.model_dir,
            "rules_digest": self.rules.digest(), "updated_at": _now_iso(),
            "files": {k: c.as_dict() for k, c in self.cursors.items()},
            "stream": self.stream_state,
            "outputs": {name: (self.out / name).stat().st_size for name in OUTPUTS},
            "dedupe": self.dedupe.state(),
            "windows": self.alerts.state(),
            "summary": self.summary.as_dict(),
        }
        atomic_write_json(self.state_path, state)
        atomic_write_json(self.out / "summary.json", self.summary.as_dict())

    # ------------------------------------------------------------------ polling
    def poll(self, final: bool = True) -> int:
        """Read everything new once; returns how many records were read. ``final=False`` leaves a
        half-written last line of a file for the next poll (the writer may still be appending)."""
        pending: list[Record] = []
        n_docs = 0
        n = 0

        def flush() -> None:
            nonlocal pending, n_docs
            if pending:
                self._commit(pending)
            pending, n_docs = [], 0

        if self.input.is_stdin:
            records = read_stream(self.stdin, self.input.fmt or "jsonl", self.stream_state)
            sources = [records]
        else:
            sources = []
            for name, path in self.input.files():
                fmt = format_of(path, self.input.fmt)
                if fmt is None:
                    continue
                cursor = self.cursors.get(name, Cursor())
                sources.append(read_file(name, path, fmt, cursor, final, self.summary.warnings))
        for records in sources:
            for rec in records:
                n += 1
                pending.append(rec)
                if rec.error is None and rec.data is not None and not ({"__header__", "__blank__"} & rec.data.keys()):
                    n_docs += 1
                if n_docs >= self.batch_size or len(pending) >= self.batch_size * 8:
                    flush()
            flush()  # a file's records are committed before the next file's, keeping cursors simple
        return n

    def run(self, *, follow: bool = False, poll_interval: float = 2.0, max_polls: int | None = None,
            idle_timeout: float | None = None, on_poll: Any = None) -> MonitorSummary:
        """``follow=False``: one pass over what is there. ``follow=True``: poll every
        ``poll_interval`` s until ``max_polls`` polls, or ``idle_timeout`` s without new records,
        or Ctrl-C; the state is saved after every batch either way."""
        start = time.perf_counter()
        polls = 0
        last_new = time.monotonic()
        try:
            while True:
                polls += 1
                last_poll = not follow or (max_polls is not None and polls >= max_polls)
                got = self.poll(final=last_poll or self.input.is_stdin)
                if on_poll is not None:
                    on_poll(polls, got)
                if got:
                    last_new = time.monotonic()
                if last_poll or self.input.is_stdin:
                    break
                if idle_timeout is not None and time.monotonic() - last_new >= idle_timeout:
                    self.poll(final=True)  # take a last line that never got its newline
                    break
                time.sleep(poll_interval)
        except KeyboardInterrupt:
            self.summary.warnings.append("stopped by Ctrl-C; run the same command again to continue.")
        finally:
            self.summary.session_seconds = time.perf_counter() - start
            self._save_state()
            atomic_write_text(self.out / "summary.md", self.summary.markdown())
        return self.summary

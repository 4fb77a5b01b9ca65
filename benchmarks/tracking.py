"""What a tracker costs a run: the README's main job (reduced to a few epochs) without tracking,
with ``--track mlflow`` pointing at a dead server, and with ``--track mlflow`` on the local SQLite
store, side by side in one session (alternating order, medians), each in a fresh process so that
imports count as they would for a user.

Target: dead server <= untracked + 10 s, with exactly one warning naming the tracker.

    python benchmarks/tracking.py --epochs 2 --repeats 2                  # MiniLM, examples/financial_news.csv
    python benchmarks/tracking.py --backbone tiny-bert --epochs 3         # a quick check

Needs autoglm-plugin-mlflow installed. Runs offline; runs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIN_JOB = "识别金融新闻情感：正面、负面、中性，注重低延迟"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(mode: str, out: Path, args: argparse.Namespace, dead_uri: str) -> dict[str, object]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("AUTOGLM_TRACK", None)
    cmd = [sys.executable, "-m", "autoglm_core.cli.main", "run", MAIN_JOB, "--data", str(args.data), "--out", str(out),
           "--overwrite", "--epochs", str(args.epochs), "--no-progress"]
    if args.backbone:
        cmd += ["--backbone", args.backbone]
    if mode != "untracked":
        cmd += ["--track", "mlflow"]
    if mode == "dead-server":
        env["MLFLOW_TRACKING_URI"] = dead_uri
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    warnings = [w for w in report["warnings"] if "tracker 'mlflow'" in w]
    return {"mode": mode, "seconds": seconds, "tracker_warnings": len(warnings),
            "accuracy": (report.get("best") or {}).get("metrics", {}).get("accuracy"),
            "mlflow_db": (out / "mlflow.db").is_file()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "examples" / "financial_news.csv")
    ap.add_argument("--backbone", default=None, help="default: the main job's candidates (embedded MiniLM)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--modes", default="untracked,dead-server,local-sqlite")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tmp = Path(tempfile.mkdtemp(prefix="autoglm-tracking-bench-"))
    rows: list[dict[str, object]] = []
    for r in range(args.repeats):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for mode in order:
            row = run_once(mode, tmp / f"{mode}-{r}", args, dead)
            rows.append(row)
            print(f"  {mode:<13} {row['seconds']:7.1f} s  tracker warnings {row['tracker_warnings']}", flush=True)
    med = {m: statistics.median(float(x["seconds"]) for x in rows if x["mode"] == m) for m in modes}
    base = med.get("untracked")
    print(f"\nbackbone {args.backbone or 'main job candidates'}, {args.epochs} epochs, {args.repeats} repeat(s), "
          f"median wall time per run (fresh process):\n")
    print("| mode | seconds | vs untracked | tracker warnings |")
    print("|---|---|---|---|")
    for m in modes:
        warns = sorted({int(x["tracker_warnings"]) for x in rows if x["mode"] == m})
        delta = f"{med[m] - base:+.1f} s" if base is not None else "-"
        print(f"| {m} | {med[m]:.1f} | {delta} | {', '.join(map(str, warns))} |")
    ok = True
    if base is not None and "dead-server" in med:
        ok = med["dead-server"] - base <= 10.0 and all(x["tracker_warnings"] == 1 for x in rows
                                                        if x["mode"] == "dead-server")
        print(f"\ndead server within 10 s of untracked, one warning: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The test tiers (docs/contributing.md says which to run when).
#   bash scripts/test.sh fast   # `-m "not slow"`, 2 xdist workers: before each commit (under 5 minutes here)
#   bash scripts/test.sh slow   # the end-to-end, multi-process and real-data tests
#   bash scripts/test.sh        # both, one after the other: the full suite (what CI runs)
# Extra arguments go to pytest. Each tier prints its wall time; the full run prints the total.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
tier="${1:-all}"
[ $# -gt 0 ] && shift

run_tier() {  # name, then pytest arguments; prints "<name> tier: N s"
  local name="$1"; shift
  local start rc
  start=$(date +%s)
  "$PY" -m pytest -q -ra "$@"
  rc=$?
  [ "$rc" = 5 ] && rc=0  # no test selected is not a failure of the tier
  echo "$name tier: $(( $(date +%s) - start )) s (exit $rc)"
  return "$rc"
}

case "$tier" in
  # the fast tests are light enough to share the cores: two workers halve the wall time
  fast) run_tier fast -m "not slow" -n 2 "$@" ;;
  # the slow ones start processes, time their own steps and fill the cores: one at a time
  slow) run_tier slow -m slow --durations=20 "$@" ;;
  all)
    start=$(date +%s)
    run_tier fast -m "not slow" -n 2 --durations=20 "$@"; fast=$?
    run_tier slow -m slow --durations=20 "$@"; slow=$?
    echo "full suite: $(( $(date +%s) - start )) s"
    [ "$fast" = 0 ] && [ "$slow" = 0 ] ;;
  *) echo "usage: bash scripts/test.sh [fast|slow|all] [pytest args...]" >&2; exit 2 ;;
esac

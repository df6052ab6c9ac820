#!/usr/bin/env bash
# Regenerates models/stories260K/ (the bundled TinyStories Llama, see its README.md): copies the checkpoint from
# ../shared/reference/models/stories260K (sha256-checked), samples its own stories (seeded), checks the torch Llama
# against tools/reference and the engine, head scores, transcoders, feature dashboards (the engine's CLI), card.
# Needs Debian's /usr/bin/python3 with python3-torch, python3-numpy, python3-yaml, and node (dist/cli.js is built
# when missing). One CPU thread; about 12 minutes on the project's shared 2-core machine.
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-/usr/bin/python3}
ROOT=$(cd ../../.. && pwd)
MODEL=${STORIES_MODEL_DIR:-$ROOT/models/stories260K}
mkdir -p build
[ -f "$ROOT/dist/cli.js" ] || (cd "$ROOT" && npm run build)
declare -A T
ORDER=()
stage() { local name=$1; shift; local t0; t0=$(date +%s); echo "== stories260K $name"; "$@"; T[$name]=$(( $(date +%s) - t0 )); ORDER+=("$name"); }
features() {
  rm -rf "$MODEL/features"
  node "$ROOT/dist/cli.js" features --model "$MODEL" --corpus "$MODEL/eval/heldout_tokens.u16" --out "$MODEL/features" --pack --threads 1
}
stage prepare "$PY" prepare.py
stage check "$PY" check.py
stage analyze "$PY" analyze.py
stage transcoders "$PY" transcoders.py
stage features features
{ echo "{"; first=1; for k in "${ORDER[@]}"; do
    [ $first = 1 ] || echo ","; first=0; echo "\"$k\": ${T[$k]}"; done; echo "}"; } > build/times.json
"$PY" card.py
du -sh "$MODEL"

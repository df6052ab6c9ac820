#!/usr/bin/env bash
# Regenerates models/mechlens-tiny/ from scratch: English sources (installed from apt / npm) + synthetic corpus +
# eval prompts + tokenizer, model training (wall-clock budget from config.json), evaluation + head analysis,
# transcoders, feature dashboards (the engine's CLI), card.json + README.md.
# Needs Debian's /usr/bin/python3 with python3-torch (1.13), python3-numpy, python3-yaml; root (or sudo) for
# apt-get and npm for the text sources; node with `npm install` for the tokenizer cross-check and the feature
# dashboards. Seeded; runs on 1 CPU thread (~75 min).
set -euo pipefail
WHAT=${1:-all}  # all | tiny (the default model only) | stories260K (the second bundled model only)
case $WHAT in all|tiny|stories260K) ;; *) echo "usage: run_all.sh [all|tiny|stories260K]" >&2; exit 2;; esac
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-/usr/bin/python3}
ROOT=$(cd ../.. && pwd)
MODEL_DIR=$(cd "$ROOT" && mkdir -p "${MECHLENS_MODEL_DIR:-models/mechlens-tiny}" && cd "${MECHLENS_MODEL_DIR:-models/mechlens-tiny}" && pwd)
mkdir -p build
declare -A T
stage() { local name=$1; shift; local t0=$(date +%s); echo "== $name"; "$@"; T[$name]=$(( $(date +%s) - t0 )); }
features() {
  [ -f "$ROOT/dist/cli.js" ] || (cd "$ROOT" && npm run build)
  rm -rf "$MODEL_DIR/features"
  (cd "$ROOT" && node dist/cli.js features --model "$MODEL_DIR" --corpus "$MODEL_DIR/eval/heldout_tokens.u16" \
    --out "$MODEL_DIR/features" --pack)
}
if [ "$WHAT" != stories260K ]; then
  stage prepare "$PY" prepare.py
  stage check_tokenizer "$PY" check_tokenizer.py
  train() {  # phase 1, then (when config.json has "phase2") new rows and a second phase from phase 1's weights
    "$PY" train.py
    if "$PY" -c 'import json,sys; sys.exit(0 if "phase2" in json.load(open("config.json")) else 1)'; then
      cp "$MODEL_DIR/model.safetensors" build/phase1.safetensors
      MECHLENS_PHASE=2 "$PY" prepare.py
      MECHLENS_PHASE=2 MECHLENS_INIT_FROM="$PWD/build/phase1.safetensors" "$PY" train.py
    fi
  }
  stage train train
  stage analyze "$PY" analyze.py
  stage transcoders "$PY" transcoders.py
  stage features features
  { echo "{"; first=1; for k in prepare check_tokenizer train analyze transcoders features; do
      [ $first = 1 ] || echo ","; first=0; echo "\"$k\": ${T[$k]}"; done; echo "}"; } > build/times.json
  "$PY" card.py
fi
[ "$WHAT" = tiny ] || stage stories260K bash stories260k/run.sh  # the second bundled model, models/stories260K (stage times in its own card)
du -sh "$MODEL_DIR"
echo "done"

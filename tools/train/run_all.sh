#!/usr/bin/env bash
# Regenerates models/mechlens-tiny/ from scratch: corpus + eval prompts + tokenizer, model training,
# evaluation + head analysis, transcoders + feature data, card.json + README.md.
# Needs Debian's /usr/bin/python3 with python3-torch (1.13), python3-numpy, python3-yaml; optionally node with
# node_modules/@huggingface/tokenizers to cross-check the tokenizer. Seeded; runs on 1 CPU thread (~60 min).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-/usr/bin/python3}
mkdir -p build
declare -A T
stage() { local name=$1; shift; local t0=$(date +%s); echo "== $name"; "$@"; T[$name]=$(( $(date +%s) - t0 )); }
stage prepare "$PY" prepare.py
stage check_tokenizer "$PY" check_tokenizer.py
stage train "$PY" train.py
stage analyze "$PY" analyze.py
stage transcoders "$PY" transcoders.py
{ echo "{"; first=1; for k in prepare check_tokenizer train analyze transcoders; do
    [ $first = 1 ] || echo ","; first=0; echo "\"$k\": ${T[$k]}"; done; echo "}"; } > build/times.json
"$PY" card.py
du -sh "${MECHLENS_MODEL_DIR:-../../models/mechlens-tiny}"
echo "done"

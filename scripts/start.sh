#!/bin/bash
# One command on a fresh machine: install dependencies, build, and open VS Code with MechLens on its
# bundled default model.
#   - desktop VS Code (`code` on PATH): a window with MechLens loaded from this folder
#     (--extensionDevelopmentPath);
#   - otherwise: code-server (VS Code in the browser, set up by test/e2e/setup.sh under .tools/) with the
#     packaged VSIX installed, on 127.0.0.1:$PORT; it prints the URL and runs until Ctrl+C.
# Env: PORT (default 8080), MECHLENS_WEB=1 forces code-server, ONNXRUNTIME_NODE_INSTALL (default skip;
# cuda12 downloads the CUDA provider on a machine with internet).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { echo "[mechlens] $*"; }

if [ ! -d node_modules/onnxruntime-node ] || [ ! -d node_modules/esbuild ]; then
  say "installing dependencies (npm ci)"
  ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL:-skip} npm ci --no-audit --no-fund
fi
[ -f models/mechlens-tiny/model.safetensors ] || say "warning: models/mechlens-tiny/model.safetensors is missing; the default model will not load"

STATE="$ROOT/.e2e/start"
WS="$STATE/workspace"
mkdir -p "$WS"
[ -f "$WS/hello.mlprompt" ] || printf 'When Mary and John went to the store, John gave the drink to' > "$WS/hello.mlprompt"

if command -v code >/dev/null && [ -z "${MECHLENS_WEB:-}" ]; then
  say "building"
  npm run --silent build
  say "opening VS Code with MechLens (run \"MechLens: Run Prompt\" on hello.mlprompt)"
  exec code --extensionDevelopmentPath="$ROOT" --new-window "$WS" "$WS/hello.mlprompt"
fi

say "no desktop 'code' on PATH: using code-server (VS Code in the browser)"
bash test/e2e/setup.sh
say "packaging the extension (npm run package)"
npm run --silent package >/dev/null
PORT=${PORT:-8080}
bash test/e2e/startCodeServer.sh "$STATE" "$PORT" --force --install-extension "$ROOT/mechlens-linux-x64.vsix" >/dev/null
say "open http://127.0.0.1:$PORT/?folder=$WS in a browser (over SSH: ssh -L $PORT:127.0.0.1:$PORT <host>)"
say "then open hello.mlprompt and press Ctrl+Alt+Enter (MechLens: Run Prompt). Ctrl+C stops the server."
exec bash test/e2e/startCodeServer.sh "$STATE" "$PORT" "$WS"

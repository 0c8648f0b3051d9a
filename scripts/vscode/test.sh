#!/usr/bin/env bash
# `npm run test:vscode`: the extension-host suite in a real VS Code (code-server 4.100.3 driven by
# Debian's chromium): install if missing -> build -> fixture workspace -> start -> run -> stop.
# Exits non-zero on any failure; never leaves code-server running.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
export E2E_HOME=${E2E_HOME:-$ROOT/.e2e/vscode} STATE=${STATE:-$ROOT/.e2e/run} WS=${WS:-$ROOT/.e2e/ws}
export PORT=${PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
[ -f "$E2E_HOME/cs/.installed-${CS_VERSION:-4.100.3}" ] || "$HERE/install.sh" "$E2E_HOME"
node esbuild.mjs                       # dist/extension.js + dist/worker.js, as loaded by the extension host
node "$HERE/build-tests.mjs"
npx tsx test/vscode/fixture.ts "$WS"
"$HERE/start.sh"
trap '"$HERE/stop.sh"' EXIT
export XDG_CONFIG_HOME="$STATE/xdg/browser"   # chromium writes 'Crash Reports' under $XDG_CONFIG_HOME/chromium
S0=$(date +%s.%N)
rc=0
node "$HERE/run-ext-tests.cjs" "http://127.0.0.1:$PORT" "$WS" "$ROOT" "$ROOT/.e2e/out/test/vscode/index.js" || rc=$?
awk -v a="$S0" -v b="$(date +%s.%N)" 'BEGIN { printf "vscode suite (workbench + extension-host tests): %.1f s\n", b - a }'
echo "test:vscode total $(elapsed) s, rc=$rc"
exit $rc

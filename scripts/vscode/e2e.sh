#!/usr/bin/env bash
# `npm run test:e2e`: UI tests in the real workbench (test/e2e/ui.e2e.cjs): code-server 4.100.3 with the
# extension loaded from source, driven by Debian's chromium; screenshots of each step in test-output/e2e/.
# install if missing -> build -> start (the test writes its workspace first) -> run -> stop.
# usage: e2e.sh [test file]   (default test/e2e/ui.e2e.cjs; scripts/vscode/e2e-trust.sh runs the
# Restricted Mode test with workspace trust on)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
export E2E_HOME=${E2E_HOME:-$ROOT/.e2e/vscode} STATE=${STATE:-$ROOT/.e2e/run-ui} WS=${WS:-$ROOT/.e2e/ws-ui}
export PORT=${PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
T0=$(date +%s.%N)
[ -f "$E2E_HOME/cs/.installed-${CS_VERSION:-4.100.3}" ] || "$HERE/install.sh" "$E2E_HOME"
[ "${SKIP_BUILD:-}" = 1 ] || node esbuild.mjs
mkdir -p "$WS"                         # ui.e2e.cjs rebuilds it before the workbench opens it
"$HERE/start.sh"
trap '"$HERE/stop.sh"' EXIT
export XDG_CONFIG_HOME="$STATE/xdg/browser"
rc=0
TEST=${1:-test/e2e/ui.e2e.cjs}
node "$TEST" "http://127.0.0.1:$PORT" "$WS" "$ROOT" || rc=$?
awk -v a="$T0" -v b="$(date +%s.%N)" -v rc="$rc" -v t="$(basename "$TEST")" 'BEGIN { printf "test:e2e (%s) total %.1f s, rc=%s\n", t, b - a, rc }'
exit $rc

#!/usr/bin/env bash
# `npm start`: the extension in a real VS Code — code-server on 127.0.0.1 with the examples workspace,
# the extension loaded from source (extensionDevelopmentPath in the workbench `payload` URL, as the
# UI tests do). Prints the URL and runs until Ctrl-C, then stops code-server (its whole process group).
# env: PORT (default 8080), WS (default ./examples), E2E_HOME (code-server install prefix)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
export E2E_HOME=${E2E_HOME:-$ROOT/.e2e/vscode} STATE=${STATE:-$ROOT/.e2e/dev} WS=${WS:-$ROOT/examples} PORT=${PORT:-8080}
WS=$(cd "$WS" && pwd)
[ -f "$E2E_HOME/cs/.installed-${CS_VERSION:-4.100.3}" ] || "$HERE/install.sh" "$E2E_HOME"
node esbuild.mjs
"$HERE/start.sh"
stopped=0
cleanup() { [ "$stopped" = 1 ] && return; stopped=1; echo; echo "stopping code-server…"; "$HERE/stop.sh"; echo "stopped"; }
trap cleanup EXIT
trap 'exit 0' INT TERM
URL=$(node -e '
const [port, ws, dev] = process.argv.slice(1);
const payload = [["extensionDevelopmentPath", `vscode-remote://127.0.0.1:${port}${dev}`]];
console.log(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
' "$PORT" "$WS" "$ROOT")
cat <<MSG

Distill Studio is running in VS Code (code-server, extension loaded from $ROOT):

  $URL

Open it in a browser (on another machine: ssh -L $PORT:127.0.0.1:$PORT, then the same URL).
After editing the source: npm run build (or npm run watch), then "Developer: Reload Window".
Ctrl-C stops code-server.
MSG
PID=$(cat "$STATE/code-server.pid")
while kill -0 "$PID" 2>/dev/null; do sleep 1; done
echo "code-server exited (log: $STATE/code-server.log)"

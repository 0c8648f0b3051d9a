#!/usr/bin/env bash
# Stops the code-server started by start.sh: its whole process group (wrapper, server, extension
# hosts, file watchers, engine workers). setsid made the wrapper a group leader: PGID == its PID.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STATE=${STATE:-$ROOT/.e2e/run}
PGID=$(cat "$STATE/code-server.pid" 2>/dev/null) || exit 0
rm -f "$STATE/code-server.pid"
kill -TERM -- "-$PGID" 2>/dev/null || exit 0
for _ in $(seq 1 30); do pgrep -g "$PGID" >/dev/null || exit 0; sleep 0.5; done
kill -KILL -- "-$PGID" 2>/dev/null; exit 0

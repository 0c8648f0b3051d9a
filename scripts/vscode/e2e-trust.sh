#!/usr/bin/env bash
# `npm run test:e2e:trust`: Restricted Mode in the real workbench — code-server started WITH
# workspace trust (no --disable-workspace-trust, security.workspace.trust.enabled on), the folder
# left untrusted; test/e2e/trust.e2e.cjs opens every command and panel and checks that the
# workspace's model module never runs until trust is granted from a panel's button.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export TRUST=1 STATE=${STATE:-$ROOT/.e2e/run-trust} WS=${WS:-$ROOT/.e2e/ws-trust}
exec "$HERE/e2e.sh" test/e2e/trust.e2e.cjs

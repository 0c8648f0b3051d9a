#!/usr/bin/env bash
# Installs a real VS Code for the extension-host tests, offline-safe (only npm + Debian apt needed):
# code-server 4.100.3 (= VS Code 1.100.3 server + web workbench) into $E2E_HOME (default ./.e2e/vscode).
# playwright-core (drives Debian's chromium) and mocha are project devDependencies.
# Idempotent: each step is skipped when its result is already there. Timings go to install-times.txt.
# Usage: scripts/vscode/install.sh [PREFIX]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=${1:-${E2E_HOME:-$ROOT/.e2e/vscode}}
CS_VERSION=${CS_VERSION:-4.100.3}          # the last line that supports Node 20 (newer need Node 22)
NPM_FLAGS="--no-audit --no-fund --loglevel=error"
mkdir -p "$PREFIX"; PREFIX=$(cd "$PREFIX" && pwd)
TIMES="$PREFIX/install-times.txt"
now() { date +%s.%N; }
step() { local s; s=$(now); echo "== $*"; "$@"; awk -v a="$s" -v b="$(now)" -v n="$*" 'BEGIN { printf "TIME %6.1fs  %s\n", b - a, n }' | tee -a "$TIMES"; }
T0=$(now)

# 1. Debian packages: chromium (the browser), ripgrep (replaces @vscode/ripgrep's GitHub download),
#    libkrb5-dev + build tools (native modules are compiled by node-gyp: no prebuilt downloads).
APT_PKGS=(chromium ripgrep libkrb5-dev build-essential python3 fonts-dejavu-core)
apt_pkgs() {
  if dpkg -s "${APT_PKGS[@]}" >/dev/null 2>&1; then echo "apt packages present"; return; fi
  [ "$(id -u)" = 0 ] || { echo "install as root: apt-get install ${APT_PKGS[*]}"; exit 1; }
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PKGS[@]}" >/dev/null
}
step apt_pkgs

CS_DIR="$PREFIX/cs"
STAMP="$CS_DIR/.installed-$CS_VERSION"
VSC="$CS_DIR/node_modules/code-server/lib/vscode"

# 2. code-server itself with ALL install scripts disabled (its postinstall would fetch ripgrep from GitHub)
cs_pkg() {
  mkdir -p "$CS_DIR" && cd "$CS_DIR"
  [ -f package.json ] || echo '{"name":"cs-host","private":true}' > package.json
  npm install --ignore-scripts $NPM_FLAGS "code-server@$CS_VERSION"
  # argon2 is require()d at startup even with --auth none; node-pre-gyp would try GitHub first
  npm_config_build_from_source=true npm rebuild argon2 $NPM_FLAGS
}

# 3. what code-server's postinstall.sh does, by hand
vscode_deps() {
  cd "$VSC"
  npm install --ignore-scripts --omit=dev $NPM_FLAGS
  # @vscode/ripgrep's postinstall exits early when bin/ exists -> give it Debian's rg
  mkdir -p node_modules/@vscode/ripgrep/bin && cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
  # compile the native modules (node-pty, spdlog, kerberos, native-watchdog, ...); npm_config_yes lets
  # node-pty's postinstall `npx node-gyp` take node-gyp from the npm registry
  npm_config_yes=true npm rebuild $NPM_FLAGS
  ln -sfn node_modules node_modules.asar
  (cd bin/remote-cli && ln -sfn code-linux.sh code-server)
  (cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
  (cd extensions && npm install --omit=dev $NPM_FLAGS)   # typescript for the built-in TS extension
}

if [ -f "$STAMP" ]; then
  echo "code-server $CS_VERSION already installed in $CS_DIR"
else
  : > "$TIMES"
  rm -rf "$CS_DIR"
  step cs_pkg
  step vscode_deps
  XDG_CONFIG_HOME="$PREFIX/xdg/config" XDG_DATA_HOME="$PREFIX/xdg/data" \
    "$CS_DIR/node_modules/.bin/code-server" --config /dev/null --version
  touch "$STAMP"
  awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "TIME %6.1fs  total install\n", b - a }' | tee -a "$TIMES"
  du -sh "$CS_DIR" | tee -a "$TIMES"
fi

# 4. the browser driver and the test runner: project devDependencies (npm ci installs them)
for m in playwright-core mocha; do
  [ -d "$ROOT/node_modules/$m" ] || { echo "missing node_modules/$m: run npm install in $ROOT"; exit 1; }
done

#!/usr/bin/env bash
# `npm run test:python`: the PyTorch engine's tests (python/tests, pytest) with an interpreter
# that can import torch. The first `python3` on PATH may be another interpreter without torch (a
# version manager's shim), so candidates are tried in order and the one picked is printed:
#   1. $DISTILL_PYTHON when set (then it is the only candidate: a wrong choice fails, not skips);
#   2. /usr/bin/python3 (Debian's python3-torch lives there);
#   3. every python3 on PATH, in PATH order.
# No candidate with torch: outside CI the tests are skipped with the reason and the fix (exit 0),
# so `npm test` still runs on a machine without Python; with CI=true it is a failure.
# OPENBLAS_* variables are passed through untouched (older OpenBLAS builds need them on some CPUs).
set -uo pipefail
cd "$(dirname "$0")/.."

INSTALL_HINT="apt-get install python3-torch python3-torchvision python3-pytest libopenblas0-openmp (Debian 12), or set DISTILL_PYTHON to an interpreter with torch >= 1.13 and pytest"

candidates=()
if [ -n "${DISTILL_PYTHON:-}" ]; then
  candidates+=("$DISTILL_PYTHON")
else
  [ -x /usr/bin/python3 ] && candidates+=(/usr/bin/python3)
  while IFS= read -r p; do
    [ -n "$p" ] && [ "$p" != /usr/bin/python3 ] && candidates+=("$p")
  done < <(type -ap python3 2>/dev/null | awk '!seen[$0]++')
fi

picked=""
tried=()
for py in "${candidates[@]}"; do
  out=$("$py" -c 'import torch; print(torch.__version__)' 2>&1)
  status=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  if [ "$status" = 0 ]; then
    picked="$py"
    torch_version="$last"
    break
  fi
  tried+=("$py: ${last:-exited with status $status}")
done

if [ -z "$picked" ]; then
  {
    echo "test:python: no Python interpreter here can import torch."
    if [ ${#tried[@]} -eq 0 ]; then echo "  (no python3 found: not at /usr/bin/python3, not on PATH)"; fi
    for t in "${tried[@]}"; do echo "  tried $t"; done
    echo "  fix: $INSTALL_HINT"
  } >&2
  if [ -n "${DISTILL_PYTHON:-}" ]; then
    echo "test:python: FAILED — DISTILL_PYTHON names an interpreter without torch." >&2
    exit 1
  fi
  if [ "${CI:-}" = "true" ]; then
    echo "test:python: FAILED — CI=true, and the PyTorch engine's tests must run in CI (.ci/run installs the packages as root)." >&2
    exit 1
  fi
  echo "test:python: SKIPPED (not in CI). The TF.js engine and everything else are tested without Python." >&2
  exit 0
fi

echo "test:python: $picked ($("$picked" -c 'import sys; print(sys.version.split()[0])'), torch $torch_version)"
if ! "$picked" -c 'import pytest' 2>/dev/null; then
  echo "test:python: FAILED — $picked has torch but not pytest; fix: apt-get install python3-pytest (or pip install pytest in that environment)." >&2
  exit 1
fi
# No .pytest_cache in the repository; python/ on sys.path so `import distill_torch` resolves as the engine's does.
PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" exec "$picked" -m pytest -p no:cacheprovider python/tests -q "$@"

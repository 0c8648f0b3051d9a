#!/usr/bin/env bash
# Stops the one-node cluster of scripts/slurm/start-local.sh FOLDER: slurmd and slurmctld by their
# pid files (and munged when that script started it), waiting up to 30 s for each to exit.
#   scripts/slurm/stop-local.sh FOLDER [--remove]     (--remove: delete FOLDER afterwards)
set -euo pipefail
dir="${1:?usage: stop-local.sh FOLDER [--remove]}"
stop_pid_file() {
  local f="$1"
  [ -f "$f" ] || return 0
  local pid
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  local end=$(( $(date +%s) + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "stop-local.sh: pid $pid ($f) did not exit in 30 s: SIGKILL" >&2
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}
stop_pid_file "$dir/slurmd.pid"
stop_pid_file "$dir/slurmctld.pid"
if [ -f "$dir/munged.ours" ]; then
  stop_pid_file /run/munge/munged.pid
  rm -f "$dir/munged.ours"
fi
if [ "${2:-}" = "--remove" ]; then rm -rf "$dir"; fi
echo "slurm: stopped ($dir)"

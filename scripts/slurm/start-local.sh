#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine, its state in a temporary folder (issue 15: the
# Slurm sweep test, and trying `distill sweep --executor slurm` without a cluster). Debian 12's
# slurm-wlm + munge, as root (slurmd runs the jobs as their owner, so it must be root):
#   munge key (/etc/munge/munge.key, 1024 bytes, munge:munge, mode 400) → munged as the munge user
#   → slurm.conf in the folder → slurmctld, slurmd → waits (with a deadline) until sinfo shows the
#   node idle.
#
#   scripts/slurm/start-local.sh [FOLDER]      (default: a new mktemp -d folder)
#
# Prints the folder on its last line; `source FOLDER/env` points the Slurm commands (sbatch, squeue,
# scancel, sinfo) at this cluster (SLURM_CONF). Stop it with scripts/slurm/stop-local.sh FOLDER.
# Environment: SLURM_LOCAL_PORT (slurmctld's port, default 6817; slurmd uses the next one),
# SLURM_LOCAL_DEADLINE (seconds to wait for the idle node, default 60).
#
# Exit codes: 0 started; 3 not root; 4 a package is missing (which one is printed); 5 a daemon did
# not start or the node did not become idle in time (its log's tail is printed).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "start-local.sh: needs root (slurmd runs jobs as their owner, munged's key is in /etc/munge); running as uid $(id -u)" >&2
  exit 3
fi
for cmd in munged slurmctld slurmd sinfo sbatch squeue scancel; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    echo "start-local.sh: $cmd not found: install the Debian packages slurm-wlm and munge (apt-get install -y slurm-wlm munge)" >&2
    exit 4
  fi
done
export PATH="$PATH:/usr/sbin"

dir="${1:-$(mktemp -d /tmp/distill-slurm.XXXXXX)}"
mkdir -p "$dir/state" "$dir/spool"
dir="$(cd "$dir" && pwd)"
host="$(hostname -s)"
cpus="$(nproc)"
mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
port="${SLURM_LOCAL_PORT:-6817}"
deadline_s="${SLURM_LOCAL_DEADLINE:-60}"

fail() {
  echo "start-local.sh: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 20 "$2" >&2
  exit 5
}

# munge: one key for the machine; munged as the munge user (reused when it already runs).
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n </dev/null >/dev/null 2>&1; then
  su -s /bin/sh munge -c "/usr/sbin/munged" || fail "munged did not start" /var/log/munge/munged.log
  touch "$dir/munged.ours"
  end=$(( $(date +%s) + deadline_s ))
  until munge -n </dev/null >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || fail "munged does not answer after ${deadline_s} s" /var/log/munge/munged.log
    sleep 0.2
  done
fi

cat > "$dir/slurm.conf" <<CONF
# written by scripts/slurm/start-local.sh: a one-node cluster for tests
ClusterName=distill-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=30
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
echo "export SLURM_CONF=$dir/slurm.conf" > "$dir/env"
export SLURM_CONF="$dir/slurm.conf"

slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start" "$dir/slurmctld.log"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start" "$dir/slurmd.log"

end=$(( $(date +%s) + deadline_s ))
state=""
until [ "$state" = "idle" ]; do
  if [ "$(date +%s)" -ge "$end" ]; then
    echo "start-local.sh: node $host is '${state:-unknown}', not idle, after ${deadline_s} s; slurmctld.log:" >&2
    tail -n 10 "$dir/slurmctld.log" >&2 || true
    fail "slurmd.log:" "$dir/slurmd.log"
  fi
  sleep 0.5
  state="$(sinfo -h -N -n "$host" -o '%t' 2>/dev/null | head -n 1 | tr -d '*~#' || true)"
done
echo "slurm: node $host idle ($cpus CPUs, ${mem_mb} MB), partition local; source $dir/env"
echo "$dir"

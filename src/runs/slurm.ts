/**
 * Slurm, as the sweeps use it (issue 15): one job array per submission (`sbatch --array`), each task
 * `node <dist>/cli.js sweep-point <sweep-folder> <index>` writing into the sweep folder on the
 * shared filesystem; the queue read with `squeue` (and `sacct` where accounting is on); cancelled
 * with `scancel`. Only the Slurm commands' documented options are used, so any Slurm ≥ 20 works.
 *
 * Kept apart from the orchestration (src/cli/sweepExecutors.ts) so the extension can cancel a
 * sweep's jobs (`cancelSweepJobs`) without the CLI.
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { ClusterConfig } from '../config/types';
import { readSweep } from './sweeps';

/** Runs a Slurm command; its trimmed stdout, or throws with its stderr. */
export function slurmCommand(cmd: string, args: string[]): string {
  const r = cp.spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? `${cmd} not found: Slurm's client commands must be on PATH (Debian: apt-get install slurm-client)` : `${cmd}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

/** `0-2`, `1,3-4`: the --array value of some point indices. */
export function arraySpec(indices: number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The sbatch options of a task from the experiment's `cluster` section (CLI flags already merged in). */
export function sbatchResourceLines(c: ClusterConfig): string[] {
  return [
    ...(c.partition ? [`--partition=${c.partition}`] : []),
    `--cpus-per-task=${c.cpusPerTask ?? 1}`,
    ...(c.gpusPerTask ? [`--gpus-per-task=${c.gpusPerTask}`] : []),
    ...(c.time ? [`--time=${c.time}`] : []),
    ...(c.memoryMB ? [`--mem=${c.memoryMB}M`] : []),
  ];
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface ArrayJob {
  sweepDir: string;
  name: string;
  indices: number[];
  cluster: ClusterConfig;
  /** node and the CLI bundle every task runs. */
  node: string;
  cli: string;
  /** Extra arguments of `sweep-point` (--backend, --python). */
  pointArgs: string[];
  /** `afterany:<id>`: start once that job ended (the point that trains the shared teacher). */
  dependency?: string;
}

/**
 * The batch script of a job array: each task runs its point (`$SLURM_ARRAY_TASK_ID` is the point's
 * index) and its output goes to `<sweep>/slurm/<job>_<index>.out`. `exec` makes `distill
 * sweep-point` the batch step itself, so `scancel --batch --signal=INT` reaches it and it stops the
 * point cleanly (checkpoint, status cancelled).
 */
export function arrayScript(j: ArrayJob): string {
  const logs = path.join(j.sweepDir, 'slurm');
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${`distill-${j.name}`.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
    `#SBATCH --array=${arraySpec(j.indices)}`,
    `#SBATCH --output=${path.join(logs, '%A_%a.out')}`,
    `#SBATCH --chdir=${j.sweepDir}`,
    '#SBATCH --ntasks=1',
    ...sbatchResourceLines(j.cluster).map((l) => `#SBATCH ${l}`),
    ...(j.dependency ? [`#SBATCH --dependency=${j.dependency}`] : []),
    '# written by `distill sweep --executor slurm`: one task per point of the sweep folder',
    `exec ${shq(j.node)} ${shq(j.cli)} sweep-point ${shq(j.sweepDir)} "$SLURM_ARRAY_TASK_ID"${j.pointArgs.map((a) => ` ${shq(a)}`).join('')}`,
    '',
  ];
  return lines.join('\n');
}

/** Writes the script into `<sweep>/slurm/` and submits it; the job id and where its files are. */
export function submitArray(j: ArrayJob): { jobId: string; script: string; logs: string } {
  const logs = path.join(j.sweepDir, 'slurm');
  fs.mkdirSync(logs, { recursive: true });
  let n = 1;
  while (fs.existsSync(path.join(logs, `array-${n}.sh`))) n++;
  const script = path.join(logs, `array-${n}.sh`);
  fs.writeFileSync(script, arrayScript(j), { mode: 0o755 });
  const out = slurmCommand('sbatch', ['--parsable', script]);
  const jobId = out.split(';')[0].trim(); // `<id>` or `<id>;<cluster>`
  if (!/^\d+$/.test(jobId)) throw new Error(`sbatch answered "${out}", not a job id`);
  return { jobId, script, logs };
}

/** A task's state in the queue: `PENDING`, `RUNNING`, … (squeue's words). */
export type TaskStates = Map<number, string>;

/**
 * The array's tasks still in the queue (pending, running, completing), by point index; empty when
 * the job has left the queue. `squeue -r` lists one line per task (`<job>_<index>`); a pending
 * range is expanded too.
 */
export function queuedTasks(jobId: string): TaskStates {
  const states: TaskStates = new Map();
  let out: string;
  try {
    out = slurmCommand('squeue', ['-h', '-r', '-j', jobId, '-o', '%i|%T']);
  } catch (e) {
    // a job that left the queue long ago is no longer known to squeue
    if (/Invalid job id/i.test((e as Error).message)) return states;
    throw e;
  }
  for (const line of out.split('\n')) {
    const m = /^(\d+)_(\d+)\|(\S+)$/.exec(line.trim());
    if (m && m[1] === jobId) states.set(Number(m[2]), m[3]);
  }
  return states;
}

/** What sacct knows of the array's tasks (state, exit code), or undefined where accounting is off. */
export function accountedTasks(jobId: string): Map<number, { state: string; exitCode: string }> | undefined {
  try {
    const out = slurmCommand('sacct', ['-n', '-P', '-X', '-j', jobId, '-o', 'JobID,State,ExitCode']);
    const tasks = new Map<number, { state: string; exitCode: string }>();
    for (const line of out.split('\n')) {
      const [id, state, exitCode] = line.trim().split('|');
      const m = /^(\d+)_(\d+)$/.exec(id ?? '');
      if (m && m[1] === jobId) tasks.set(Number(m[2]), { state, exitCode });
    }
    return tasks;
  } catch {
    return undefined; // e.g. "Slurm accounting storage is disabled"
  }
}

/**
 * Stops a sweep's jobs: pending tasks are cancelled, running ones get SIGINT in their batch step
 * (`distill sweep-point` then checkpoints and marks its point cancelled); `hard` cancels outright
 * (Slurm's SIGTERM then SIGKILL after KillWait). Returns the job ids it asked about.
 */
export function cancelSweepJobs(sweepDir: string, hard = false): string[] {
  const jobs = (readSweep(sweepDir).executor?.jobs ?? []).map((j) => j.jobId);
  if (jobs.length === 0) return [];
  const calls = hard ? [jobs] : [['--state=PENDING', ...jobs], ['--batch', '--signal=INT', ...jobs]];
  for (const args of calls) {
    try {
      slurmCommand('scancel', args);
    } catch (e) {
      // a job that already ended (or has no running task to signal) is not an error here; no scancel is
      if (/not found: Slurm/.test((e as Error).message)) throw e;
    }
  }
  return jobs;
}

/** The log of one task: `<sweep>/slurm/<job>_<index>.out`. */
export function taskLog(sweepDir: string, jobId: string, index: number): string {
  return path.join(sweepDir, 'slurm', `${jobId}_${index}.out`);
}

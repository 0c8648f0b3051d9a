/**
 * Where the points of a sweep run (issue 15): `distill sweep … --executor local|slurm`.
 *
 * - `local`: up to `--parallel N` points at once, each point an ordinary run in its own engine
 *   process (the engine's `sweep-point` request), all writing into the sweep folder. Default N:
 *   max(1, floor(cores / CPUs per point)), CPUs per point = `cluster.cpusPerTask` (or
 *   `--cpus-per-task`), else 1 — a TF.js point keeps about one core busy.
 * - `slurm`: the points are one job array (`sbatch --array=<indices>`), each task running
 *   `node <dist>/cli.js sweep-point <sweep-folder> <index>`; this process waits, showing the points'
 *   progress from the sweep folder and the tasks' states from `squeue`.
 *
 * In both, when the first point trains the teacher every later point shares (sweeps.ts), that
 * point runs first by itself (locally: before the others start; on Slurm: its own array of one,
 * the others' array depending on it with `afterany`), so a parallel sweep gives the points the same
 * teacher a sequential one does. Without a teacher to train (a pre-trained one, or one the sweep
 * varies) it is a single array.
 *
 * This process owns the sweep folder while it waits (the sweep lock); the points lock themselves.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'jsonc-parser';
import type { BackendName, ClusterConfig } from '../config/types';
import type { EngineToHost } from '../protocol/engine';
import { lockSweep } from '../runs/lock';
import { finishSweep, readSweep, sweepVariesTeacher, updateSweep } from '../runs/sweeps';
import type { SweepJson } from '../runs/sweeps';
import { teacherShareable } from '../runs/sweepTeacher';
import { accountedTasks, cancelSweepJobs, queuedTasks, submitArray, taskLog } from '../runs/slurm';
import { runInEngine } from './engineClient';
import { pct } from './format';

export type ExecutorKind = 'local' | 'slurm';
export const EXECUTORS: readonly ExecutorKind[] = ['local', 'slurm'];

/** A bad flag value (main.ts turns it into its usage error). */
export class SweepFlagError extends Error {}

export interface ExecutorOptions {
  kind: ExecutorKind;
  /** local: points at once (default: defaultParallel). */
  parallel?: number;
  /** slurm: CLI flags over the experiment's `cluster` section. */
  cluster: ClusterConfig;
  backend?: BackendName;
  python?: string;
  /** slurm: seconds between two looks at the queue (default 2). */
  pollSeconds?: number;
}

/** --executor, --parallel and the cluster flags; undefined executor = the one-process queue of before. */
export function executorFlags(flags: Record<string, string>): { executor?: ExecutorKind; parallel?: number; cluster: ClusterConfig } {
  const ex = flags.executor;
  if (ex !== undefined && !EXECUTORS.includes(ex as ExecutorKind)) throw new SweepFlagError(`--executor: expected one of ${EXECUTORS.join(', ')}, found "${ex}"`);
  const int = (name: string, min: number): number | undefined => {
    const v = flags[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new SweepFlagError(`--${name}: expected an integer ≥ ${min}, found "${v}"`);
    return n;
  };
  const parallel = int('parallel', 1);
  const cluster: ClusterConfig = {};
  if (flags.partition !== undefined) {
    if (!/^[A-Za-z0-9_.-]+$/.test(flags.partition)) throw new SweepFlagError(`--partition: expected a Slurm partition name (letters, digits, _ . -), found "${flags.partition}"`);
    cluster.partition = flags.partition;
  }
  if (flags.time !== undefined) {
    if (!SLURM_TIME.test(flags.time)) throw new SweepFlagError(`--time: expected a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), found "${flags.time}"`);
    cluster.time = flags.time;
  }
  const gpus = int('gpus-per-task', 0);
  const cpus = int('cpus-per-task', 1);
  const mem = int('memory-mb', 1);
  if (gpus !== undefined) cluster.gpusPerTask = gpus;
  if (cpus !== undefined) cluster.cpusPerTask = cpus;
  if (mem !== undefined) cluster.memoryMB = mem;
  const executor = (ex as ExecutorKind | undefined) ?? (parallel !== undefined ? 'local' : Object.keys(cluster).length ? 'slurm' : undefined);
  if (parallel !== undefined && executor === 'slurm') throw new SweepFlagError('--parallel is for --executor local (Slurm runs as many tasks at once as the cluster grants)');
  return { executor, ...(parallel !== undefined ? { parallel } : {}), cluster };
}

/** The same rule as the schema's `cluster.time`. */
export const SLURM_TIME = /^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2})$/;

/** Points at once by default: max(1, floor(cores / CPUs per point)). */
export function defaultParallel(cpusPerPoint = 1): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.floor(cores / Math.max(1, cpusPerPoint)));
}

/** The experiment's `cluster` section (as the sweep froze it) under the CLI's flags. */
export function clusterOf(sweep: SweepJson, flags: ClusterConfig): ClusterConfig {
  const root = parse(sweep.experimentText) as { cluster?: ClusterConfig } | undefined;
  return { ...(root?.cluster ?? {}), ...flags };
}

/** Whether the first point to run trains the teacher the later points share (then it runs alone first). */
export function teacherFirst(sweep: SweepJson): boolean {
  if (sweep.teacher || sweepVariesTeacher(sweep)) return false;
  return teacherShareable(sweep.experimentText); // src/runs/sweepTeacher.ts
}

const pending = (s: SweepJson): number[] => s.points.flatMap((p, i) => (p.status === 'completed' ? [] : [i]));

/** Stop handling while a sweep runs here: the first Ctrl-C stops cleanly, the second quits at once. */
function onInterrupt(first: () => void, second: () => void): () => void {
  let n = 0;
  const h = (): void => {
    n++;
    if (n === 1) first();
    else second();
  };
  process.on('SIGINT', h);
  process.on('SIGTERM', h);
  return () => {
    process.off('SIGINT', h);
    process.off('SIGTERM', h);
  };
}

/** An engine message of one point, as a line prefixed with the point. */
function pointLine(id: string, m: EngineToHost): string | undefined {
  switch (m.type) {
    case 'started': return `[${id}] run folder: ${m.runDir}`;
    case 'log': return m.level === 'debug' ? undefined : `[${id}] ${m.level === 'info' ? '' : `${m.level}: `}${m.message.trim()}`;
    case 'epoch': return `[${id}] ${m.job} epoch ${m.epoch}: loss ${m.metrics['loss.total']?.toFixed(4)}  test ${pct(m.metrics.testAcc)}  ${m.metrics.seconds.toFixed(1)} s`;
    case 'failed': return `[${id}] failed: ${m.error}`;
    default: return undefined;
  }
}

/**
 * Stop handling of a local executor while it runs points: the first Ctrl-C stops every running
 * point cleanly (checkpoint, cancelled) and starts no more; the second quits at once.
 */
export interface LocalControl {
  stopping: boolean;
  readonly live: Map<number, () => void>;
  release(): void;
}

export function localControl(log: (line: string) => void): LocalControl {
  const live = new Map<number, () => void>();
  const ctl: LocalControl = { stopping: false, live, release: () => undefined };
  ctl.release = onInterrupt(() => {
    ctl.stopping = true;
    log('stopping: every running point finishes its step and writes a checkpoint (Ctrl-C again to quit at once)');
    for (const stop of live.values()) stop();
  }, () => process.exit(130));
  return ctl;
}

/**
 * Runs the points `indices` of the sweep (the unfinished ones; a completed point is skipped by its
 * process) up to `parallel` at once, each in its own engine process (`sweep-point`), and records a
 * point whose process died without saying how it ended as failed. The point that trains the shared
 * teacher runs first, alone. Stops starting points once `ctl.stopping`. The caller holds the sweep lock.
 */
export async function runPointsLocal(dir: string, indices: number[], parallel: number, o: ExecutorOptions, log: (line: string) => void, ctl: LocalControl): Promise<void> {
  const sweep0 = readSweep(dir);
  const runOne = async (i: number): Promise<void> => {
    const id = sweep0.points[i].id;
    const engine = runInEngine({ sweep: dir, point: i, ...(o.backend ? { backend: o.backend } : {}), ...(o.python ? { python: o.python } : {}) }, (m) => {
      const line = pointLine(id, m);
      if (line) log(line);
    });
    ctl.live.set(i, engine.stop);
    const r = await engine.result;
    ctl.live.delete(i);
    if (r.status === 'failed' && r.error) log(`[${id}] ${r.kind === 'config' ? '' : 'failed: '}${r.error}`);
    // an engine that died without recording its point's end (a crash, a kill): the point failed
    if (r.status === 'failed' && r.kind === undefined) {
      updateSweep(dir, (s) => {
        const p = s.points[i];
        if (p.status !== 'running' && p.status !== 'pending') return;
        p.status = 'failed';
        p.error = r.error ?? 'the engine process ended without saying how the point ended';
      });
    }
  };
  const queue = indices.filter((i) => sweep0.points[i].status !== 'completed');
  if (teacherFirst(sweep0) && queue.length > 1 && !ctl.stopping) {
    log(`[${sweep0.points[queue[0]].id}] runs first, alone: it trains the teacher the other points share`);
    await runOne(queue.shift()!);
  }
  await Promise.all(Array.from({ length: Math.min(parallel, queue.length) }, async () => {
    while (!ctl.stopping && queue.length) await runOne(queue.shift()!);
  }));
}

/** The local executor's parallelism: the flag, else the default rule; recorded in sweep.json with the owner. */
export function startLocal(dir: string, o: ExecutorOptions): number {
  const parallel = o.parallel ?? defaultParallel(clusterOf(readSweep(dir), o.cluster).cpusPerTask);
  updateSweep(dir, (s) => {
    s.status = 'running';
    s.pid = process.pid;
    s.executor = { ...(s.executor ?? {}), kind: 'local', parallel };
  });
  return parallel;
}

/** Runs the sweep's unfinished points with the local executor; the sweep's final sweep.json. */
export async function runLocal(dir: string, o: ExecutorOptions, log: (line: string) => void): Promise<SweepJson> {
  const lock = lockSweep(dir);
  try {
    const parallel = startLocal(dir, o);
    const todo = pending(readSweep(dir));
    log(`executor local: ${todo.length} point${todo.length === 1 ? '' : 's'} to run, ${parallel} at once`);
    const ctl = localControl(log);
    try {
      await runPointsLocal(dir, todo, parallel, o, log, ctl);
    } finally {
      ctl.release();
    }
    return finishSweep(dir);
  } finally {
    lock.release();
  }
}

/** Where the CLI bundle is, for the tasks' command line (dist/cli.js). */
export function cliEntry(): string {
  for (const f of [path.join(__dirname, 'cli.js'), path.resolve(__dirname, '..', '..', 'dist', 'cli.js')]) {
    if (fs.existsSync(f)) return f;
  }
  throw new Error(`no dist/cli.js beside ${__dirname}: build the CLI first (npm run build); the Slurm tasks run it`);
}

/** Refuses to submit while jobs of an earlier submission are still queued (their waiter gone): the points would run twice. */
export function refuseStillQueued(dir: string): void {
  const sweep0 = readSweep(dir);
  const stillQueued = (sweep0.executor?.jobs ?? []).filter((j) => queuedTasks(j.jobId).size > 0).map((j) => j.jobId);
  if (stillQueued.length) {
    throw new Error(`sweep ${sweep0.name}/${sweep0.id}: Slurm job${stillQueued.length === 1 ? '' : 's'} ${stillQueued.join(', ')} of this sweep ${stillQueued.length === 1 ? 'is' : 'are'} still in the queue; ` +
      `wait for ${stillQueued.length === 1 ? 'it' : 'them'} to end (squeue -j ${stillQueued.join(',')}) or cancel (scancel ${stillQueued.join(' ')}), then sweep-resume`);
  }
}

/** Records the Slurm executor and this process as the sweep's owner. */
export function startSlurm(dir: string): void {
  updateSweep(dir, (s) => {
    s.status = 'running';
    s.pid = process.pid;
    s.executor = { jobs: [], ...(s.executor ?? {}), kind: 'slurm' };
    delete s.executor.parallel;
  });
}

/**
 * Stop handling of the Slurm executor while it waits: the first Ctrl-C cancels the sweep's jobs
 * (running points checkpoint and stop), the second (or 90 s without an end) cancels them outright.
 */
export interface SlurmControl {
  /** 0 running, 1 cancelling cleanly, 2 cancelling at once. */
  cancelling: number;
  cancelDeadline: number;
  release(): void;
}

export function slurmControl(dir: string, log: (line: string) => void): SlurmControl {
  const ctl: SlurmControl = { cancelling: 0, cancelDeadline: Infinity, release: () => undefined };
  ctl.release = onInterrupt(() => {
    ctl.cancelling = 1;
    ctl.cancelDeadline = Date.now() + 90_000;
    const jobs = (readSweep(dir).executor?.jobs ?? []).map((j) => j.jobId);
    log(`cancelling: scancel of job${jobs.length > 1 ? 's' : ''} ${jobs.join(', ')} (running points checkpoint and stop; Ctrl-C again to cancel at once)`);
    cancelSweepJobs(dir);
  }, () => {
    ctl.cancelling = 2;
    log('cancelling at once (scancel)');
    cancelSweepJobs(dir, true);
  });
  return ctl;
}

/**
 * Submits the points `indices` (the unfinished ones) as job arrays — the point that trains the
 * shared teacher its own array first, the others after it — and waits for them to leave the queue.
 * Tasks that ended without completing their point are marked failed (cancelled when `ctl` is
 * cancelling), with their log's path. The caller holds the sweep lock and called startSlurm.
 */
export async function runPointsSlurm(dir: string, indices: number[], o: ExecutorOptions, log: (line: string) => void, ctl: SlurmControl): Promise<void> {
  const sweep0 = readSweep(dir);
  const cluster = clusterOf(sweep0, o.cluster);
  const todo = indices.filter((i) => sweep0.points[i].status !== 'completed');
  if (todo.length === 0 || ctl.cancelling) return;
  const node = process.execPath;
  const cli = cliEntry();
  const pointArgs = [...(o.backend ? ['--backend', o.backend] : []), ...(o.python ? ['--python', o.python] : [])];
  const groups = teacherFirst(sweep0) && todo.length > 1 ? [[todo[0]], todo.slice(1)] : [todo];
  const submitted: { jobId: string; points: number[] }[] = [];
  for (const points of groups) {
    if (ctl.cancelling) break; // Ctrl-C while submitting: the rest is not submitted
    const dependency = submitted.length ? `afterany:${submitted[submitted.length - 1].jobId}` : undefined;
    const job = submitArray({ sweepDir: dir, name: sweep0.name, indices: points, cluster, node, cli, pointArgs, ...(dependency ? { dependency } : {}) });
    submitted.push({ jobId: job.jobId, points });
    updateSweep(dir, (s) => {
      s.executor!.jobs!.push({ jobId: job.jobId, points, submittedAt: new Date().toISOString(), logs: job.logs, script: job.script });
    });
    log(`submitted Slurm job ${job.jobId}: array of point${points.length === 1 ? '' : 's'} ${points.map((i) => sweep0.points[i].id).join(', ')}` +
      `${dependency ? ` (after job ${dependency.split(':')[1]})` : groups.length > 1 ? ' (it trains the teacher the others share)' : ''}; script ${job.script}; logs ${path.join(job.logs, `${job.jobId}_<index>.out`)}`);
  }

  const pollMs = (o.pollSeconds ?? 2) * 1000;
  const started = Date.now();
  let last = '';
  let queueErrorsSince: number | undefined;
  for (;;) {
    let queued: { jobId: string; states: Map<number, string> }[];
    try {
      queued = submitted.map((s) => ({ jobId: s.jobId, states: queuedTasks(s.jobId) }));
      queueErrorsSince = undefined;
    } catch (e) {
      // slurmctld busy or restarting: try again, for at most 2 minutes
      queueErrorsSince ??= Date.now();
      if (Date.now() - queueErrorsSince > 120_000) throw new Error(`cannot read the Slurm queue for 2 minutes: ${(e as Error).message}; the jobs (${submitted.map((s) => s.jobId).join(', ')}) may still run — distill sweep-resume ${dir} once they ended`);
      await sleep(pollMs);
      continue;
    }
    const s = readSweep(dir);
    const counts = new Map<string, number>();
    for (const i of todo) counts.set(s.points[i].status, (counts.get(s.points[i].status) ?? 0) + 1);
    const queue = queued.map((q) => {
      const by = new Map<string, number>();
      for (const st of q.states.values()) by.set(st.toLowerCase(), (by.get(st.toLowerCase()) ?? 0) + 1);
      return `job ${q.jobId}: ${by.size ? [...by].map(([k, v]) => `${v} ${k}`).join(', ') : 'done'}`;
    }).join('; ');
    const line = `points: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')} — queue ${queue}`;
    if (line !== last) {
      log(`[${Math.round((Date.now() - started) / 1000)} s] ${line}`);
      last = line;
    }
    if (queued.every((q) => q.states.size === 0)) break;
    if (ctl.cancelling === 1 && Date.now() > ctl.cancelDeadline) {
      log('the points did not stop within 90 s: cancelling at once (scancel)');
      cancelSweepJobs(dir, true);
      ctl.cancelling = 2;
    }
    await sleep(pollMs);
  }
  // Tasks that ended without completing their point: say why, and where the log is.
  for (const { jobId, points } of submitted) {
    const acct = accountedTasks(jobId);
    for (const i of points) {
      const p = readSweep(dir).points[i];
      if (p.status === 'completed' || p.status === 'cancelled') continue;
      const logFile = taskLog(dir, jobId, i);
      const a = acct?.get(i);
      const slurmSays = a ? ` (Slurm: ${a.state}, exit ${a.exitCode})` : '';
      let why: string;
      if (!p.runDir) {
        why = `Slurm task ${jobId}_${i} ended without a run folder${slurmSays}; its log: ${logFile}`;
        const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n    ') : '(no log file: the task never started, e.g. cancelled while pending)';
        log(`[${p.id}] ${why}\n    ${tail}`);
      } else if (p.status === 'running' || p.status === 'pending') {
        why = `Slurm task ${jobId}_${i} ended while the point was running${slurmSays} (time limit, memory, node failure or scancel); its log: ${logFile}`;
        log(`[${p.id}] ${why}`);
      } else {
        log(`[${p.id}] ${p.status}: ${p.error ?? 'see its run folder'}; log ${logFile}`);
        continue;
      }
      updateSweep(dir, (sw) => {
        const q = sw.points[i];
        if (q.status === 'completed') return;
        q.status = ctl.cancelling ? 'cancelled' : 'failed';
        q.error = q.error ? `${q.error} (${why})` : why;
      });
    }
  }
}

/**
 * Submits the sweep's unfinished points to Slurm and waits for them; the sweep's final sweep.json.
 * Tasks that ended without completing their point are marked failed, with their log's path.
 */
export async function runSlurm(dir: string, o: ExecutorOptions, log: (line: string) => void): Promise<SweepJson> {
  const lock = lockSweep(dir);
  try {
    refuseStillQueued(dir);
    startSlurm(dir);
    const ctl = slurmControl(dir, log);
    try {
      await runPointsSlurm(dir, pending(readSweep(dir)), o, log, ctl);
    } finally {
      ctl.release();
    }
    return finishSweep(dir);
  } finally {
    lock.release();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


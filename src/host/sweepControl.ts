/**
 * Stop for a sweep, from the studio (issue 15): whatever runs it — one engine process, the local
 * executor's processes, or a Slurm job array waited on by `distill sweep` — is asked to stop the
 * way Ctrl-C in the CLI does. No vscode import, so it is tested as plain Node (and the Sweep panel
 * or a command can call it with the sweep folder).
 *
 * - Slurm (sweep.json records the jobs): `scancel` of the sweep's jobs at once — pending tasks are
 *   cancelled, running ones get SIGINT and checkpoint (src/runs/slurm.ts) — whether or not a
 *   `distill sweep` still waits for them; that waiter, when alive, also gets SIGINT so it reports
 *   the cancellation and marks the points.
 * - Otherwise: SIGINT to the process that owns the sweep folder (its lock, src/runs/lock.ts): the
 *   CLI or engine then stops every running point after its current step, with a checkpoint.
 *
 * Run Sweep in the studio starts the CLI itself (`dist/cli.js sweep <experiment> --executor …`, the
 * setting `distill.sweepExecutor`) as a child process (startSweepProcess): the executors live in
 * the CLI, and the child owns the sweep folder, so Stop above signals it and never the extension host.
 */
import * as cp from 'child_process';
import { folderOwner, processAlive } from '../runs/lock';
import { cancelSweepJobs } from '../runs/slurm';
import { readSweep } from '../runs/sweeps';

export interface StopSweepResult {
  /** The Slurm jobs scancel was run on. */
  jobs: string[];
  /** The pid of the owner that was sent SIGINT. */
  signalled?: number;
  /** What happened, for a notification. */
  message: string;
}

export function stopSweep(sweepDir: string): StopSweepResult {
  const sweep = readSweep(sweepDir);
  const jobs = sweep.executor?.kind === 'slurm' ? cancelSweepJobs(sweepDir) : [];
  const owner = folderOwner(sweepDir);
  let signalled: number | undefined;
  if (owner && processAlive(owner.pid, owner.pidStart, owner.host)) {
    try {
      process.kill(owner.pid, 'SIGINT');
      signalled = owner.pid;
    } catch {
      // another host's process, or gone meanwhile
    }
  }
  const parts = [
    ...(jobs.length ? [`scancel of Slurm job${jobs.length === 1 ? '' : 's'} ${jobs.join(', ')}`] : []),
    ...(signalled !== undefined ? [`asked pid ${signalled} to stop (running points write a checkpoint first)`] : []),
  ];
  const message = parts.length ? `sweep ${sweep.name}/${sweep.id}: ${parts.join('; ')}` : `sweep ${sweep.name}/${sweep.id} is not running (no owner, no Slurm jobs)`;
  return { jobs, ...(signalled !== undefined ? { signalled } : {}), message };
}

export type SweepExecutorSetting = 'sequential' | 'local' | 'slurm';

export interface SweepProcess {
  child: cp.ChildProcess;
  /** The sweep folder, once the CLI has said it (undefined if it ended before creating one). */
  sweepDir: Promise<string | undefined>;
  /** The CLI's exit code: 0 completed, 130 cancelled, 1 failed or refused, 2 usage. */
  exited: Promise<number | null>;
}

/** The CLI's arguments for a sweep with the chosen executor. */
export function sweepArgs(experimentFile: string, executor: SweepExecutorSetting, backend?: string, python?: string): string[] {
  return ['sweep', experimentFile, ...(executor === 'sequential' ? [] : ['--executor', executor]),
    ...(backend && backend !== 'auto' ? ['--backend', backend] : []), ...(python ? ['--python', python] : [])];
}

/** What starting a sweep needs of the trust gate (src/host/trust.ts EngineGate): a sweep runs the workspace's code. */
export interface SweepGate {
  engineEnv(use: 'run', base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
}

/**
 * Starts `distill sweep` (the CLI bundle `cli`) as a child process; `onLine` hears each output line.
 * Its environment comes from the trust gate, which refuses in Restricted Mode (nothing is started).
 */
export function startSweepProcess(cli: string, args: string[], onLine: (line: string) => void, gate: SweepGate): SweepProcess {
  const child = cp.fork(cli, args, { silent: true, env: gate.engineEnv('run') });
  let resolveDir: (d: string | undefined) => void = () => undefined;
  const sweepDir = new Promise<string | undefined>((r) => { resolveDir = r; });
  const lines = (buf: { rest: string }) => (d: Buffer): void => {
    const parts = (buf.rest + d.toString()).split('\n');
    buf.rest = parts.pop() ?? '';
    for (const line of parts) {
      const m = /^sweep folder: (.+)$/.exec(line.trim());
      if (m) resolveDir(m[1]);
      onLine(line);
    }
  };
  child.stdout?.on('data', lines({ rest: '' }));
  child.stderr?.on('data', lines({ rest: '' }));
  const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => {
    resolveDir(undefined);
    r(code ?? (signal ? 128 : null));
  }));
  return { child, sweepDir, exited };
}

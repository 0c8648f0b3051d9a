/**
 * The worker's side of the torch engine (issue 14): runs an experiment with `"engine": "torch"` in
 * a Python process (`<python> -u -m distill_torch`, `python/` on PYTHONPATH) and relays what it
 * says as the messages of src/protocol/engine.ts, so the host, the CLI and sweeps see a run like any
 * other. The contract, and who writes what in the run folder, is src/protocol/torch.ts:
 *
 *   new run: prepare (snapshot + planJobs) → prepared → the worker creates the folder, locks it,
 *            appends the `start` event, says `started` → run → progress/epoch/checkpoint/log →
 *            done | failed.
 *   resume:  the worker locks the folder, removes temporary files left by a dead writer, appends
 *            the `resume` event (as src/engine/run.ts does), then prepare with the folder's own
 *            snapshot and jobs → prepared → `started` → run (resume: true) → …
 *
 * A `failed` of kind `config` before the folder exists is an ExperimentError located at its `path`
 * in the experiment file (nothing was created). Python dying without `done` or `failed` is recorded
 * as the run's failure (run.json, a `failed` event) with its exit code or signal and the last lines
 * of its stderr. `stop` (the host's, or the worker losing its parent) is forwarded; Python
 * checkpoints and says `done` (cancelled). In Restricted Mode no Python is started.
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import type { ConfigError, ExperimentConfig } from '../../config/types';
import { ExperimentError, locate } from '../../config/errors';
import type { EngineToHost } from '../../protocol/engine';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../../protocol/engine';
import type { TorchFailed, TorchPrepared, WorkerToTorch } from '../../protocol/torch';
import { isTorchToWorker, TORCH_MODULE } from '../../protocol/torch';
import type { ConfigSnapshot, JobState, RunStatus } from '../../runs/store';
import { createRun, defaultRunsDir, MetricsLog, readRun, readSnapshot } from '../../runs/store';
import type { FolderLock } from '../../runs/lock';
import { lockRun } from '../../runs/lock';
import { removeTempFiles } from '../../runs/diskFaults';
import { recordRunFailure } from '../runs/runFailure';
import { planJobs } from '../training/jobs';
import { findInterpreter, NoInterpreterError } from './interpreter';
import type { Interpreter } from './interpreter';

export interface TorchRunOptions {
  /** A new run: the validated experiment (its file, text and config). */
  experimentFile?: string;
  experimentText?: string;
  config?: ExperimentConfig;
  /** Root of run folders; default `<experiment dir>/.distill/runs`. */
  runsDir?: string;
  /** An existing run folder to continue. */
  resume?: string;
  /** The interpreter to use (setting, Python extension, `--python`); see interpreter.ts. */
  python?: string;
  emit?: (msg: EngineToHost) => void;
  shouldStop?: () => boolean;
  /** The folder that holds `distill_torch/` (default: `python/` of the repository or the extension). */
  pythonRoot?: string;
  /** Environment of the interpreter check and of Python (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * issue 15: `--processes N` — the Python process starts N − 1 further ranks itself (python/distill_torch/distributed.py);
   * passed as DISTILL_PROCESSES, which overrides the experiment's `distributed.processes`.
   */
  processes?: number;
}

export interface TorchRunResult {
  runDir: string;
  status: RunStatus;
  error?: string;
}

/** How many of Python's last stderr lines a crash report quotes. */
const STDERR_TAIL = 12;
/** How often the stop flag is looked at. */
const STOP_POLL_MS = 200;
/** After `done` / `failed`, how long Python may take to exit before it is killed. */
const EXIT_GRACE_MS = 30_000;

/** `python/` (holding distill_torch/) beside the build (dist/) or the sources (src/engine/torch/). */
export function findPythonRoot(from = __dirname): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'python');
    if (fs.existsSync(path.join(candidate, TORCH_MODULE, '__init__.py'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`the torch engine's Python package (python/${TORCH_MODULE}) was not found above ${from}: the installation is incomplete`);
}

/** One located problem of the experiment file as an ExperimentError. */
function located(file: string, text: string, at: (string | number)[], message: string): ExperimentError {
  const e: ConfigError = { file, path: at, location: locate(text, at), message, severity: 'error' };
  return new ExperimentError([e]);
}

/**
 * Runs (or resumes) a torch experiment. Like runExperiment: training failures end in `failed` and
 * do not throw; an invalid experiment, data or models (a located ExperimentError), no usable Python
 * (located at `engine`), Restricted Mode, or a run another live process owns, throw before anything
 * is changed.
 */
export async function runTorch(opts: TorchRunOptions): Promise<TorchRunResult> {
  const emit = opts.emit ?? (() => undefined);
  const env = opts.env ?? process.env;
  let lock: FolderLock | undefined;
  try {
    let snapshot: ConfigSnapshot;
    let jobs: Record<string, JobState>;
    let runDir: string | undefined;
    if (opts.resume) {
      runDir = path.resolve(opts.resume);
      readRun(runDir); // not a run folder: said before anything else
      snapshot = readSnapshot(runDir);
      refuseRestricted(snapshot, env);
      lock = lockRun(runDir, emit);
      const stale = removeTempFiles(runDir);
      if (stale.length) emit({ type: 'log', level: 'info', message: `removed temporary files left by an interrupted write: ${stale.join(', ')}` });
      const run = readRun(runDir);
      if (run.status === 'completed') {
        emit({ type: 'log', level: 'info', message: `${runDir}: already completed; nothing to resume` });
        return { runDir, status: 'completed' };
      }
      jobs = run.jobs;
      const python = await interpreter(opts, snapshot, env, emit);
      new MetricsLog(runDir).append({ type: 'event', event: 'resume', message: `resumed from status ${run.status}`, t: new Date().toISOString() });
      return await new TorchSession(python, opts, env, emit, snapshot, jobs, runDir, lock).result;
    }
    if (!opts.experimentFile || !opts.config) throw new Error('runTorch: give a validated experiment or a run folder to resume');
    snapshot = { experimentFile: path.resolve(opts.experimentFile), experimentText: opts.experimentText ?? '', config: opts.config };
    refuseRestricted(snapshot, env);
    jobs = planJobs(snapshot.config);
    const python = await interpreter(opts, snapshot, env, emit);
    const session = new TorchSession(python, opts, env, emit, snapshot, jobs, undefined, undefined);
    try {
      return await session.result;
    } finally {
      lock = session.lock;
    }
  } finally {
    lock?.release();
  }
}

function refuseRestricted(snapshot: ConfigSnapshot, env: NodeJS.ProcessEnv): void {
  if (env[RESTRICTED_ENV] !== '1') return;
  throw located(snapshot.experimentFile, snapshot.experimentText, ['engine'],
    `the torch engine runs the workspace's Python and model code, and the workspace is not trusted ${RESTRICTED_MARK}: trust the workspace to run it`);
}

async function interpreter(opts: TorchRunOptions, snapshot: ConfigSnapshot, env: NodeJS.ProcessEnv, emit: (m: EngineToHost) => void): Promise<Interpreter> {
  try {
    return await findInterpreter({ python: opts.python, env, log: (message) => emit({ type: 'log', level: 'info', message }) });
  } catch (e) {
    if (e instanceof NoInterpreterError) throw located(snapshot.experimentFile, snapshot.experimentText, ['engine'], e.message);
    throw e;
  }
}

/** One Python process and the run it trains. */
class TorchSession {
  readonly result: Promise<TorchRunResult>;
  /** The run folder's lock, once the folder is ours (a new run's is taken here). */
  lock?: FolderLock;
  private readonly child: cp.ChildProcess;
  private readonly stderrTail: string[] = [];
  private outcome?: { status: 'completed' | 'cancelled' | 'failed'; error?: string };
  private refusal?: Error;
  private stopSent = false;
  /** `run` was sent: the run is Python's from then on. */
  private runSent = false;
  private stopTimer?: NodeJS.Timeout;

  constructor(private readonly python: Interpreter, private readonly opts: TorchRunOptions, env: NodeJS.ProcessEnv,
    private readonly emit: (m: EngineToHost) => void, private readonly snapshot: ConfigSnapshot, private readonly jobs: Record<string, JobState>,
    private runDir: string | undefined, lock: FolderLock | undefined) {
    this.lock = lock;
    const root = opts.pythonRoot ?? findPythonRoot();
    const pythonPath = [root, env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    this.child = cp.spawn(python.command, ['-u', '-m', TORCH_MODULE], {
      cwd: path.dirname(snapshot.experimentFile),
      env: { ...env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1', ...(opts.processes !== undefined ? { DISTILL_PROCESSES: String(opts.processes) } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.result = new Promise<TorchRunResult>((resolve, reject) => {
      let spawnError: Error | undefined;
      this.child.on('error', (e) => { spawnError = e; });
      this.child.stdin?.on('error', () => undefined); // Python gone: its exit says the rest
      const out = readline.createInterface({ input: this.child.stdout! });
      out.on('line', (line) => this.onStdout(line));
      const err = readline.createInterface({ input: this.child.stderr! });
      err.on('line', (line) => this.onStderr(line));
      // Every line read before judging the end (streams close after 'exit' at the latest).
      const closed = Promise.all([new Promise((r) => out.on('close', r)), new Promise((r) => err.on('close', r))]);
      this.child.on('close', (code, signal) => {
        void closed.then(() => {
          if (this.stopTimer) clearInterval(this.stopTimer);
          try {
            resolve(this.finish(code, signal, spawnError));
          } catch (e) {
            reject(e);
          }
        });
      });
    });
    this.stopTimer = setInterval(() => {
      if (!this.stopSent && (this.opts.shouldStop?.() ?? false)) this.stop();
    }, STOP_POLL_MS);
    this.send({ type: 'prepare', snapshot, jobs });
  }

  private send(msg: WorkerToTorch): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return;
    stdin.write(`${JSON.stringify(msg)}\n`);
  }

  private stop(): void {
    this.stopSent = true;
    this.emit({ type: 'log', level: 'info', message: 'stop requested: the torch engine checkpoints' });
    this.send({ type: 'stop' });
  }

  private onStderr(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
    if (line.trim()) this.emit({ type: 'log', level: 'info', message: line });
  }

  private onStdout(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      msg = undefined;
    }
    if (!isTorchToWorker(msg)) {
      if (line.trim()) this.emit({ type: 'log', level: 'info', message: line });
      return;
    }
    switch (msg.type) {
      case 'ready':
        this.emit({ type: 'log', level: 'debug', message: `torch engine: pid ${msg.pid}` });
        return;
      case 'prepared':
        this.onPrepared(msg);
        return;
      case 'failed':
        this.onFailed(msg);
        return;
      case 'done':
        if (this.outcome || !this.runDir) return;
        this.outcome = { status: msg.status };
        this.emit({ type: 'done', runDir: this.runDir, status: msg.status });
        this.awaitExit();
        return;
      default:
        if (this.outcome) return;
        this.emit(msg); // progress, epoch, checkpoint, log
        // A host that decides to stop on what it was just told (an epoch, a step) is heard now,
        // not at the next poll: Python, a step on, may have finished the run by then.
        if (this.runSent && !this.stopSent && (this.opts.shouldStop?.() ?? false)) this.stop();
    }
  }

  private onPrepared(msg: TorchPrepared): void {
    if (this.runSent) return; // a second `prepared`
    try {
      if (!this.runDir) {
        const runsDir = this.opts.runsDir ? path.resolve(this.opts.runsDir) : defaultRunsDir(this.snapshot.experimentFile);
        const runDir = createRun(runsDir, this.snapshot, this.jobs);
        try {
          this.lock = lockRun(runDir, this.emit);
        } catch (e) {
          fs.rmSync(runDir, { recursive: true, force: true }); // no room even for the lock: no half-made run left
          throw e;
        }
        this.runDir = runDir;
        new MetricsLog(runDir).append({ type: 'event', event: 'start', t: new Date().toISOString() });
      }
    } catch (e) {
      // The folder could not be made (a full disk): Python has nothing to run.
      this.refusal = e as Error;
      this.send({ type: 'stop' });
      this.child.stdin?.end();
      this.awaitExit();
      return;
    }
    this.emit({ type: 'started', runDir: this.runDir, runId: path.basename(this.runDir), backend: msg.backend.name, engine: 'torch' });
    this.emit({ type: 'log', level: 'info', message: `torch engine: ${msg.backend.name}, ${Object.entries(msg.backend.versions).map(([k, v]) => `${k} ${v}`).join(', ')}` });
    this.send({ type: 'run', runDir: this.runDir, resume: Boolean(this.opts.resume) });
    this.runSent = true;
    if (this.stopSent) this.send({ type: 'stop' }); // asked before the run began: Python checkpoints at once
  }

  private onFailed(msg: TorchFailed): void {
    if (this.outcome || this.refusal) return;
    if (!this.runSent && (!this.runDir || msg.kind === 'config')) {
      // Refused while preparing: a new run's folder was never made; a resume's is left as it was.
      this.refusal = msg.kind === 'config'
        ? located(this.snapshot.experimentFile, this.snapshot.experimentText, msg.path ?? [], msg.error)
        : new Error(`the torch engine failed before the run started: ${msg.error}`);
      this.awaitExit();
      return;
    }
    // The run's own failure: Python recorded it in run.json and metrics.jsonl.
    this.outcome = { status: 'failed', error: msg.error };
    this.emit({ type: 'failed', runDir: this.runDir ?? msg.runDir, error: msg.error });
    this.awaitExit();
  }

  private awaitExit(): void {
    const t = setTimeout(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }, EXIT_GRACE_MS);
    t.unref();
    this.child.once('exit', () => clearTimeout(t));
  }

  private finish(code: number | null, signal: NodeJS.Signals | null, spawnError: Error | undefined): TorchRunResult {
    if (this.refusal) throw this.refusal;
    const how = spawnError ? `could not be started (${spawnError.message})` : `exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
    const tail = this.stderrTail.filter((l) => l.trim()).join('\n');
    const said = tail ? `; the last lines of its stderr:\n${tail}` : '';
    if (!this.runDir) {
      throw new Error(`the torch engine (${this.python.executable}) ${how} before the run started${said}`);
    }
    if (this.outcome) return { runDir: this.runDir, status: this.outcome.status, ...(this.outcome.error ? { error: this.outcome.error } : {}) };
    const error = `the torch engine (${this.python.executable}) ${how} without saying how the run ended${said}`;
    return recordRunFailure(this.runDir, new Error(error), this.emit);
  }
}

/**
 * `distill check` and the Problems of a torch experiment: Python's `prepare` (data, models, every
 * pair) without a run — `prepared` means no problem, a `failed` of kind `config` is one located
 * problem, no usable Python is a problem at `engine`. Python is told to stop right after.
 */
export async function checkTorch(file: string, text: string, config: ExperimentConfig, python?: string,
  opts: { env?: NodeJS.ProcessEnv; pythonRoot?: string } = {}): Promise<ConfigError[]> {
  const env = opts.env ?? process.env;
  const snapshot: ConfigSnapshot = { experimentFile: path.resolve(file), experimentText: text, config };
  try {
    refuseRestricted(snapshot, env);
    const py = await interpreter({ python }, snapshot, env, () => undefined);
    const root = opts.pythonRoot ?? findPythonRoot();
    const child = cp.spawn(py.command, ['-u', '-m', TORCH_MODULE], {
      cwd: path.dirname(snapshot.experimentFile),
      env: { ...env, PYTHONPATH: [root, env.PYTHONPATH].filter(Boolean).join(path.delimiter), PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    child.stdin.on('error', () => undefined);
    const tail: string[] = [];
    readline.createInterface({ input: child.stderr }).on('line', (l) => {
      tail.push(l);
      if (tail.length > STDERR_TAIL) tail.shift();
    });
    const verdict = await new Promise<{ failed?: TorchFailed; prepared?: boolean; exit?: string }>((resolve) => {
      let settled = false;
      const settle = (v: { failed?: TorchFailed; prepared?: boolean; exit?: string }): void => {
        if (settled) return;
        settled = true;
        child.stdin.end(); // stdin closing counts as stop: Python leaves
        resolve(v);
      };
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if (!isTorchToWorker(msg)) return;
        if (msg.type === 'prepared') settle({ prepared: true });
        else if (msg.type === 'failed') settle({ failed: msg });
      });
      child.on('error', (e) => settle({ exit: `could not be started (${e.message})` }));
      child.on('close', (code, signal) => settle({ exit: `exited with ${signal ? `signal ${signal}` : `code ${code}`}` }));
      child.stdin.write(`${JSON.stringify({ type: 'prepare', snapshot, jobs: planJobs(config) } satisfies WorkerToTorch)}\n`);
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
    kill.unref();
    child.once('exit', () => clearTimeout(kill));
    if (verdict.prepared) return [];
    if (verdict.failed?.kind === 'config') return located(snapshot.experimentFile, text, verdict.failed.path ?? [], verdict.failed.error).errors;
    const why = verdict.failed ? verdict.failed.error : `the torch engine (${py.executable}) ${verdict.exit}${tail.length ? `: ${tail.filter((l) => l.trim()).join('\n')}` : ''}`;
    return located(snapshot.experimentFile, text, ['engine'], why).errors;
  } catch (e) {
    if (e instanceof ExperimentError) return e.errors;
    throw e;
  }
}

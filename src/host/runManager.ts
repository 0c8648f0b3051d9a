/**
 * Runs experiments in forked engine workers (`dist/worker.js`, one process per run) with the typed
 * protocol of src/protocol/engine.ts, through a queue limited by `distill.maxConcurrentRuns`.
 * The host keeps no training state that is not on disk: it only relays progress. A worker that
 * dies without saying why (crash, kill) fails its run: run.json is marked failed with the reason
 * when the owner process is dead, the folder stays resumable, and the last engine lines are shown.
 */
import * as cp from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { EngineToHost, ProgressMessage, StartRequest } from '../protocol/engine';
import { isEngineToHost } from '../protocol/engine';
import { isOwnerAlive, listRuns, MetricsLog, readRun, updateRun } from '../runs/store';
import { runState } from '../runs/state';
import type { Settings } from './settings';
import type { EngineGate } from './trust';

export type HandleState = 'queued' | 'starting' | 'running' | 'stopping' | 'finished';

export interface RunResult {
  status: 'completed' | 'cancelled' | 'failed';
  runDir?: string;
  error?: string;
  /** `config`: refused before a run folder existed (located error); `locked`: another live process owns the run. */
  kind?: 'config' | 'locked';
}

export interface RunHandle {
  readonly key: string;
  readonly kind: 'start' | 'resume';
  /** The experiment file (for a resume: the one recorded in run.json, when known). */
  readonly experimentFile?: string;
  /** Known from the `started` message on (at once for a resume). */
  runDir?: string;
  /** Folder the run is created in (new runs). */
  readonly runsDir?: string;
  state: HandleState;
  pid?: number;
  backend?: string;
  progress?: ProgressMessage;
  /** The last lines the engine logged (shown when it fails). */
  readonly logTail: string[];
  result?: RunResult;
  readonly finished: Promise<RunResult>;
  readonly queuedAt: number;
}

interface Internal extends RunHandle {
  child?: cp.ChildProcess;
  stopRequested: boolean;
  forkedAt: number;
  resolve(r: RunResult): void;
}

export interface RunManagerOptions {
  workerPath: string;
  log: vscode.LogOutputChannel;
  settings: () => Settings;
  /** Workspace trust: every run and resume starts an engine on the workspace's model code. */
  gate: EngineGate;
  /** Seconds to wait for a stopping worker before killing it. */
  stopTimeoutSeconds?: number;
  /**
   * issue 14: the torch engine's Python for a run (src/host/python.ts: the setting, else the Python
   * extension's interpreter), sent as the start request's `python`; undefined for TF.js runs.
   */
  python?: (target: { experimentFile?: string; runDir?: string }) => Promise<string | undefined>;
}

const TAIL = 30;

export class RunManager implements vscode.Disposable {
  private readonly queue: Internal[] = [];
  private readonly active: Internal[] = [];
  private readonly changed = new vscode.EventEmitter<RunHandle>();
  private readonly finishedEmitter = new vscode.EventEmitter<{ handle: RunHandle; result: RunResult }>();
  private seq = 0;

  /** A run was queued, started, progressed or finished. */
  readonly onDidChange = this.changed.event;
  readonly onDidFinish = this.finishedEmitter.event;

  constructor(private readonly opts: RunManagerOptions) {}

  /** Queues a new run of an experiment file. */
  start(experimentFile: string, runsDir: string): RunHandle {
    return this.enqueue({ kind: 'start', experimentFile, runsDir });
  }

  /** Queues the resumption of a run folder. */
  resume(runDir: string): RunHandle {
    let experimentFile: string | undefined;
    try {
      experimentFile = readRun(runDir).experimentFile;
    } catch {
      experimentFile = undefined;
    }
    return this.enqueue({ kind: 'resume', runDir, experimentFile });
  }

  /** Runs queued or going, oldest first. */
  handles(): RunHandle[] {
    return [...this.active, ...this.queue];
  }

  handleFor(runDir: string): RunHandle | undefined {
    return this.handles().find((h) => h.runDir === runDir);
  }

  isBusy(runDir: string): boolean {
    return this.handleFor(runDir) !== undefined;
  }

  /** Stops a run: queued → dropped; going → the engine checkpoints and marks it cancelled. */
  stop(handle: RunHandle): void {
    const h = handle as Internal;
    const qi = this.queue.indexOf(h);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      this.finish(h, { status: 'cancelled', runDir: h.runDir });
      return;
    }
    if (!h.child || h.state === 'finished' || h.stopRequested) return;
    h.stopRequested = true;
    h.state = 'stopping';
    this.opts.log.info(`[run ${this.label(h)}] stop requested: the engine checkpoints and stops`);
    if (h.child.connected) h.child.send({ type: 'stop' });
    const timeout = (this.opts.stopTimeoutSeconds ?? 120) * 1000;
    const timer = setTimeout(() => {
      if (h.state !== 'finished') {
        this.opts.log.warn(`[run ${this.label(h)}] the engine did not stop within ${timeout / 1000} s: killing it`);
        h.child?.kill('SIGKILL');
      }
    }, timeout);
    void h.finished.then(() => clearTimeout(timer));
    this.changed.fire(h);
  }

  /** Throws RestrictedModeError in an untrusted workspace (nothing is queued or started). */
  private enqueue(init: { kind: 'start' | 'resume'; experimentFile?: string; runDir?: string; runsDir?: string }): RunHandle {
    this.opts.gate.require(init.kind === 'resume' ? 'resume' : 'run');
    let resolve!: (r: RunResult) => void;
    const finished = new Promise<RunResult>((r) => (resolve = r));
    const h: Internal = {
      key: `run-${++this.seq}`, ...init, state: 'queued', logTail: [], finished, resolve,
      stopRequested: false, forkedAt: 0, queuedAt: Date.now(),
    };
    this.queue.push(h);
    this.opts.log.info(`[run ${this.label(h)}] queued (${init.kind === 'resume' ? `resume ${init.runDir}` : init.experimentFile})`);
    this.changed.fire(h);
    this.pump();
    return h;
  }

  private pump(): void {
    const max = this.opts.settings().maxConcurrentRuns;
    while (this.active.length < max && this.queue.length > 0) this.launch(this.queue.shift()!);
  }

  private launch(h: Internal): void {
    const settings = this.opts.settings();
    const cwd = h.experimentFile ? path.dirname(h.experimentFile) : h.runDir!;
    const execArgv = settings.engineMemoryLimitMB > 0 ? [`--max-old-space-size=${settings.engineMemoryLimitMB}`] : [];
    h.state = 'starting';
    h.forkedAt = Date.now();
    this.active.push(h);
    // Each engine may use a second core for its teacher thread; with more runs than that leaves
    // cores for, this one computes on one core only (the machine is not oversubscribed).
    const teacherThread = this.active.length * 2 <= os.cpus().length;
    if (!teacherThread) this.opts.log.info(`[run ${this.label(h)}] ${this.active.length} runs on ${os.cpus().length} cores: no teacher thread for this one`);
    let child: cp.ChildProcess;
    try {
      const env = this.opts.gate.engineEnv(h.kind === 'resume' ? 'resume' : 'run');
      child = cp.fork(this.opts.workerPath, [], {
        cwd, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...env, ...(teacherThread ? {} : { DISTILL_TEACHER_THREAD: '0' }) },
      });
    } catch (e) {
      this.finish(h, { status: 'failed', runDir: h.runDir, error: `could not start the engine: ${(e as Error).message}` });
      return;
    }
    h.child = child;
    h.pid = child.pid;
    this.opts.log.info(`[run ${this.label(h)}] engine process ${child.pid} started${execArgv.length ? ` (${execArgv.join(' ')})` : ''}`);
    const lines = (stream: NodeJS.ReadableStream | null, level: 'info' | 'warn') => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buf += chunk;
        const parts = buf.split('\n');
        buf = parts.pop() ?? '';
        for (const line of parts) if (line.trim()) this.engineLine(h, level, line);
      });
      stream?.on('end', () => {
        if (buf.trim()) this.engineLine(h, level, buf);
      });
    };
    lines(child.stdout, 'info');
    lines(child.stderr, 'warn');
    child.on('message', (m: unknown) => {
      if (isEngineToHost(m)) this.onMessage(h, settings, m);
    });
    child.on('error', (e) => this.engineLine(h, 'warn', `engine process error: ${e.message}`));
    child.on('exit', (code, signal) => this.onExit(h, code, signal));
  }

  private onMessage(h: Internal, settings: Settings, m: EngineToHost): void {
    const log = this.opts.log;
    switch (m.type) {
      case 'ready': {
        h.pid = m.pid;
        const req: StartRequest = h.kind === 'resume'
          ? { type: 'start', resume: h.runDir, backend: settings.backend }
          : { type: 'start', experiment: h.experimentFile, runsDir: h.runsDir, backend: settings.backend };
        const python = this.opts.python
          ? this.opts.python(h.kind === 'resume' ? { runDir: h.runDir } : { experimentFile: h.experimentFile }).catch(() => undefined)
          : Promise.resolve(undefined);
        void python.then((p) => {
          if (!h.child?.connected) return; // gone meanwhile: its exit says the rest
          if (h.stopRequested) h.child.send({ type: 'stop' });
          else h.child.send(p ? { ...req, python: p } : req);
        });
        break;
      }
      case 'started':
        h.runDir = m.runDir;
        h.backend = m.backend;
        h.state = h.stopRequested ? 'stopping' : 'running';
        log.info(`[run ${this.label(h)}] started in ${m.runDir} on ${m.backend}`);
        this.changed.fire(h);
        break;
      case 'progress':
        h.progress = m;
        this.changed.fire(h);
        break;
      case 'epoch': {
        const acc = m.metrics.testAcc;
        log.info(`[run ${this.label(h)}] ${m.job} epoch ${m.epoch}: ${Object.entries(m.metrics)
          .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join(', ')}`);
        if (acc !== undefined) this.changed.fire(h);
        break;
      }
      case 'checkpoint':
        log.debug(`[run ${this.label(h)}] checkpoint ${m.job} epoch ${m.epoch}: ${m.path}`);
        break;
      case 'log':
        this.engineLine(h, m.level, m.message);
        break;
      case 'done':
        h.runDir = m.runDir;
        h.result = { status: m.status, runDir: m.runDir };
        break;
      case 'failed':
        h.runDir = m.runDir ?? h.runDir;
        h.result = { status: 'failed', runDir: h.runDir, error: m.error, ...(m.kind ? { kind: m.kind } : {}) };
        break;
    }
  }

  private engineLine(h: Internal, level: 'debug' | 'info' | 'warn' | 'error', line: string): void {
    h.logTail.push(line);
    if (h.logTail.length > TAIL) h.logTail.splice(0, h.logTail.length - TAIL);
    this.opts.log[level === 'debug' ? 'debug' : level](`[engine ${h.pid ?? '?'}] ${line}`);
  }

  private onExit(h: Internal, code: number | null, signal: NodeJS.Signals | null): void {
    let result = h.result;
    if (!result) {
      if (h.stopRequested && code === 0) {
        result = { status: 'cancelled', runDir: h.runDir };
      } else {
        const why = signal ? `the engine process was killed (${signal})` : `the engine process exited with code ${code} without a result`;
        result = { status: 'failed', runDir: h.runDir ?? this.findOrphanFolder(h), error: why };
        if (result.runDir) this.markFailed(result.runDir, why);
      }
    }
    this.finish(h, result);
  }

  /** A run folder this worker created before it could say so (killed during start-up). */
  private findOrphanFolder(h: Internal): string | undefined {
    if (h.kind !== 'start' || !h.runsDir || !h.experimentFile) return undefined;
    try {
      const mine = listRuns(h.runsDir).filter((s) => path.resolve(s.run.experimentFile) === h.experimentFile
        && Date.parse(s.run.createdAt) >= h.forkedAt - 1000 && (s.run.pid === undefined || s.run.pid === h.pid));
      return mine[0]?.runDir;
    } catch {
      return undefined;
    }
  }

  /** Marks run.json failed when the engine could not (only when its owner process is dead). */
  private markFailed(runDir: string, reason: string): void {
    try {
      const run = readRun(runDir);
      if ((run.status === 'running' || run.status === 'queued') && !isOwnerAlive(run)) {
        updateRun(runDir, (r) => {
          r.status = 'failed';
          r.error = reason;
        });
        new MetricsLog(runDir).append({ type: 'event', event: 'failed', message: reason, t: new Date().toISOString() });
      }
    } catch (e) {
      this.opts.log.warn(`could not mark ${runDir} failed: ${(e as Error).message}`);
    }
  }

  private finish(h: Internal, result: RunResult): void {
    if (h.state === 'finished') return;
    h.state = 'finished';
    h.result = result;
    h.runDir = result.runDir ?? h.runDir;
    h.child = undefined;
    const i = this.active.indexOf(h);
    if (i >= 0) this.active.splice(i, 1);
    const log = this.opts.log;
    if (result.status === 'failed') {
      log.error(`[run ${this.label(h)}] failed: ${result.error ?? 'unknown reason'}`);
      if (h.logTail.length) log.error(`[run ${this.label(h)}] last engine lines:\n  ${h.logTail.slice(-10).join('\n  ')}`);
    } else {
      log.info(`[run ${this.label(h)}] ${result.status}`);
    }
    h.resolve(result);
    this.finishedEmitter.fire({ handle: h, result });
    this.changed.fire(h);
    this.pump();
  }

  label(h: RunHandle): string {
    return h.runDir ? path.basename(h.runDir) : h.key;
  }

  /** Runs whose run.json says running but whose owner is gone (closed window, kill): resumable. */
  interrupted(runDirs: readonly string[]): string[] {
    return runDirs.filter((d) => {
      if (this.isBusy(d)) return false;
      try {
        const run = readRun(d);
        return runState(run) === 'interrupted';
      } catch {
        return false;
      }
    });
  }

  dispose(): void {
    // The window is closing: ask every worker to checkpoint and stop (a worker whose parent
    // disconnects does the same on its own).
    this.queue.splice(0);
    for (const h of this.active) {
      if (h.child?.connected) h.child.send({ type: 'stop' });
    }
    this.changed.dispose();
    this.finishedEmitter.dispose();
  }
}

/**
 * The panels' questions about torch experiments (issue 15): the engine worker's long-lived Python
 * probe process (`<python> -u -m distill_torch`, python/distill_torch/probe.py answers), started on
 * the first torch query, kept for the next ones (it caches the data and layer rows it built), and
 * started again when it has died. Like the bridge it runs the workspace's Python and model code, so
 * in Restricted Mode (RESTRICTED_ENV) it is never started: the query is refused with
 * RESTRICTED_MARK, which the host turns into its trust prompt.
 *
 * `answerTorchProbe` is the hook src/engine/probe.ts calls first: a query about a torch experiment
 * (its file or text says `"engine": "torch"`, or a run folder whose config.json does) is answered
 * here, anything else is left to the TF.js engine (undefined). `checkPair` carries no experiment and
 * stays with the TF.js engine: the torch answers report shapes in its order ([B,H,W,C]) and
 * knowledge.py applies the rules of pairs.ts, so the verdict is the same.
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { loadExperiment, parseExperimentText } from '../../config/parse';
import { ExperimentError, locate } from '../../config/errors';
import { engineOf } from '../../config/engineRules';
import type { ConfigError, ExperimentConfig } from '../../config/types';
import type { ProbeAnswers, ProbeKind, ProbeQuery } from '../../protocol/engine';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../../protocol/engine';
import type { TorchProbe, TorchProbeResult } from '../../protocol/torch';
import { isTorchToWorker, TORCH_MODULE } from '../../protocol/torch';
import type { ConfigSnapshot, JobState } from '../../runs/store';
import { readSnapshot } from '../../runs/store';
import { planJobs } from '../training/jobs';
import { findPythonRoot } from './bridge';
import { findInterpreter, NoInterpreterError } from './interpreter';
import type { Interpreter } from './interpreter';

/** Python's last stderr lines quoted when it dies. */
const STDERR_TAIL = 12;

/** A refusal of the torch engine located in the experiment file (`path`), or a plain failure. */
export class TorchProbeError extends Error {
  constructor(message: string, readonly path?: (string | number)[]) {
    super(message);
    this.name = 'TorchProbeError';
  }
}

export interface TorchProbeOptions {
  /** Environment of the interpreter check and of Python (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The folder that holds `distill_torch/` (default: `python/` of the repository or the extension). */
  pythonRoot?: string;
  /** Hears which interpreter was taken, and Python's stderr. */
  log?: (message: string) => void;
}

/** One long-lived Python probe process; requests are answered in the order they were sent. */
export class TorchProbeProcess {
  private child?: cp.ChildProcess;
  /** The interpreter the running child uses, and what was asked for (a request's `python`). */
  private asked?: string;
  private interpreter?: Interpreter;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly tail: string[] = [];
  /** Processes started so far (tests read it: a dead one is replaced). */
  starts = 0;

  constructor(private readonly opts: TorchProbeOptions = {}) {}

  /** The pid of the running Python, if any. */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /**
   * Sends one query and resolves with Python's answer. Rejects with a TorchProbeError (with `path`
   * when the experiment is at fault), a NoInterpreterError, or the Restricted Mode refusal.
   */
  async request(query: ProbeQuery, extra: { snapshot?: ConfigSnapshot; jobs?: Record<string, JobState>; python?: string } = {}): Promise<unknown> {
    const env = this.opts.env ?? process.env;
    if (env[RESTRICTED_ENV] === '1') {
      throw new Error(`the torch engine runs the workspace's Python and model code, and the workspace is not trusted ${RESTRICTED_MARK}: trust the workspace to inspect its models`);
    }
    const child = await this.ensure(extra.python);
    const id = ++this.seq;
    const msg: TorchProbe = { type: 'probe', id, query, ...(extra.snapshot ? { snapshot: extra.snapshot } : {}), ...(extra.jobs ? { jobs: extra.jobs } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.hold(child, true);
      child.stdin!.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Lets the Python process go (its stdin closes: it leaves); pending requests fail. */
  dispose(): void {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    child.stdin?.end();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    kill.unref();
    child.once('exit', () => clearTimeout(kill));
  }

  private async ensure(python: string | undefined): Promise<cp.ChildProcess> {
    const wanted = python?.trim() || undefined;
    if (this.child && this.pid !== undefined && this.asked === wanted) return this.child;
    if (this.child) this.dispose(); // another interpreter asked for
    const env = this.opts.env ?? process.env;
    if (!this.interpreter || this.asked !== wanted) {
      this.interpreter = await findInterpreter({ python: wanted, env, log: this.opts.log });
      this.asked = wanted;
    }
    if (this.child && this.pid !== undefined) return this.child; // started meanwhile by a concurrent request
    const root = this.opts.pythonRoot ?? findPythonRoot();
    const child = cp.spawn(this.interpreter.command, ['-u', '-m', TORCH_MODULE], {
      env: { ...env, PYTHONPATH: [root, env.PYTHONPATH].filter(Boolean).join(path.delimiter), PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.starts++;
    this.child = child;
    this.tail.length = 0;
    child.stdin!.on('error', () => undefined); // Python gone: its exit says the rest
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      this.tail.push(line);
      if (this.tail.length > STDERR_TAIL) this.tail.shift();
      if (line.trim()) this.opts.log?.(`torch probe: ${line}`);
    });
    const fail = (how: string) => {
      if (this.child === child) this.child = undefined;
      const said = this.tail.filter((l) => l.trim()).join('\n');
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new TorchProbeError(`the torch engine's probe process (${this.interpreter?.executable ?? 'python'}) ${how} before answering${said ? `; the last lines of its stderr:\n${said}` : ''}`));
      }
    };
    child.on('error', (e) => fail(`could not be started (${e.message})`));
    child.on('exit', (code, signal) => fail(`exited with ${signal ? `signal ${signal}` : `code ${code}`}`));
    this.hold(child, false);
    return child;
  }

  /**
   * While requests wait, Python keeps the worker's event loop alive (someone awaits the answer);
   * while it idles it does not, so a worker (or a test) is free to leave.
   */
  private hold(child: cp.ChildProcess, on: boolean): void {
    const f = on ? 'ref' : 'unref';
    child[f]();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Record<string, (() => void) | undefined> | null)?.[f]?.();
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      if (line.trim()) this.opts.log?.(`torch probe: ${line}`);
      return;
    }
    if (!isTorchToWorker(msg) || msg.type !== 'probe-result') {
      if (isTorchToWorker(msg) && msg.type === 'log') this.opts.log?.(`torch probe: ${msg.message}`);
      return;
    }
    const r = msg as TorchProbeResult;
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0 && this.child) this.hold(this.child, false);
    if (r.error !== undefined) p.reject(new TorchProbeError(r.error, r.errorKind === 'config' ? r.path ?? [] : undefined));
    else p.resolve(r.result);
  }
}

let shared: TorchProbeProcess | undefined;

/** The worker's probe process (one per engine worker). */
export function torchProbe(): TorchProbeProcess {
  shared ??= new TorchProbeProcess();
  return shared;
}

/** Lets the worker's probe process go (tests; a worker leaving). */
export function stopTorchProbe(): void {
  shared?.dispose();
  shared = undefined;
}

// ---------------------------------------------------------------------------------------------
// the hook

/** The experiment a query is about, when it is a torch experiment (else undefined). */
function torchSnapshot(q: ProbeQuery): ConfigSnapshot | undefined {
  const fromFile = (file: string, text?: string): ConfigSnapshot | undefined => {
    const abs = path.resolve(file);
    const loaded = text !== undefined ? { ...parseExperimentText(text, abs), text } : loadExperiment(abs);
    const config = loaded.config as ExperimentConfig | undefined;
    // invalid: the TF.js path says why; check reports the validator's located errors first (check.ts)
    if (!config || engineOf(config) !== 'torch') return undefined;
    if (q.kind === 'check' && loaded.errors.some((e) => e.severity === 'error')) return undefined;
    return { experimentFile: abs, experimentText: loaded.text ?? '', config };
  };
  const fromRun = (runDir: string): ConfigSnapshot | undefined => {
    let snap: ConfigSnapshot;
    try {
      snap = readSnapshot(runDir);
    } catch {
      return undefined;
    }
    return engineOf(snap.config) === 'torch' ? snap : undefined;
  };
  switch (q.kind) {
    case 'layers': return q.runDir ? fromRun(q.runDir) : q.experimentFile ? fromFile(q.experimentFile, q.text) : undefined;
    case 'featureMapsInit':
    case 'featureMaps': return fromRun(q.runDir);
    case 'suggest':
    case 'suggestText':
    case 'check': return fromFile(q.experimentFile);
    case 'estimate': return fromFile(q.experimentFile, q.text);
    case 'figures': return fromFile(q.experimentFile, q.text);
    case 'inspect': return q.target.endsWith('.distill.json') && fs.existsSync(q.target) ? fromFile(q.target) : undefined;
    case 'checkPair': return undefined;
  }
}

function locatedError(snap: ConfigSnapshot, at: (string | number)[], message: string): ConfigError {
  return { file: snap.experimentFile, path: at, location: locate(snap.experimentText, at), message, severity: 'error' };
}

/**
 * Answers a query about a torch experiment through Python; undefined when the query is not about
 * one. A problem of the experiment is thrown as an ExperimentError located in its file (the worker
 * then answers with `errorKind: 'config'`); `check` returns the problems instead, as the TF.js
 * engine's check does.
 */
export async function answerTorchProbe(q: ProbeQuery, probe: TorchProbeProcess = torchProbe()): Promise<ProbeAnswers[ProbeKind] | undefined> {
  const snap = torchSnapshot(q);
  if (!snap) return undefined;
  const python = (q as { python?: string }).python;
  const needsJobs = q.kind === 'check' || q.kind === 'estimate';
  const fromRun = 'runDir' in q && q.runDir !== undefined;
  try {
    const result = await probe.request(q, { ...(fromRun ? {} : { snapshot: snap }), ...(needsJobs ? { jobs: planJobs(snap.config) } : {}), python });
    if (q.kind === 'check') {
      const warnings = loadExperiment(snap.experimentFile).errors; // the validator's (non-error) findings come first, as check.ts
      return [...warnings, ...(result as { path: (string | number)[]; message: string }[]).map((p) => locatedError(snap, p.path, p.message))];
    }
    return result as ProbeAnswers[ProbeKind];
  } catch (e) {
    const located = e instanceof TorchProbeError && e.path
      ? locatedError(snap, e.path, e.message)
      : e instanceof NoInterpreterError ? locatedError(snap, ['engine'], e.message) : undefined;
    // check never throws for the experiment's sake: no Python, Restricted Mode, or a Python that died is a problem at `engine`
    if (q.kind === 'check') return [located ?? locatedError(snap, ['engine'], (e as Error).message)];
    if (located) throw new ExperimentError([located]);
    throw e;
  }
}

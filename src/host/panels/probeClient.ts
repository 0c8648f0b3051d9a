/**
 * Asks the engine for what the panels show about models (layers, pair checks, suggestions,
 * feature maps): one forked engine worker (`dist/worker.js`) that answers `probe` messages, started
 * on the first request and let go after a minute without requests. The host never loads
 * TensorFlow.js itself. The worker is started through the trust gate: in Restricted Mode it runs
 * with model modules refused, and such a refusal rejects as a RestrictedModeError; once trust is
 * granted the worker is replaced by one that may load them.
 *
 * issue 15: a query about a torch experiment or run carries the interpreter the host resolved for
 * it (`distill.pythonPath`, else the Python extension's: src/host/python.ts), the one its runs use,
 * so the pairing panel, feature maps, suggestions and estimates load the models in the same Python.
 * In Restricted Mode the interpreter is not looked for (the worker refuses torch probes anyway).
 */
import * as cp from 'child_process';
import type * as vscode from 'vscode';
import type { ProbeAnswers, ProbeKind, ProbeQuery, ProbeQueryOf } from '../../protocol/engine';
import { isEngineToHost } from '../../protocol/engine';
import type { PythonTarget } from '../python';
import { probeTarget } from '../python';
import { EngineGate, RestrictedModeError } from '../trust';

/** The host's interpreter for a torch experiment or run (undefined: a TF.js one, or none chosen). */
export type PythonResolver = (target: PythonTarget) => Promise<string | undefined>;

const IDLE_MS = 60_000;
/** How long a probe may take (loading a data set and a model included) before the engine is stopped. */
export const PROBE_TIMEOUT_MS = 180_000;

export class ProbeClient implements vscode.Disposable {
  private child?: cp.ChildProcess;
  private seq = 0;
  /** Requests waiting for an answer, with the worker they were sent to. */
  private readonly pending = new Map<number, { child: cp.ChildProcess; resolve(v: unknown): void; reject(e: Error): void }>();
  /** The current worker was started in Restricted Mode (model modules refused). */
  private restricted = false;
  private idle?: NodeJS.Timeout;
  private readonly granted: vscode.Disposable;

  constructor(private readonly workerPath: string, private readonly log: vscode.LogOutputChannel, private readonly backend: () => ProbeQuery['backend'],
    private readonly gate: EngineGate, private readonly python?: PythonResolver) {
    // a worker started in Restricted Mode never loads model code: replace it once trust is granted
    this.granted = gate.onDidGrant(() => {
      if (this.restricted) this.restart();
    });
  }

  /** Whether an engine process is up (tests read it). */
  get running(): boolean {
    return this.child?.connected === true;
  }

  /** The engine worker's pid while one is up (tests match it with the Python it starts). */
  get pid(): number | undefined {
    return this.child?.connected ? this.child.pid : undefined;
  }

  /**
   * Asks the engine; the answer's type follows the query's kind. Rejects with the engine's error,
   * a RestrictedModeError (untrusted workspace), or after `timeoutMs` — then the engine, which
   * answers one probe at a time, is stopped so that later requests do not queue behind it.
   */
  async request<K extends ProbeKind>(query: ProbeQueryOf<K>, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeAnswers[K]> {
    const python = await this.interpreterFor(query);
    return this.send(python ? { ...query, python } : query, timeoutMs);
  }

  /** The interpreter to add to `query`: none when it names one, is about no file, or the folder is untrusted. */
  private async interpreterFor(query: ProbeQuery): Promise<string | undefined> {
    if (!this.python || !this.gate.trusted || ('python' in query && query.python)) return undefined;
    const target = probeTarget(query);
    if (!target) return undefined;
    try {
      return await this.python(target);
    } catch (e) {
      this.log.warn(`[probe] the interpreter for ${query.kind} was not found: ${(e as Error).message}`);
      return undefined;
    }
  }

  private send<K extends ProbeKind>(query: ProbeQueryOf<K>, timeoutMs: number): Promise<ProbeAnswers[K]> {
    const child = this.worker();
    const id = ++this.seq;
    if (this.idle) clearTimeout(this.idle);
    let timer: NodeJS.Timeout | undefined;
    return new Promise<ProbeAnswers[K]>((resolve, reject) => {
      this.pending.set(id, { child, resolve: resolve as (v: unknown) => void, reject });
      timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        reject(new Error(`the engine did not answer the ${query.kind} request within ${Math.round(timeoutMs / 1000)} s; it was stopped (see the Distill Studio log)`));
        this.log.warn(`[probe] ${query.kind} request timed out after ${timeoutMs} ms: stopping engine process ${child.pid}`);
        if (this.child === child) this.restart();
        else child.kill();
      }, timeoutMs);
      child.send({ type: 'probe', id, query: { ...query, backend: query.backend ?? this.backend() } as ProbeQuery });
    }).finally(() => {
      clearTimeout(timer);
      this.armIdle();
    });
  }

  private armIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    if (this.pending.size === 0) this.idle = setTimeout(() => this.stop(), IDLE_MS);
  }

  private worker(): cp.ChildProcess {
    // a worker started in Restricted Mode is not reused once the folder is trusted
    if (this.child?.connected && this.restricted && this.gate.trusted) this.restart();
    if (this.child?.connected) return this.child;
    const env = this.gate.engineEnv('probe');
    this.restricted = !this.gate.trusted;
    const child = cp.fork(this.workerPath, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
    this.child = child;
    this.log.info(`[probe] engine process ${child.pid} started (layer inspection, feature maps)${this.gate.trusted ? '' : ' in Restricted Mode: model modules are not loaded'}`);
    child.stdout?.on('data', (d: Buffer) => this.log.debug(`[probe ${child.pid}] ${d.toString().trim()}`));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(`[probe ${child.pid}] ${d.toString().trim()}`));
    child.on('message', (m: unknown) => {
      if (!isEngineToHost(m)) return;
      if (m.type === 'probe-result') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(EngineGate.isRefusal(m.error) ? new RestrictedModeError('probe') : new Error(m.error));
        else p.resolve(m.result);
      } else if (m.type === 'log') {
        this.log.info(`[probe ${child.pid}] ${m.message}`);
      }
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      for (const [id, p] of this.pending) {
        if (p.child !== child) continue; // sent to a newer worker
        this.pending.delete(id);
        p.reject(new Error(`the engine process exited (${signal ?? `code ${code}`}) before answering`));
      }
    });
    return child;
  }

  private stop(): void {
    if (this.child && this.pending.size === 0) {
      this.log.info(`[probe] engine process ${this.child.pid} idle: stopping it`);
      this.child.disconnect();
      this.child = undefined;
    }
  }

  /** Lets the current worker go (pending requests fail); the next request starts a new one. */
  restart(): void {
    if (!this.child) return;
    this.log.info(`[probe] engine process ${this.child.pid} replaced (workspace trust changed)`);
    this.child.kill();
    this.child = undefined;
  }

  dispose(): void {
    this.granted.dispose();
    if (this.idle) clearTimeout(this.idle);
    this.child?.kill();
    this.child = undefined;
  }
}

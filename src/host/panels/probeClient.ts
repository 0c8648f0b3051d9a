/**
 * Asks the engine for what the panels show about models (layers, pair checks, suggestions,
 * feature maps): one forked engine worker (`dist/worker.js`) that answers `probe` messages, started
 * on the first request and let go after a minute without requests. The host never loads
 * TensorFlow.js itself.
 */
import * as cp from 'child_process';
import type * as vscode from 'vscode';
import type { ProbeQuery } from '../../protocol/engine';
import { isEngineToHost } from '../../protocol/engine';

const IDLE_MS = 60_000;

export class ProbeClient implements vscode.Disposable {
  private child?: cp.ChildProcess;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private idle?: NodeJS.Timeout;

  constructor(private readonly workerPath: string, private readonly log: vscode.LogOutputChannel, private readonly backend: () => ProbeQuery['backend']) {}

  request<T>(query: ProbeQuery): Promise<T> {
    const child = this.worker();
    const id = ++this.seq;
    if (this.idle) clearTimeout(this.idle);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ type: 'probe', id, query: { ...query, backend: query.backend ?? this.backend() } });
    }).finally(() => this.armIdle());
  }

  private armIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    if (this.pending.size === 0) this.idle = setTimeout(() => this.stop(), IDLE_MS);
  }

  private worker(): cp.ChildProcess {
    if (this.child?.connected) return this.child;
    const child = cp.fork(this.workerPath, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    this.child = child;
    this.log.info(`[probe] engine process ${child.pid} started (layer inspection, feature maps)`);
    child.stdout?.on('data', (d: Buffer) => this.log.debug(`[probe ${child.pid}] ${d.toString().trim()}`));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(`[probe ${child.pid}] ${d.toString().trim()}`));
    child.on('message', (m: unknown) => {
      if (!isEngineToHost(m)) return;
      if (m.type === 'probe-result') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.result);
      } else if (m.type === 'log') {
        this.log.info(`[probe ${child.pid}] ${m.message}`);
      }
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      for (const [, p] of this.pending) p.reject(new Error(`the engine process exited (${signal ?? `code ${code}`}) before answering`));
      this.pending.clear();
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

  dispose(): void {
    if (this.idle) clearTimeout(this.idle);
    this.child?.kill();
    this.child = undefined;
  }
}

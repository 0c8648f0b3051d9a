/**
 * The CLI as a client of an engine process, as the extension host is: `distill run`, `resume`,
 * `check`, `inspect`, `suggest-pairs`, `sweep` and `sweep-resume` fork the engine worker (dist/worker.js beside this file)
 * and speak src/protocol/engine.ts with it — a `start` and its progress, or one `probe` and its
 * answer. The engine's own output comes back through this process (so a closed stdout is handled
 * in one place, src/cli/output.ts). This is what lets the same commands drive another engine.
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { EngineToHost, ProbeAnswers, ProbeKind, ProbeQuery, ProbeQueryOf, StartRequest } from '../protocol/engine';
import { isEngineToHost } from '../protocol/engine';

/** The worker to fork: the bundle beside dist/cli.js, or the source under tsx (tests that import the CLI). */
function workerEntry(): { file: string; execArgv: string[] } {
  const bundled = path.join(__dirname, 'worker.js');
  if (fs.existsSync(bundled)) return { file: bundled, execArgv: [] };
  return { file: path.join(__dirname, '..', 'engine', 'worker.ts'), execArgv: ['--import', 'tsx'] };
}

/** Forks the engine; its stdout and stderr are relayed to ours. */
function forkEngine(): cp.ChildProcess {
  const { file, execArgv } = workerEntry();
  const child = cp.fork(file, [], { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: process.env });
  child.stdout?.on('data', (d: Buffer) => process.stdout.write(d));
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  return child;
}

/** How a run in the engine ended. */
export interface EngineRunResult {
  status: 'completed' | 'cancelled' | 'failed';
  runDir?: string;
  error?: string;
  /** `config`: refused before a run folder existed (a located message); `locked`: another process owns the run. */
  kind?: 'config' | 'locked';
}

/**
 * Starts (or resumes) a run — or runs a sweep folder — in an engine process; `emit` sees every message, `stop()` asks the
 * engine to checkpoint and stop (Ctrl-C). Resolves when the engine says how the run ended.
 */
export function runInEngine(req: Omit<StartRequest, 'type'>, emit: (m: EngineToHost) => void): { result: Promise<EngineRunResult>; stop(): void } {
  const child = forkEngine();
  let outcome: EngineRunResult | undefined;
  const result = new Promise<EngineRunResult>((resolve) => {
    child.on('message', (m: unknown) => {
      if (!isEngineToHost(m)) return;
      emit(m);
      if (m.type === 'ready') child.send({ type: 'start', ...req });
      else if (req.sweep) {
        // a sweep: its points' runs report as usual; the sweep's own end (or a refusal) decides
        if (m.type === 'sweep-done') outcome = { status: m.status, runDir: m.sweepDir };
        else if (m.type === 'failed' && (m.kind || !m.runDir)) outcome = { status: 'failed', error: m.error, ...(m.kind ? { kind: m.kind } : {}) };
      } else if (m.type === 'done') outcome = { status: m.status, runDir: m.runDir };
      else if (m.type === 'failed') outcome = { status: 'failed', runDir: m.runDir, error: m.error, ...(m.kind ? { kind: m.kind } : {}) };
    });
    child.on('exit', (code, signal) => {
      resolve(outcome ?? { status: 'failed', error: `the engine process exited (${signal ?? `code ${code}`}) without saying how the run ended` });
    });
  });
  return {
    result,
    stop: () => {
      if (child.connected) child.send({ type: 'stop' });
    },
  };
}

/** A probe error that is the experiment's own (a located message). */
export class EngineConfigError extends Error {}

/** Asks an engine process one question and lets it go. */
export async function probeEngine<K extends ProbeKind>(query: ProbeQueryOf<K>): Promise<ProbeAnswers[K]> {
  const child = forkEngine();
  try {
    return await new Promise<ProbeAnswers[K]>((resolve, reject) => {
      child.on('message', (m: unknown) => {
        if (!isEngineToHost(m)) return;
        if (m.type === 'ready') child.send({ type: 'probe', id: 1, query: query as ProbeQuery });
        else if (m.type === 'log' && m.level === 'warn' && m.message.startsWith('ignored a malformed message')) reject(new Error(`the engine refused the request: ${m.message}`));
        else if (m.type === 'probe-result' && m.id === 1) {
          if (m.error === undefined) resolve(m.result as ProbeAnswers[K]);
          else reject(m.errorKind === 'config' ? new EngineConfigError(m.error) : new Error(m.error));
        }
      });
      child.on('exit', (code, signal) => reject(new Error(`the engine process exited (${signal ?? `code ${code}`}) before answering`)));
    });
  } finally {
    if (child.connected) child.disconnect();
  }
}

/**
 * One engine process answering several probes, in order (the worker answers them one at a time):
 * a search on the sweep executors measures all its candidates in one backend, as its one-process
 * search does (src/cli/searchExecutors.ts). `close()` lets the process go.
 */
export function probeSession(): { ask<K extends ProbeKind>(query: ProbeQueryOf<K>): Promise<ProbeAnswers[K]>; close(): void } {
  const child = forkEngine();
  let next = 1;
  let exited: Error | undefined;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: unknown) => {
      if (!isEngineToHost(m)) return;
      if (m.type === 'ready') resolve();
      else if (m.type === 'probe-result') {
        const w = waiting.get(m.id);
        if (!w) return;
        waiting.delete(m.id);
        if (m.error === undefined) w.resolve(m.result);
        else w.reject(m.errorKind === 'config' ? new EngineConfigError(m.error) : new Error(m.error));
      }
    });
    child.on('exit', (code, signal) => {
      exited = new Error(`the engine process exited (${signal ?? `code ${code}`}) before answering`);
      reject(exited);
      for (const w of waiting.values()) w.reject(exited);
      waiting.clear();
    });
  });
  ready.catch(() => undefined);
  return {
    async ask<K extends ProbeKind>(query: ProbeQueryOf<K>): Promise<ProbeAnswers[K]> {
      await ready;
      if (exited) throw exited;
      const id = next++;
      return await new Promise<ProbeAnswers[K]>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ type: 'probe', id, query: query as ProbeQuery });
      });
    },
    close: () => {
      if (child.connected) child.disconnect();
    },
  };
}

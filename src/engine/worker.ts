/**
 * The engine worker: a child process forked by the extension host (or any parent) that runs one
 * experiment and reports over `process.send` with the typed protocol of `src/protocol/engine.ts`.
 * It never dies silently: an uncaught error is sent as `failed` before the process exits, and a
 * parent that goes away stops the run cleanly (checkpoint, cancelled).
 */
import type { EngineToHost, HostToEngine, StartRequest } from '../protocol/engine';
import { isHostToEngine } from '../protocol/engine';
import { answerProbe } from './probe';
import { runExperiment } from './run';
import { runSweep, runSweepPoint } from './sweep';
import { ExperimentError } from '../config/errors';
import { FolderLockedError } from '../runs/lock';

if (!process.send) {
  console.error('distill worker: start me with child_process.fork (an IPC channel is required)');
  process.exit(2);
}

let stopRequested = false;
let started = false;
let probes: Promise<void> = Promise.resolve();

/** Resolves when the latest message has been handed to the IPC channel (or could not be). */
let flushed: Promise<void> = Promise.resolve();

function send(msg: EngineToHost): void {
  if (!process.connected) return;
  flushed = new Promise((resolve) => {
    process.send!(msg, undefined, {}, () => resolve());
  });
}

/** Leaves once the last message is out (a lost `done` would turn a completed run into a crash). */
function leave(code: number): void {
  process.exitCode = code;
  // the callback of process.send fires when the message is written, or with the error that it
  // could not be; the timer only guards against a channel that never answers
  const guard = setTimeout(() => process.exit(), 10_000);
  void flushed.then(() => {
    clearTimeout(guard);
    process.exit();
  });
}

async function start(req: Extract<HostToEngine, { type: 'start' }>): Promise<void> {
  started = true;
  if (req.sweep) return req.point === undefined ? startSweep(req.sweep, req.backend, req.python) : startSweepPoint(req.sweep, req.point, req.backend, req.python);
  try {
    const result = await runExperiment({
      experiment: req.experiment, resume: req.resume, runsDir: req.runsDir, backend: req.backend, python: req.python,
      processes: req.processes, emit: send, shouldStop: () => stopRequested,
    });
    leave(result.status === 'failed' ? 1 : 0);
  } catch (e) {
    refused(e);
  }
}

/**
 * A run or sweep that ended before it started: an invalid experiment, bad data (nothing was
 * created), a folder another live process owns (nothing changed), or a disk fault. Says why, leaves.
 */
function refused(e: unknown): void {
  const kind = e instanceof ExperimentError ? 'config' : e instanceof FolderLockedError ? 'locked' : undefined;
  send({ type: 'failed', error: (e as Error).message || String(e), ...(kind ? { kind } : {}) });
  leave(1);
}

/** Runs (or resumes) a sweep folder's points in this process, one after another. */
async function startSweep(sweepDir: string, backend: StartRequest['backend'], python: string | undefined): Promise<void> {
  try {
    const sweep = await runSweep(sweepDir, {
      backend, python, emit: send, shouldStop: () => stopRequested,
      onPoint: (i, p, total) => send({ type: 'log', level: 'info', message: `\n── point ${i + 1}/${total} (${p.id}): ${Object.entries(p.values).map(([k, v]) => `${k} = ${v}`).join(', ')}` }),
    });
    send({ type: 'sweep-done', sweepDir, status: sweep.status === 'completed' ? 'completed' : sweep.status === 'cancelled' ? 'cancelled' : 'failed' });
    leave(sweep.status === 'failed' ? 1 : 0);
  } catch (e) {
    refused(e);
  }
}

/** Runs (or resumes) one point of a sweep folder (`distill sweep-point`); `sweep-done` tells how that point ended. */
async function startSweepPoint(sweepDir: string, index: number, backend: StartRequest['backend'], python: string | undefined): Promise<void> {
  try {
    const point = await runSweepPoint(sweepDir, index, {
      backend, python, emit: send, shouldStop: () => stopRequested,
      onPoint: (i, p, total) => send({ type: 'log', level: 'info', message: `── point ${i + 1}/${total} (${p.id}): ${Object.entries(p.values).map(([k, v]) => `${k} = ${v}`).join(', ')}` }),
    });
    const status = point.status === 'completed' ? 'completed' : point.status === 'cancelled' ? 'cancelled' : 'failed';
    send({ type: 'sweep-done', sweepDir, status });
    leave(status === 'failed' ? 1 : 0);
  } catch (e) {
    refused(e);
  }
}

process.on('message', (raw: unknown) => {
  if (!isHostToEngine(raw)) {
    send({ type: 'log', level: 'warn', message: `ignored a malformed message: ${JSON.stringify(raw)?.slice(0, 200)}` });
    return;
  }
  if (raw.type === 'probe') {
    // Inspection for the panels: answered in order, one at a time (they share the backend and models).
    const { id, query } = raw;
    probes = probes.then(() => answerProbe(query)).then(
      (result) => send({ type: 'probe-result', id, result }),
      (e: unknown) => send({ type: 'probe-result', id, error: (e as Error)?.message ?? String(e), ...(e instanceof ExperimentError ? { errorKind: 'config' as const } : {}) }),
    );
    return;
  }
  if (raw.type === 'stop') {
    stopRequested = true;
    send({ type: 'log', level: 'info', message: 'stop requested: checkpointing' });
    if (!started) leave(0);
    return;
  }
  if (started) {
    send({ type: 'log', level: 'warn', message: 'a run is already going in this worker; start ignored' });
    return;
  }
  void start(raw);
});

process.on('disconnect', () => {
  stopRequested = true; // the parent is gone: checkpoint and stop
  if (!started) process.exit(0); // a probe worker has nothing to save, and nobody to tell
});

process.on('uncaughtException', (e) => {
  send({ type: 'failed', error: `engine crashed: ${e.stack ?? e.message}` });
  leave(1);
});
process.on('unhandledRejection', (e) => {
  send({ type: 'failed', error: `engine crashed: ${(e as Error)?.stack ?? String(e)}` });
  leave(1);
});

// Ctrl-C in a terminal reaches the whole process group: the parent decides (it sends `stop`, and a
// second Ctrl-C makes it leave, which disconnects us: we then checkpoint and stop).
process.on('SIGINT', () => {
  if (!process.connected) process.exit(130);
});

send({ type: 'ready', pid: process.pid });

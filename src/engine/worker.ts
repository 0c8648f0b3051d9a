/**
 * The engine worker: a child process forked by the extension host (or any parent) that runs one
 * experiment and reports over `process.send` with the typed protocol of `src/protocol/engine.ts`.
 * It never dies silently: an uncaught error is sent as `failed` before the process exits, and a
 * parent that goes away stops the run cleanly (checkpoint, cancelled).
 */
import type { EngineToHost, HostToEngine } from '../protocol/engine';
import { isHostToEngine } from '../protocol/engine';
import { answerProbe } from './probe';
import { runExperiment } from './run';
import { ExperimentError } from '../config/errors';
import { FolderLockedError } from './runs/lock';

if (!process.send) {
  console.error('distill worker: start me with child_process.fork (an IPC channel is required)');
  process.exit(2);
}

let stopRequested = false;
let started = false;
let probes: Promise<void> = Promise.resolve();

function send(msg: EngineToHost): void {
  if (process.connected) process.send!(msg);
}

async function start(req: Extract<HostToEngine, { type: 'start' }>): Promise<void> {
  started = true;
  try {
    const result = await runExperiment({
      experiment: req.experiment, resume: req.resume, runsDir: req.runsDir, backend: req.backend,
      emit: send, shouldStop: () => stopRequested,
    });
    process.exitCode = result.status === 'failed' ? 1 : 0;
  } catch (e) {
    // Errors before a run folder exists (e.g. an invalid experiment file, bad data), or a run
    // another live process owns: nothing on disk changed, nothing to resume.
    const kind = e instanceof ExperimentError ? 'config' : e instanceof FolderLockedError ? 'locked' : undefined;
    send({ type: 'failed', error: (e as Error).message || String(e), ...(kind ? { kind } : {}) });
    process.exitCode = 1;
  } finally {
    // Let the last messages flush, then leave.
    setTimeout(() => process.exit(), 50);
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
      (e: unknown) => send({ type: 'probe-result', id, error: (e as Error)?.message ?? String(e) }),
    );
    return;
  }
  if (raw.type === 'stop') {
    stopRequested = true;
    send({ type: 'log', level: 'info', message: 'stop requested: checkpointing' });
    if (!started) process.exit(0);
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
  if (!started) setTimeout(() => process.exit(0), 50); // a probe worker has nothing to save
});

process.on('uncaughtException', (e) => {
  send({ type: 'failed', error: `engine crashed: ${e.stack ?? e.message}` });
  setTimeout(() => process.exit(1), 50);
});
process.on('unhandledRejection', (e) => {
  send({ type: 'failed', error: `engine crashed: ${(e as Error)?.stack ?? String(e)}` });
  setTimeout(() => process.exit(1), 50);
});

send({ type: 'ready', pid: process.pid });

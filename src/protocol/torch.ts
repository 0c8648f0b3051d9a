/**
 * The bridge protocol between the TypeScript engine worker and the PyTorch engine (issue 14).
 *
 * Experiments with `"engine": "torch"` run in a Python process (`python -m distill_torch`, package
 * in `python/distill_torch/`) started by the engine worker (src/engine/torch/bridge.ts), never by
 * the host directly: the host, the CLI and sweeps keep speaking src/protocol/engine.ts to the
 * worker, and the worker relays. Messages are JSON, one per line: worker → Python on Python's
 * stdin, Python → worker on Python's stdout; Python's stderr is its log (relayed as `log` lines).
 *
 * Who owns what in a run folder (src/runs/store.ts is the format, schema/*.schema.json validate it):
 *   - the worker (TypeScript): validation of the experiment (src/config), the job plan
 *     (planJobs), creating the folder (config.json, the queued run.json, the empty metrics.jsonl),
 *     its `.owner.lock` for the whole run, the `resume` event line of a resume, and recording a
 *     failure when Python dies without saying `done` or `failed`;
 *   - Python: everything from `run` on — run.json updates (status, pid/pidStart/host = its own
 *     process, backend, versions, job states, finishedAt, error), metrics.jsonl records (including
 *     `resume` records with `supersedes`), checkpoints/, models/, student/, report.json.
 *
 * The sequence of a new run:
 *   worker → `prepare` (the validated snapshot and the job plan)
 *   Python ← loads the data and models, checks every pair, then `prepared` (or `failed` with
 *            `kind: 'config'` and the JSON `path` of the culprit: nothing was created)
 *   worker → creates the run folder, takes its lock, emits `started`, then `run`
 *   Python ← `progress`, `epoch`, `checkpoint`, `log` …, then `done` or `failed`; then exits.
 * A resume is the same with the run folder's own snapshot and jobs, and `run` with `resume: true`
 * (Python continues every job from its newest checkpoint, appending `resume` records).
 * `stop` at any time: Python checkpoints, marks the run cancelled, says `done` (cancelled), exits.
 * Python's stdin closing (the worker died) counts as `stop`.
 *
 * Probes (issue 15): a Python process the worker keeps for the panels (src/engine/torch/probe.ts)
 * gets `probe` messages instead of `prepare`: each is one ProbeQuery of src/protocol/engine.ts
 * about a torch experiment, answered by one `probe-result` with the same id (the answer types of
 * ProbeAnswers, shapes in the TF.js order [B,H,W,C]; python/distill_torch/probe.py). The process
 * answers one at a time and stays until its stdin closes.
 */
import type { ConfigSnapshot, JobState } from '../runs/store';
import type { CheckpointMessage, EpochMessage, LogMessage, ProgressMessage, DoneMessage, ProbeQuery } from './engine';

/** The module Python runs: `python -m distill_torch` with `python/` on PYTHONPATH. */
export const TORCH_MODULE = 'distill_torch';
/** The oldest torch the engine supports. */
export const TORCH_MIN_VERSION = '1.13';

/** Worker → Python: load data and models of this experiment and check them; create nothing. */
export interface TorchPrepare {
  type: 'prepare';
  /** The validated experiment (config with defaults filled in); paths resolve against dirname(experimentFile). */
  snapshot: ConfigSnapshot;
  /** The jobs (planJobs, or the run folder's run.json `jobs` on resume), in the order they run. */
  jobs: Record<string, JobState>;
}

/** Worker → Python: train (or continue) the run in `runDir`, which the worker created and locked. */
export interface TorchRun {
  type: 'run';
  runDir: string;
  resume: boolean;
}

export interface TorchStop { type: 'stop' }

/**
 * Worker → Python: one probe query. `snapshot` is the validated experiment the query is about
 * (queries on a run folder read its config.json instead); `jobs` its planJobs (check, estimate).
 */
export interface TorchProbe {
  type: 'probe';
  id: number;
  query: ProbeQuery;
  snapshot?: ConfigSnapshot;
  jobs?: Record<string, JobState>;
}

export type WorkerToTorch = TorchPrepare | TorchRun | TorchStop | TorchProbe;

/** Python → worker: the experiment loaded; what it will run on. */
export interface TorchPrepared {
  type: 'prepared';
  /** As run.json `backend`: name = the device (`cpu`, `cuda:0`, `mps`), versions (python, torch, …), notes (threads, precision). */
  backend: { name: string; versions: Record<string, string>; notes: string[]; customKernels: string[] };
  /** Class names by label when the data has them. */
  classNames?: string[];
}

/** Python → worker: the experiment, its data or its models were refused (`config`), or the run failed. */
export interface TorchFailed {
  type: 'failed';
  error: string;
  /** `config`: nothing was created; `path` locates the culprit in the experiment file. */
  kind?: 'config';
  path?: (string | number)[];
  runDir?: string;
}

/**
 * Python → worker: the answer to one `probe` (`result`), or why not (`error`); `errorKind: 'config'`
 * with `path`: a problem of the experiment at that JSON path (the worker locates it in the file).
 */
export interface TorchProbeResult {
  type: 'probe-result';
  id: number;
  result?: unknown;
  error?: string;
  errorKind?: 'config';
  path?: (string | number)[];
}

export type TorchToWorker =
  | { type: 'ready'; pid: number; versions: Record<string, string> }
  | TorchProbeResult
  | TorchPrepared
  | ProgressMessage
  | EpochMessage
  | CheckpointMessage
  | LogMessage
  | DoneMessage
  | TorchFailed;

const TORCH_TYPES = new Set<TorchToWorker['type']>(['ready', 'prepared', 'progress', 'epoch', 'checkpoint', 'log', 'done', 'failed', 'probe-result']);

/** Type guard for a parsed stdout line of the Python engine (anything else is logged as text). */
export function isTorchToWorker(value: unknown): value is TorchToWorker {
  return typeof value === 'object' && value !== null
    && TORCH_TYPES.has((value as { type?: unknown }).type as TorchToWorker['type']);
}

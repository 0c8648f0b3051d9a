/**
 * The host ↔ engine protocol: the messages that cross `process.send` between the extension host
 * (or any parent) and a forked engine worker (`dist/worker.js`). Imported by both sides; this file
 * is the one place to read what crosses that boundary. No `vscode`, no TensorFlow.js here.
 *
 * Host → engine: `start`, `stop`, `probe` (inspection for the panels; a worker that answers
 * probes runs no experiment and stays until its parent lets go of it).
 * Engine → host: `ready` (once, at boot), `progress`, `epoch`, `checkpoint`, `log`, `done`, `failed`,
 * `probe-result` (one per `probe`, same id).
 */

import type { ConfigError } from '../config/types';

/**
 * Workspace trust across the boundary: an engine process started with this variable set to `1`
 * (by the host, in Restricted Mode) refuses to load any model module — it may still read run
 * folders, data files and plain `model.json` files — and its refusal carries {@link RESTRICTED_MARK}.
 */
export const RESTRICTED_ENV = 'DISTILL_RESTRICTED';
export const RESTRICTED_MARK = '(Restricted Mode: model code is not loaded)';

/** Sent by the host to start (or resume) a run. */
export interface StartRequest {
  type: 'start';
  /** Absolute path of the `*.distill.json` file; ignored when `resume` is given. */
  experiment?: string;
  /** Absolute path of an existing run folder to resume. */
  resume?: string;
  /** Folder that holds `<experiment>/<run-id>/`; default `<experiment dir>/.distill/runs`. */
  runsDir?: string;
  /** Force a compute backend. */
  backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** Absolute path of a sweep folder (src/runs/sweeps.ts) to run or resume, point after point. */
  sweep?: string;
  /** With `sweep`: run exactly this point (its index in sweep.json) and no other (`distill sweep-point`). */
  point?: number;
  /**
   * issue 14: the Python interpreter of the torch engine (`"engine": "torch"` experiments): the
   * setting `distill.pythonPath`, the Python extension's interpreter, or the CLI's `--python`.
   * Absent: DISTILL_PYTHON, else the first of python3, /usr/bin/python3, python that has torch.
   */
  python?: string;
  /**
   * issue 15: the CLI's `--processes N`: a data-parallel torch run with N processes, overriding the
   * experiment's `"distributed": { "processes": N }` (the torch engine only).
   */
  processes?: number;
}

/** Sent by the host to stop the run: the engine checkpoints, marks it cancelled and exits. */
export interface StopRequest {
  type: 'stop';
}

/**
 * Inspection for the panels (src/engine/probe.ts): layer lists, a pair check, suggestions, and the
 * feature maps of one checkpoint / test sample / pair. Paths are absolute and chosen by the host.
 * issue 15: a query about a torch experiment or run may carry `python`, the interpreter of its
 * probe process (as StartRequest's; the host adds the resolved `distill.pythonPath` / Python
 * extension's interpreter, so the panels use the runs' Python). TF.js experiments ignore it.
 */
export type ProbeQuery =
  /** The experiment's layers (its file, or `text` when the editor holds unsaved changes), or a run's models (`runDir`). */
  | { kind: 'layers'; experimentFile?: string; text?: string; runDir?: string; backend?: StartRequest['backend']; python?: string }
  | { kind: 'checkPair'; method: string; teacher: string; student: string; teacherShape: (number | null)[]; studentShape: (number | null)[]; backend?: StartRequest['backend'] }
  | { kind: 'suggest'; experimentFile: string; backend?: StartRequest['backend']; python?: string }
  | { kind: 'featureMapsInit'; runDir: string; backend?: StartRequest['backend']; python?: string }
  /** `checkpoint`: `<job>/<checkpoint folder>` as listed by featureMapsInit. */
  | { kind: 'featureMaps'; runDir: string; checkpoint: string; sample: number; entry: number; pair: number; backend?: StartRequest['backend']; python?: string }
  /** What `distill check` reports: the validator's problems, then the data and model checks (located); a torch experiment's are its Python engine's (`python`: as in StartRequest). */
  | { kind: 'check'; experimentFile: string; backend?: StartRequest['backend']; python?: string }
  /** `distill inspect`: a model.json or an experiment's teacher vs student, as text. */
  | { kind: 'inspect'; target: string; backend?: StartRequest['backend']; python?: string }
  /** `distill suggest-pairs`: the suggested pairs of an experiment, as text. */
  | { kind: 'suggestText'; experimentFile: string; backend?: StartRequest['backend']; python?: string }
  /** issue 20: the run's training time on this machine, measured (a few optimizer steps of each architecture). */
  | { kind: 'estimate'; experimentFile: string; text?: string; backend?: StartRequest['backend']; python?: string }
  /** issue 18: a search candidate's student figures at batch 1 (`text`: the candidate's experiment text, paths resolve against `experimentFile`). */
  | { kind: 'figures'; experimentFile: string; text?: string; backend?: StartRequest['backend']; python?: string };

export interface ProbeRequest {
  type: 'probe';
  id: number;
  query: ProbeQuery;
}

export type HostToEngine = StartRequest | StopRequest | ProbeRequest;

type ProbeShape = (number | null)[];
export interface ProbeLayer { name: string; type: string; outputShape: ProbeShape; params: number; flops: number }
export interface LayersAnswer {
  teacher: ProbeLayer[];
  student: ProbeLayer[];
  links: { entry: number; pair: number; method: string; teacher: string; student: string; adapter: string; adapterShape?: ProbeShape; error?: string }[];
  methods: { method: string; kind: string; title: string }[];
}
export type PairCheckAnswer = { ok: true; adapter: string; outputShape: ProbeShape } | { ok: false; reason: string };
export interface SuggestAnswer {
  suggestions: { teacher: string; student: string; method: string; adapter: string; reason: string }[];
  error?: string;
}
export interface FeatureMapsInitAnswer {
  checkpoints: { id: string; label: string }[];
  samples: { id: number; label: number; pixels: number[]; h: number; w: number }[];
  pairs: { id: string; label: string }[];
}
export interface ProbeGrid { channels: number[][]; h: number; w: number }
export interface FeatureMapsAnswer {
  teacher: ProbeGrid;
  student: ProbeGrid;
  difference?: ProbeGrid;
  attentionTeacher?: ProbeGrid;
  attentionStudent?: ProbeGrid;
  teacherShape: ProbeShape;
  studentShape: ProbeShape;
  adapter: string;
  cka?: number;
  cosine?: number;
  mse?: number;
  batch: number;
  note?: string;
}

/** The answer type of each probe query kind (the engine's reply, the host's typed result). */
export interface ProbeAnswers {
  layers: LayersAnswer;
  checkPair: PairCheckAnswer;
  suggest: SuggestAnswer;
  featureMapsInit: FeatureMapsInitAnswer;
  featureMaps: FeatureMapsAnswer;
  check: ConfigError[];
  inspect: { text: string };
  suggestText: { text: string };
  /** Seconds of training (undefined when there is nothing to measure) and the estimate in words. */
  estimate: { seconds?: number; description?: string };
  figures: FiguresAnswer;
}

/**
 * issue 18: the student of an experiment, measured by its engine: parameters, float32 bytes, FLOPs
 * per sample and latency per sample at batch 1 (as the report measures it), and how many Conv2D
 * layers its derive swapped to separable ones (the search's `separable` check).
 */
export interface FiguresAnswer {
  student: { params: number; bytes: number; flops: number; latencyMsPerSample: number };
  swapped: number;
}
export type ProbeKind = ProbeQuery['kind'];
export type ProbeQueryOf<K extends ProbeKind> = Extract<ProbeQuery, { kind: K }>;

/** The answer to one `probe`: `result` is the answer type of its query kind ({@link ProbeAnswers}). */
export interface ProbeResultMessage {
  type: 'probe-result';
  id: number;
  result?: unknown;
  error?: string;
  /** `config`: the error is the experiment's (a located message, printed as it is). */
  errorKind?: 'config';
}

/** Sent once when the worker has booted and listens. */
export interface ReadyMessage {
  type: 'ready';
  pid: number;
}

/** Sent when the run folder exists (right after start). */
export interface RunStartedMessage {
  type: 'started';
  runDir: string;
  runId: string;
  /** The TF.js backend, or with the torch engine its device (`cpu`, `cuda:0`, `mps`). */
  backend: string;
  /** issue 14: `torch` for a run of the torch engine; absent for the TF.js engine. */
  engine?: 'torch';
}

/** A training step was logged. */
export interface ProgressMessage {
  type: 'progress';
  /** Job id, e.g. `teacher`, `scratch-s1`, `distill-s1`. */
  job: string;
  phase: 'teacher' | 'scratch' | 'distill' | 'evaluate';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Every loss term by name, plus `total`. */
  losses: Record<string, number>;
  samplesPerSecond: number;
  /** Estimated seconds left for the whole run. */
  etaSeconds: number;
}

/** An epoch ended; its metrics were appended to metrics.jsonl. */
export interface EpochMessage {
  type: 'epoch';
  job: string;
  epoch: number;
  metrics: Record<string, number>;
}

/** A checkpoint was written (atomically) for a job. */
export interface CheckpointMessage {
  type: 'checkpoint';
  job: string;
  epoch: number;
  path: string;
}

export interface LogMessage {
  type: 'log';
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** The run finished; the report has been written. */
export interface DoneMessage {
  type: 'done';
  runDir: string;
  status: 'completed' | 'cancelled';
}

/** The run failed; the folder is kept and can be resumed. */
export interface FailedMessage {
  type: 'failed';
  runDir?: string;
  error: string;
  /**
   * Why, when it is not the run's own failure: `config` — the experiment, its data or its models
   * were refused before any run folder was made (a located error, nothing to resume); `locked` —
   * another live process trains that run (nothing was changed).
   */
  kind?: 'config' | 'locked';
}

/** A sweep the engine was started on has ended (its points' runs report as usual before it). */
export interface SweepDoneMessage {
  type: 'sweep-done';
  sweepDir: string;
  status: 'completed' | 'failed' | 'cancelled';
}

export type EngineToHost =
  | SweepDoneMessage
  | ReadyMessage
  | RunStartedMessage
  | ProgressMessage
  | EpochMessage
  | CheckpointMessage
  | LogMessage
  | DoneMessage
  | FailedMessage
  | ProbeResultMessage;

const ENGINE_TYPES = new Set<EngineToHost['type']>([
  'ready', 'started', 'progress', 'epoch', 'checkpoint', 'log', 'done', 'failed', 'probe-result', 'sweep-done',
]);

/** Type guard for messages arriving from a worker (anything else is ignored by the host). */
export function isEngineToHost(value: unknown): value is EngineToHost {
  return typeof value === 'object' && value !== null
    && ENGINE_TYPES.has((value as { type?: unknown }).type as EngineToHost['type']);
}

/** Type guard for messages arriving at the worker. */
/** Every probe kind (a kind added to ProbeQuery must be added here: the type says so). */
const PROBE_KINDS: Record<ProbeKind, true> = {
  layers: true, checkPair: true, suggest: true, featureMapsInit: true, featureMaps: true, check: true, inspect: true, suggestText: true, estimate: true, figures: true,
};

export function isHostToEngine(value: unknown): value is HostToEngine {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v.type === 'stop') return true;
  if (v.type === 'probe') {
    const q = v.query as Record<string, unknown> | undefined;
    return typeof v.id === 'number' && typeof q === 'object' && q !== null
      && typeof q.kind === 'string' && Object.prototype.hasOwnProperty.call(PROBE_KINDS, q.kind);
  }
  if (v.type !== 'start') return false;
  const str = (x: unknown) => x === undefined || typeof x === 'string';
  return str(v.experiment) && str(v.resume) && str(v.runsDir) && str(v.backend) && str(v.sweep) && str(v.python)
    && (v.processes === undefined || (typeof v.processes === 'number' && Number.isInteger(v.processes) && v.processes >= 1))
    && (v.point === undefined || (typeof v.point === 'number' && Number.isInteger(v.point) && v.point >= 0))
    && (typeof v.experiment === 'string' || typeof v.resume === 'string' || typeof v.sweep === 'string');
}

/**
 * The host ↔ webview protocol of the seven panels (dashboard, pairing, feature maps, compression,
 * compare, sweep, synthesized inputs). Imported by the host (src/host/panels) and by the webview apps (webview/<panel>/); no
 * `vscode`, no Node, no TensorFlow.js here.
 *
 * Flow: the host renders the HTML; the webview posts `ready` once its script runs; the host then
 * sends `init` with everything the panel shows, and later notifications (`append`, `pairing`,
 * `featureMaps`, …). Webview → host messages are *commands* (no reply) — the host answers with a
 * notification when there is something to show. Every webview message is untrusted: the host runs
 * it through `parseWebviewMessage` and drops what does not fit; no message names a file path —
 * checkpoints, samples and pairs are named by ids the host handed out itself.
 */

import { PAIR_METHODS } from '../methods/catalogue';
import type { FeatureMapsAnswer, ProbeGrid } from './engine';

export type PanelKind = 'dashboard' | 'pairing' | 'featureMaps' | 'compression' | 'compare' | 'sweep' | 'synthesized';

// ---------------------------------------------------------------------------------------------
// shared data shapes

/** One point of a step series: global step, epoch position (fractional), value. */
export interface SeriesData {
  /** e.g. `distill-s1 · kd`. */
  name: string;
  job: string;
  term: string;
  /** x by step (the job's global step). */
  step: number[];
  /** x by epoch (epoch − 1 + step/steps, fractional). */
  epoch: number[];
  value: number[];
}

export interface EpochPoint {
  job: string;
  epoch: number;
  trainAcc: number;
  valAcc?: number;
  testAcc: number;
  agreement?: number;
}

/** A run's verdict (src/runs/verdict.ts), as the dashboard and the compression report show it (issue 20). */
export interface VerdictView {
  teacher?: number;
  scratch?: number;
  distilled: number;
  /** distilled − scratch and the half-width of its 95 % interval (fractions). */
  difference?: number;
  uncertainty?: number;
  outcome: 'better' | 'worse' | 'noise' | 'no-baseline';
  flagged: boolean;
  headline: string;
  note: string;
}

export interface DashboardData {
  /** The run's verdict, once its report exists (issue 20). */
  verdict?: VerdictView;
  title: string;
  runId: string;
  state: string;
  /** Loss terms per job (step records). */
  losses: SeriesData[];
  /** Learning rate per job (step records). */
  lr: SeriesData[];
  /** Learned values per job × name (step records' `params`: ctkd's `ctkd.temperature`); absent when none. */
  params?: SeriesData[];
  epochs: EpochPoint[];
  /** Teacher test accuracy (reference line), when known. */
  teacherAcc?: number;
}

export interface DashboardAppend {
  type: 'append';
  /** New points, by series name (the series is created when it is new). */
  losses: SeriesData[];
  lr: SeriesData[];
  params?: SeriesData[];
  epochs: EpochPoint[];
  state: string;
  teacherAcc?: number;
  /** The verdict, when the report appeared since the last message (issue 20). */
  verdict?: VerdictView;
}

export interface LayerRow {
  name: string;
  type: string;
  outputShape: (number | null)[];
  params: number;
  flops: number;
}

export interface PairLink {
  /** Index of the knowledge entry in the experiment file, and of the pair in its `pairs`. */
  entry: number;
  pair: number;
  method: string;
  teacher: string;
  student: string;
  /** `none`, `conv1x1 16→32`, … or the reason the pair cannot be matched. */
  adapter: string;
  adapterShape?: (number | null)[];
  error?: string;
  /** Per-pair loss over the steps of the latest run (sparkline), when the run logged it. */
  loss?: number[];
}

export interface Suggestion {
  teacher: string;
  student: string;
  method: string;
  adapter: string;
  reason: string;
}

export interface PairingData {
  title: string;
  experimentFile: string;
  teacher: LayerRow[];
  student: LayerRow[];
  links: PairLink[];
  /** Methods a new pair can use (feature and relation methods). */
  methods: { method: string; kind: string; title: string }[];
  /** Why the layers could not be read (an invalid experiment, a model that does not build). */
  error?: string;
}

export interface CheckpointRef { id: string; label: string }
export interface SampleRef { id: number; label: number; /** [H, W] grey thumbnail, values 0..1, row-major. */ pixels: number[]; h: number; w: number; /** The label's class name, when the data has names. */ className?: string }

export interface FeatureMapsInit {
  title: string;
  checkpoints: CheckpointRef[];
  samples: SampleRef[];
  pairs: { id: string; label: string }[];
  error?: string;
}

/** Channels (or 1 for a vector shown as a strip), each h × w, row-major — as the engine computes them. */
export type Grid = ProbeGrid;

/**
 * Feature maps of one pair for one sample, as the engine's probe answers them (teacher/student
 * grids, difference and attention maps when the shapes agree, linear CKA over `batch` test samples,
 * cosine and MSE of the chosen sample), answering the webview's request `requestId`.
 */
export interface FeatureMapsResult extends FeatureMapsAnswer {
  type: 'featureMaps';
  requestId: number;
}

export interface ModelColumn {
  name: string;
  params?: number;
  bytes?: number;
  flops?: number;
  latencyMs?: number;
  /** Latency per sample at `batch` (issue 20), and the speed-up there. */
  latencyBatchMs?: number;
  speedupBatch?: number;
  testAcc?: { mean: number; std: number; n: number };
  agreement?: { mean: number; std: number; n: number };
  compression?: number;
  speedup?: number;
  note?: string;
}

/** A warning of the run's report (report.json `warnings`): what was found, and its likely causes. */
export interface ReportWarningView {
  message: string;
  causes: string[];
}

export interface CompressionData {
  title: string;
  columns: ModelColumn[];
  /** The report's warnings (e.g. a teacher at chance), shown above the table. */
  warnings?: ReportWarningView[];
  layers: { model: string; name: string; type: string; params: number; flops: number }[];
  canExport: boolean;
  backend: string;
  error?: string;
  /** Why there is no per-layer table (issue 14: a torch run's layers are not probed by the TF.js engine). */
  layersNote?: string;
  /** The run's verdict (issue 20). */
  verdict?: VerdictView;
  /** The larger batch latency was also measured at, and why batch 1 lags the FLOPs (issue 20). */
  latencyBatch?: number;
  latencyNote?: string;
  /** Per-class test results (issue 16), when the report has them. */
  perClass?: PerClassView;
  /** issue 18: every quantised copy of the student (report `quantized`, then `quantizedVariants`), one row each. */
  quantized?: QuantizedRowView[];
  /** issue 18: the quantisation-aware jobs over seeds (fake-quantised forward pass). */
  qat?: { testAcc: { mean: number; std: number; n: number }; bits: number; activations: boolean };
  /** issue 18: a data-free run's synthesis and how its student compares with real-data KD and scratch. */
  dataFree?: DataFreeView;
}

/** One quantised copy: `int8 · post-training`, `int4 · post-training`, `int8 · quantisation-aware`. */
export interface QuantizedRowView {
  label: string;
  bits: number;
  method: 'ptq' | 'qat';
  /** Folder in the run (`student/int8`, `student/int8-qat`). */
  dir: string;
  bytes: number;
  floatBytes: number;
  compression: number;
  testAcc: number;
  /** floatTestAcc − testAcc (fraction; positive: quantising lost accuracy). */
  accDrop: number;
  floatTestAcc: number;
  agreement?: number;
  /** The job whose model was quantised (qat). */
  job?: string;
}

export interface DataFreeView {
  samples: number;
  batches: number;
  bnLoss: { start: number; end: number };
  teacherAcc: number;
  /** Test accuracy over seeds of the three students (real-data KD only with a reference). */
  dataFree?: { mean: number; std: number; n: number };
  realKd?: { mean: number; std: number; n: number };
  scratch?: { mean: number; std: number; n: number };
  /** The reference's data format (`mnist`, …), when there is one. */
  referenceFormat?: string;
  /** Whether the scratch student trained on the reference (real data) or on the synthesised inputs. */
  scratchOn: 'real' | 'synthesized';
}

/** One synthesised batch's figures (synthesized/batch-NNNN.json). */
export interface SynthBatchView {
  /** 1-based. */
  index: number;
  count: number;
  bnLoss: { start: number; end: number };
  classLoss: number;
  teacherAcc: number;
  seconds: number;
  /** [iteration, BN loss] (every 10th iteration and the last). */
  curve: [number, number][];
}

/** A batch's inputs as a grid per class: 8-bit pixels, h × w × c row-major (c = 1 grey, 3 RGB). */
export interface SynthGridView {
  batch: number;
  h: number;
  w: number;
  c: 1 | 3;
  /** `unit`: values shown as stored (the batch lies in [0, 1]); `per-image`: each input stretched from its min to its max. */
  scale: 'unit' | 'per-image';
  classes: { label: number; name: string; /** inputs of this class in the batch */ count: number; images: { index: number; pixels: number[] }[] }[];
}

export interface SynthesizedData {
  title: string;
  /** The run's state (`running`, `completed`, …). */
  state: string;
  /** From synthesized/meta.json, once written. */
  meta?: { shape: number[]; classes: number; samples: number; batchSize: number; batches: number };
  /** Batches written so far, in order. */
  batches: SynthBatchView[];
  /** Over the batches written: mean BN loss at the first and last iteration, teacher accuracy (sample-weighted). */
  summary?: { bnStart: number; bnEnd: number; teacherAcc: number; samples: number };
  /** The batch shown (the newest unless the user picked one). */
  grid?: SynthGridView;
  /** Why there is nothing to show yet (not a data-free run, synthesis not started). */
  note?: string;
  error?: string;
}

/** Per-class accuracy and confusion matrices of the compared models (teacher, scratch, distilled). */
export interface PerClassView {
  classNames: string[];
  /** Test samples per class. */
  support: number[];
  /** One per model: accuracy per class (null: no test sample) and counts[true][predicted]. */
  models: { name: string; acc: (number | null)[]; confusion: number[][] }[];
  /** What the student's drop is measured against. */
  reference: 'teacher' | 'scratch' | 'none';
  /** Classes by the distilled student's drop against the reference, largest first. */
  gaps: { class: number; name: string; reference?: number; distill: number; drop: number }[];
}

export interface CompareRun {
  id: string;
  label: string;
  /** Total loss of the distilled job(s), first seed. */
  loss: { step: number[]; value: number[] };
  /** Test accuracy per epoch of the distilled job(s), first seed. */
  acc: { epoch: number[]; value: number[] };
  finals: Record<string, { mean: number; std: number; n: number }>;
}

export interface CompareData {
  title: string;
  runs: CompareRun[];
  /** Flattened config keys (`training.epochs`) with each run's value (JSON text); `differs` marks rows that vary. */
  config: { key: string; values: string[]; differs: boolean }[];
}

/** A point's state in the Sweep panel: `queued` before its run starts, then its run's own state (src/runs/state.ts). */
export type SweepPointStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

export interface SweepPointView {
  /** `p01`, … — the id the webview names a point by (never a path). */
  id: string;
  /** Swept field path → value. */
  values: Record<string, number>;
  status: SweepPointStatus;
  /** As `distill list` words it, e.g. `interrupted (resumable)`. */
  state: string;
  /** Epochs done over all its jobs, while it has a run. */
  progress?: { done: number; total: number };
  /** The point has a run folder (its dashboard can open). */
  hasRun: boolean;
  params?: number;
  bytes?: number;
  /** Distilled test accuracy (last epoch), mean ± std over seeds; scratch and agreement likewise. */
  distilled?: { mean: number; std: number; n: number };
  scratch?: { mean: number; std: number; n: number };
  agreement?: { mean: number; std: number; n: number };
  /** On the Pareto front of distilled accuracy against parameters / against bytes. */
  pareto: { params: boolean; bytes: boolean };
  error?: string;
  /** issue 18, a search's point: its rung (0-based) and candidate; greyed when the candidate was dropped; the chosen one. */
  rung?: number;
  candidate?: string;
  dropped?: boolean;
  chosen?: boolean;
}

export interface SweepPanelData {
  title: string;
  name: string;
  id: string;
  /** The sweep's own state (`running`, `completed`, `interrupted (resumable)`, …). */
  state: string;
  axes: Record<string, number[]>;
  seeds: number[];
  teacher?: { params: number; bytes: number; testAcc: number };
  /** In plan order. */
  points: SweepPointView[];
  /**
   * issue 18: a student search — its budget (drawn on the size axis), the epochs of each rung, what
   * it ranks by; the Pareto flags of its points are the last rung's.
   */
  search?: { budget: { params?: number; bytes?: number; latencyMs?: number }; rungEpochs: number[]; objective: string; against: string; chosen?: string };
  /** Why the sweep folder could not be read. */
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// host → webview

/**
 * What a panel is about; the webview keeps it in its state (getState/setState) so that the
 * serializer can reopen the panel after a reload. The host re-validates it on restore.
 */
export interface PanelTargetState {
  runDirs: string[];
  experimentFile?: string;
  title: string;
}

interface InitBase { type: 'init'; target: PanelTargetState }
export type InitMessage =
  | InitBase & { panel: 'dashboard'; data: DashboardData }
  | InitBase & { panel: 'pairing'; data: PairingData }
  | InitBase & { panel: 'featureMaps'; data: FeatureMapsInit }
  | InitBase & { panel: 'compression'; data: CompressionData }
  | InitBase & { panel: 'compare'; data: CompareData }
  | InitBase & { panel: 'sweep'; data: SweepPanelData }
  | InitBase & { panel: 'synthesized'; data: SynthesizedData };

export type HostToWebview =
  | InitMessage
  | DashboardAppend
  /** The sweep folder or one of its points' run folders changed: everything the Sweep panel shows, again (it is small). */
  | { type: 'sweepUpdate'; data: SweepPanelData }
  /** Synthesized Inputs (issue 18): new batches while the synthesis runs, or the grid of a picked batch: everything again, but the grid only when it changed. */
  | { type: 'synthesizedUpdate'; data: Omit<SynthesizedData, 'title'> }
  | { type: 'suggestions'; suggestions: Suggestion[]; error?: string }
  | { type: 'pairRefused'; teacher: string; student: string; method: string; reason: string }
  | FeatureMapsResult
  | { type: 'featureMapsError'; requestId: number; message: string }
  | { type: 'busy'; busy: boolean; what?: string }
  | { type: 'notice'; level: 'info' | 'error'; message: string }
  /**
   * The panel could not show models because the workspace is not trusted (Restricted Mode):
   * `message` says why; the webview shows it with a button that sends `manageTrust`. The next
   * `init` (sent once trust is granted) clears it.
   */
  | { type: 'restricted'; message: string };

// ---------------------------------------------------------------------------------------------
// webview → host

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'save'; format: 'csv' | 'png'; name: string; data: string }
  | { type: 'addPair'; teacher: string; student: string; method: string; /** of a new entry (issue 20); absent: the method's default */ weight?: number }
  | { type: 'removePair'; entry: number; pair: number }
  | { type: 'suggestPairs' }
  | { type: 'probe'; requestId: number; checkpoint: string; sample: number; pair: string }
  | { type: 'exportStudent' }
  /** Sweep panel: open the dashboard of a point's run (the point by the id the host handed out). */
  | { type: 'openPoint'; point: string }
  /** Synthesized Inputs: show batch `batch` (1-based), or follow the newest again (0). */
  | { type: 'pickBatch'; batch: number }
  /** The user asks to trust the folder (opens VS Code's trust dialog). */
  | { type: 'manageTrust' };


const NAME = /^[A-Za-z0-9_.:/\-]{1,200}$/;
const FILE_NAME = /^[A-Za-z0-9_.\- ]{1,120}\.(csv|png)$/;
/** Largest export a webview may hand over (characters of CSV text or PNG data URL). */
export const MAX_EXPORT_CHARS = 32 * 1024 * 1024;

const isInt = (v: unknown, max = 1e9): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isStr = (v: unknown, re: RegExp): v is string => typeof v === 'string' && re.test(v);

/**
 * Validates a message from a webview of panel `kind`: returns it typed, or a reason it was
 * dropped. Only the messages a panel of that kind sends are accepted; strings are checked against
 * tight patterns (layer names, ids, file names without folders), numbers are bounded.
 */
export function parseWebviewMessage(kind: PanelKind, raw: unknown): { ok: true; msg: WebviewToHost } | { ok: false; reason: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not an object' };
  const m = raw as Record<string, unknown>;
  const bad = (reason: string) => ({ ok: false as const, reason: `${String(m.type)}: ${reason}` });
  const allowed: Record<PanelKind, string[]> = {
    dashboard: ['ready', 'save'],
    pairing: ['ready', 'addPair', 'removePair', 'suggestPairs', 'manageTrust'],
    featureMaps: ['ready', 'probe', 'save', 'manageTrust'],
    compression: ['ready', 'exportStudent', 'save', 'manageTrust'],
    compare: ['ready', 'save'],
    sweep: ['ready', 'openPoint', 'save'],
    synthesized: ['ready', 'pickBatch'],
  };
  if (typeof m.type !== 'string' || !allowed[kind].includes(m.type)) return { ok: false, reason: `unexpected message type ${JSON.stringify(m.type)} for the ${kind} panel` };
  switch (m.type) {
    case 'ready':
    case 'suggestPairs':
    case 'exportStudent':
    case 'manageTrust':
      return { ok: true, msg: { type: m.type } };
    case 'save': {
      if (m.format !== 'csv' && m.format !== 'png') return bad('format must be csv or png');
      if (!isStr(m.name, FILE_NAME) || !m.name.endsWith(`.${m.format}`)) return bad('name must be a plain file name ending in the format');
      if (typeof m.data !== 'string' || m.data.length > MAX_EXPORT_CHARS) return bad('data must be a string of bounded size');
      if (m.format === 'png' && !/^data:image\/png;base64,[A-Za-z0-9+/=]+$/.test(m.data)) return bad('png data must be a base64 data URL');
      return { ok: true, msg: { type: 'save', format: m.format, name: m.name, data: m.data } };
    }
    case 'addPair':
      if (!isStr(m.teacher, NAME) || !isStr(m.student, NAME)) return bad('teacher and student must be layer names');
      if (typeof m.method !== 'string' || !(PAIR_METHODS as readonly string[]).includes(m.method)) return bad(`method must be one of ${PAIR_METHODS.join(', ')}`);
      if (m.weight !== undefined && !(typeof m.weight === 'number' && Number.isFinite(m.weight) && m.weight > 0 && m.weight <= 1e6)) return bad('weight must be a number > 0 and ≤ 1e6');
      return { ok: true, msg: { type: 'addPair', teacher: m.teacher, student: m.student, method: m.method, ...(m.weight !== undefined ? { weight: m.weight } : {}) } };
    case 'removePair':
      if (!isInt(m.entry, 10_000) || !isInt(m.pair, 10_000)) return bad('entry and pair must be small non-negative integers');
      return { ok: true, msg: { type: 'removePair', entry: m.entry, pair: m.pair } };
    case 'probe':
      if (!isInt(m.requestId) || !isInt(m.sample, 1_000_000)) return bad('requestId and sample must be non-negative integers');
      if (!isStr(m.checkpoint, NAME) || !isStr(m.pair, /^\d{1,5}:\d{1,5}$/)) return bad('checkpoint and pair must be ids handed out by the host');
      return { ok: true, msg: { type: 'probe', requestId: m.requestId, checkpoint: m.checkpoint, sample: m.sample, pair: m.pair } };
    case 'openPoint':
      if (!isStr(m.point, /^p\d{1,6}$/)) return bad('point must be a point id handed out by the host (p01, p02, …)');
      return { ok: true, msg: { type: 'openPoint', point: m.point } };
    case 'pickBatch':
      if (!isInt(m.batch, 1_000_000)) return bad('batch must be a batch number handed out by the host (0: the newest)');
      return { ok: true, msg: { type: 'pickBatch', batch: m.batch } };
    default:
      return bad('unknown');
  }
}

/** Type guard for host → webview messages (used by the webview's ipc client). */
export function isHostToWebview(v: unknown): v is HostToWebview {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}

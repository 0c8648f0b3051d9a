/**
 * Run folders: the source of truth shared by the engine, the CLI and the extension.
 *
 *   <runsDir>/<experiment>/<run-id>/
 *     config.json     the resolved experiment as run (written once, never rewritten)
 *     run.json        status, backend, versions, times, error, per-job progress (replaced atomically)
 *     metrics.jsonl   append-only: one JSON line per logged step, per epoch, per event
 *     checkpoints/<job>/<e0003-s000000>/  model + optimizer state, written to a temp dir then renamed
 *     models/<job>/   each job's final model;  student/  the exported distilled student
 *     report.json     compression + quality summary
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ExperimentConfig } from '../config/types';
import { processAlive } from './lock';
import { guardWrite, noteWrite, removeQuietly } from './diskFaults';

export type RunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
/** `synthesize` (issue 18): the data-free run's job that makes the training inputs from the teacher (src/runs/synthesized.ts). */
export type JobKind = 'teacher' | 'scratch' | 'distill' | 'online' | 'self' | 'synthesize';

export interface JobState {
  kind: JobKind;
  seed: number;
  /** Which architecture the job trains: `teacher`, `student`, or `assistant:<i>` (ta-chain). */
  model?: string;
  /** The job whose final model teaches this one (`teacher` = the experiment's teacher). */
  teacher?: string;
  /** This job's model is a final distilled student (reported as "distilled"). */
  final?: boolean;
  /**
   * issue 18, data-free runs: `reference` = this job trains on `data.train.reference` (real data)
   * instead of the synthesised inputs (`real-s<seed>`, and `scratch-s<seed>` when there is a reference).
   */
  data?: 'reference';
  /** issue 18: quantisation-aware training (`qat-s<seed>`): the student's forward pass uses fake-quantised kernels. */
  quantize?: { bits: 8 | 4; activations: boolean };
  status: 'pending' | 'running' | 'completed';
  epochs: number;
  /** Epochs fully done (checkpointed). */
  completedEpochs: number;
}

export interface RunJson {
  id: string;
  experiment: string;
  experimentFile: string;
  status: RunStatus;
  backend?: { name: string; versions: Record<string, string>; notes: string[]; customKernels: string[] };
  versions: Record<string, string>;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
  pid?: number;
  /** Start time of `pid` (Linux clock ticks since boot) and its host: a reused pid is not the owner (runs/lock.ts). */
  pidStart?: number;
  host?: string;
  error?: string;
  resumes: string[];
  jobs: Record<string, JobState>;
  /** Class names by label, when the data has them (image folders, CIFAR); written when the data is loaded. */
  classNames?: string[];
  /** A name the user gave the run (issue 20; set from the tree, never by the engine). */
  label?: string;
}
// Job planning for issue 18 (src/engine/training/jobs.ts, python engine.py the same):
//   data-free:  synthesize (epochs = number of synthesis batches; completedEpochs = batches written),
//               then per seed scratch-s<seed> (on the reference when given), distill-s<seed> (final,
//               on the synthesised inputs), real-s<seed> (kind distill, final false, data reference; only with a reference).
//   QAT:        per seed, after distill-s<seed>: qat-s<seed> (kind distill, model student, teacher
//               as distill-s<seed>'s, final false, quantize {bits, activations}).
// The synthesize job logs step records (epoch = batch, 1-based; step = iteration; losses
// total/bn/class/tv/l2[/competition]) and one epoch record per batch: losses = the last
// iteration's, trainAcc = testAcc = the teacher's accuracy on the batch against its target labels,
// testErrors = its misses, extras {'synth.bnLoss': last bn term, 'synth.bnLossStart': first}.

export interface ConfigSnapshot {
  experimentFile: string;
  experimentText: string;
  config: ExperimentConfig;
}

/** Where runs of an experiment go unless told otherwise: `<experiment dir>/.distill/runs`. */
export function defaultRunsDir(experimentFile: string): string {
  return path.join(path.dirname(path.resolve(experimentFile)), '.distill', 'runs');
}

/** Writes a file atomically (temp file + rename) — for status files that are replaced. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    removeQuietly(tmp); // a full disk leaves no half-written temporary file behind
    throw noteWrite(e, file, Buffer.byteLength(data));
  }
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

function stamp(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Creates a new folder under `parent` named by the local time (YYYYMMDD-hhmmss, then -2, -3, … if
 * that name is taken, also by another process at the same second); returns its name.
 */
export function createStampedDir(parent: string): string {
  fs.mkdirSync(parent, { recursive: true });
  const base = stamp();
  let id = base;
  for (let i = 2; ; i++) {
    try {
      fs.mkdirSync(path.join(parent, id));
      return id;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      id = `${base}-${i}`;
    }
  }
}

/** Creates a new run folder with config.json and a queued run.json. */
export function createRun(runsDir: string, snapshot: ConfigSnapshot, jobs: Record<string, JobState>): string {
  const expDir = path.join(runsDir, snapshot.config.name);
  const id = createStampedDir(expDir);
  const runDir = path.join(expDir, id);
  try {
    const config = JSON.stringify(snapshot, null, 2);
    guardWrite(path.join(runDir, 'config.json'), Buffer.byteLength(config), () => fs.writeFileSync(path.join(runDir, 'config.json'), config, { flag: 'wx' }));
    const now = new Date().toISOString();
    const run: RunJson = {
      id, experiment: snapshot.config.name, experimentFile: snapshot.experimentFile, status: 'queued',
      versions: {}, createdAt: now, updatedAt: now, resumes: [], jobs,
    };
    writeFileAtomic(path.join(runDir, 'run.json'), JSON.stringify(run, null, 2));
    guardWrite(path.join(runDir, 'metrics.jsonl'), 0, () => fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), '', { flag: 'wx' }));
  } catch (e) {
    // A folder without its config or run.json is no run (a full disk): none is left behind.
    removeQuietly(runDir);
    throw e;
  }
  return runDir;
}

export function readRun(runDir: string): RunJson {
  const file = path.join(runDir, 'run.json');
  if (!fs.existsSync(file)) throw new Error(`${runDir}: not a run folder (no run.json)`);
  return readJson<RunJson>(file);
}

export function readSnapshot(runDir: string): ConfigSnapshot {
  return readJson<ConfigSnapshot>(path.join(runDir, 'config.json'));
}

/** Reads a status file, applies `patch`, stamps `updatedAt` and replaces the file atomically. */
export function updateJsonAtomic<T extends { updatedAt: string }>(file: string, value: T, patch: (v: T) => void): T {
  patch(value);
  value.updatedAt = new Date().toISOString();
  writeFileAtomic(file, JSON.stringify(value, null, 2));
  return value;
}

export function updateRun(runDir: string, patch: (run: RunJson) => void): RunJson {
  return updateJsonAtomic(path.join(runDir, 'run.json'), readRun(runDir), patch);
}

// ---------------------------------------------------------------------------------------------
// metrics.jsonl

export interface StepRecord {
  type: 'step';
  job: string;
  epoch: number;
  step: number;
  globalStep: number;
  losses: Record<string, number>;
  /** Pair-based terms: the loss of every pair, by term name then `teacherLayer→studentLayer`. */
  pairs?: Record<string, Record<string, number>>;
  lr: number;
  /** Learned values of the step, by `term.name` (ctkd's `ctkd.temperature`). */
  params?: Record<string, number>;
  t: string;
}

export interface EpochRecord {
  type: 'epoch';
  job: string;
  epoch: number;
  /** Epoch-mean of every loss term (and total). */
  losses: Record<string, number>;
  trainAcc: number;
  valAcc?: number;
  testAcc: number;
  testErrors: number;
  /** Top-1 agreement with the teacher on the test split (absent for the teacher itself). */
  agreement?: number;
  /** Mean KL(teacher ‖ student) at T=1 on the test split. */
  klTeacher?: number;
  /** Scheme-specific figures, e.g. `head:conv_1.testAcc` (self) or `peer:teacher.testAcc` (online). */
  extras?: Record<string, number>;
  /** Per-class accuracy and confusion matrix on the test split (rows: true class). */
  perClass?: { acc: (number | null)[]; confusion: number[][] };
  seconds: number;
  t: string;
}

export interface EventRecord {
  type: 'event';
  event: 'start' | 'resume' | 'stop' | 'failed' | 'job-done';
  job?: string;
  message?: string;
  t: string;
}

/**
 * Written when a job continues from a checkpoint (or starts again without one) after an
 * interruption: the job's step and epoch records from byte `supersedes` of metrics.jsonl up to
 * this line belong to a timeline that did not complete. Readers drop them (`readMetrics` does), so
 * each (job, epoch, step) is seen once, from the timeline that went on. Nothing is rewritten.
 */
export interface ResumeRecord {
  type: 'resume';
  job: string;
  /** Where the job continues: epoch (1-based) with `step` of its batches done (1, 0: from the start). */
  epoch: number;
  step: number;
  /** Byte offset in metrics.jsonl where the superseded records of `job` begin (the checkpoint's). */
  supersedes: number;
  t: string;
}

export type MetricRecord = StepRecord | EpochRecord | EventRecord | ResumeRecord;

/** A parsed line of metrics.jsonl and the byte offset where it starts. */
export interface MetricLine {
  offset: number;
  record: MetricRecord;
}

/**
 * Parses whole lines of metrics.jsonl read from byte `base` (the bytes up to the last newline); a
 * torn line (a kill mid-write) is skipped.
 */
export function parseMetricLines(buf: Buffer, base = 0): MetricLine[] {
  const out: MetricLine[] = [];
  for (let start = 0; start < buf.length;) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    const line = buf.subarray(start, end).toString('utf8');
    if (line.trim()) {
      try {
        out.push({ offset: base + start, record: JSON.parse(line) as MetricRecord });
      } catch {
        // a partial line written when the process was killed: ignored, never rewritten
      }
    }
    start = end + 1;
  }
  return out;
}

/**
 * Applies the resume markers: every `resume` record removes its job's step and epoch records that
 * start at or after its `supersedes` offset (and before the marker). `lines` must be in file order;
 * returns the records that remain, in order (the markers included).
 */
export function applyResumeMarkers(lines: MetricLine[]): MetricLine[] {
  let out: MetricLine[] = [];
  for (const l of lines) {
    const r = l.record;
    if (r.type === 'resume') {
      out = out.filter((o) => o.offset < r.supersedes || o.record.job !== r.job || (o.record.type !== 'step' && o.record.type !== 'epoch'));
    }
    out.push(l);
  }
  return out;
}

/**
 * Reads metrics.jsonl from where it stopped last time: only whole new lines, with the resume
 * markers applied (store.ts `applyResumeMarkers`). When new lines hold a marker that supersedes
 * records already read, `superseded` turns true: what was shown must be read again from the start.
 */
export class MetricsTail {
  private offset = 0;
  superseded = false;
  constructor(private readonly runDir: string) {}

  read(): MetricRecord[] {
    const file = path.join(this.runDir, 'metrics.jsonl');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return [];
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) this.offset = 0; // replaced: read again
      if (size === this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      const end = buf.lastIndexOf(0x0a);
      if (end < 0) return [];
      const base = this.offset;
      this.offset += end + 1;
      const lines = parseMetricLines(buf.subarray(0, end), base);
      if (lines.some((l) => l.record.type === 'resume' && l.record.supersedes < base)) this.superseded = true;
      return applyResumeMarkers(lines).map((l) => l.record);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Reads metrics.jsonl as its readers must see it: whole lines only (a torn one skipped), the records
 * superseded by a resume marker dropped. Each (job, epoch, step) then appears once, from the timeline
 * that went on. The one reader: the CLI, the tree, report.json and the dashboard (incrementally, with
 * {@link MetricsTail}) all read the file through it.
 */
export function readMetrics(runDir: string): MetricRecord[] {
  return new MetricsTail(runDir).read();
}

/**
 * Append-only metrics writer. A resumed job writes its records again from its checkpoint on,
 * after a `resume` marker that supersedes what the interrupted timeline wrote past that point.
 */
export class MetricsLog {
  private readonly file: string;
  /** Jobs that have step or epoch records in the file. */
  private readonly jobs = new Set<string>();

  constructor(runDir: string) {
    this.file = path.join(runDir, 'metrics.jsonl');
    for (const r of readMetrics(runDir)) {
      if (r.type === 'step' || r.type === 'epoch') this.jobs.add(r.job);
    }
    // A kill mid-write can leave a last line without its newline: end it so that the next record
    // starts on a line of its own (the torn line itself is left as it is).
    if (fs.existsSync(this.file)) {
      const size = fs.statSync(this.file).size;
      if (size > 0) {
        const fd = fs.openSync(this.file, 'r');
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, size - 1);
        fs.closeSync(fd);
        if (b[0] !== 0x0a) fs.appendFileSync(this.file, '\n');
      }
    }
  }

  /** Whether the file holds step or epoch records of `job` (an earlier attempt ran it). */
  hasRecordsOf(job: string): boolean {
    return this.jobs.has(job);
  }

  /** The file's length in bytes: where the next record starts (saved in checkpoints). */
  get size(): number {
    return fs.existsSync(this.file) ? fs.statSync(this.file).size : 0;
  }

  append(r: MetricRecord): void {
    if (r.type === 'step' || r.type === 'epoch') this.jobs.add(r.job);
    const line = JSON.stringify(r) + '\n';
    guardWrite(this.file, Buffer.byteLength(line), () => fs.appendFileSync(this.file, line));
  }
}

// ---------------------------------------------------------------------------------------------
// listing

export interface RunSummary {
  runDir: string;
  run: RunJson;
}

/** All run folders under a runs directory (`<runsDir>/<experiment>/<run-id>`), newest first. */
export function listRuns(runsDir: string): RunSummary[] {
  const out: RunSummary[] = [];
  if (!fs.existsSync(runsDir)) return out;
  for (const exp of fs.readdirSync(runsDir, { withFileTypes: true })) {
    if (!exp.isDirectory()) continue;
    const expDir = path.join(runsDir, exp.name);
    for (const r of fs.readdirSync(expDir, { withFileTypes: true })) {
      const runDir = path.join(expDir, r.name);
      if (!r.isDirectory() || !fs.existsSync(path.join(runDir, 'run.json'))) continue;
      try {
        out.push({ runDir, run: readRun(runDir) });
      } catch {
        // unreadable run.json: skipped in listings
      }
    }
  }
  return out.sort((a, b) => b.run.createdAt.localeCompare(a.run.createdAt));
}

/** Whether the process that owns a running run is still alive (a dead one means: killed). The one rule: runs/lock.ts. */
export function isOwnerAlive(run: RunJson): boolean {
  return processAlive(run.pid, run.pidStart, run.host);
}

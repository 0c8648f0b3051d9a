/**
 * Sweep folders, the contract (what the engine runs is in src/engine/sweep.ts): one experiment,
 * several values of numeric fields, every combination its own run.
 *
 *   "sweep": { "student.derive.width": [0.125, 0.25, 0.5], "seeds": [1, 2] }
 *
 * A sweep folder holds the plan and the runs of its points:
 *
 *   <experiment dir>/.distill/sweeps/<name>/<sweep-id>/
 *     sweep.json     the experiment's text (as swept), the axes, the seeds, every point's values,
 *                    status and run folder, the teacher shared by the points (replaced atomically)
 *     runs/<name>/<run-id>/   one ordinary run folder per point
 *     report.json    size vs accuracy per point (mean ± std over seeds), the Pareto front
 *
 * By default points run one after another (a queue); `--executor local --parallel N` or `slurm`
 * runs them side by side, each point by itself (`distill sweep-point <folder> <index>`, src/cli/sweepExecutors.ts).
 * The sweep is resumable as a whole: a completed point
 * is skipped, an interrupted one resumed from its run folder, a pending one started. The teacher is
 * trained (when it has `train`) by the first point that completes and every later point uses that
 * trained model — TF.js its model.json, torch its state_dict in the file's teacher architecture
 * (src/runs/sweepTeacher.ts) — (not when the sweep varies a `teacher.…` or `data.…` field); a pre-trained teacher's
 * outputs are computed once per process (teacherCache.ts).
 * Each point's experiment is the file's text with the swept values written in (so every value is
 * validated like the file itself), `seeds` set, `sweep` removed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { applyEdits, modify } from 'jsonc-parser';
import { ExperimentError, loadExperiment, locate } from '../config/parse';
import type { ExperimentConfig } from '../config/types';
import { parseFieldPath, SWEEP_POINT_LIMIT, sweepPointCount } from '../config/sweep';
import type { Report, Stat } from './report';
import { stat } from './report';
import { createStampedDir, readJson, readRun, updateJsonAtomic, writeFileAtomic } from './store';
import { runState, stateLabel } from './state';
import { initialSearchState, planCandidates, searchAxes } from './search';
import { FolderLockedError, lockFolder } from './lock';
import type { SharedTeacher } from './sweepTeacher';
export type SweepStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface SweepPoint {
  /** `p01`, `p02`, … in plan order. */
  id: string;
  /** Field path → value at this point. */
  values: Record<string, number>;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  /** The point's run folder, relative to the sweep folder, once started. */
  runDir?: string;
  error?: string;
  /** issue 18, a search's point: the rung (0-based) and the candidate (`c01`, …) it trains. */
  rung?: number;
  candidate?: string;
}

/** issue 18: a student search's plan and progress in sweep.json (src/config/types.ts SearchConfig). */
export interface SearchState {
  budget: { params?: number; bytes?: number; latencyMs?: number };
  objective: 'valAcc' | 'testAcc';
  against: 'params' | 'bytes' | 'latency';
  eta: number;
  /** Epochs of each rung. */
  rungEpochs: number[];
  /** Every candidate of the space, fitting or not, with its measured figures. */
  candidates: {
    id: string;
    /** The derive fields it sets: `student.derive.width`, `student.derive.depth`, `student.derive.swap.Conv2D` (1 = SeparableConv2D). */
    values: Record<string, number>;
    params: number;
    bytes: number;
    latencyMs: number;
    fits: boolean;
    /** Why it does not fit: `params 61 210 > 50 000`. */
    reason?: string;
    /** The highest rung it trained in, and its objective there. */
    rung?: number;
    score?: number;
    /** Dropped after that rung (not among the best 1/eta). */
    dropped?: boolean;
  }[];
  /** Filled at the end: the chosen candidate and its point. */
  chosen?: { candidate: string; point: string };
}

export interface SweepJson {
  name: string;
  id: string;
  experimentFile: string;
  /** The experiment file's text when the sweep was created (points are made from it, never from the file again). */
  experimentText: string;
  axes: Record<string, number[]>;
  seeds: number[];
  status: SweepStatus;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  pid?: number;
  /**
   * How the points run (issue 15; src/cli/sweepExecutors.ts): absent = one after another in one
   * engine process; `local` = up to `parallel` engine processes at once; `slurm` = tasks of job
   * arrays, `jobs` every submission (newest last) with the points it ran and where its logs are.
   */
  executor?: {
    kind: 'local' | 'slurm';
    parallel?: number;
    jobs?: { jobId: string; points: number[]; submittedAt: string; logs: string; script: string }[];
  };
  /** The trained teacher every later point uses, trained by the point `from` (TF.js model.json; torch model.pt + `spec`: src/runs/sweepTeacher.ts). */
  teacher?: SharedTeacher;
  /**
   * issue 18: a student search. Its points are appended rung by rung (a rung's points are planned
   * when the rung before completed); `axes` then holds the space's swept fields.
   */
  search?: SearchState;
  points: SweepPoint[];
}

/** Every combination of the axes' values, the first axis varying slowest. */
export function planPoints(axes: Record<string, number[]>): Record<string, number>[] {
  let points: Record<string, number>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

const FORMAT = { formattingOptions: { insertSpaces: true, tabSize: 2 } };

/** The experiment text of one point: values written in, `seeds` set, `sweep` removed, the shared teacher. */
export function pointText(text: string, values: Record<string, number>, seeds: number[], teacher?: string | Record<string, unknown>): string {
  let t = text;
  const set = (p: (string | number)[], v: unknown): void => {
    t = applyEdits(t, modify(t, p, v, FORMAT));
  };
  set(['sweep'], undefined);
  for (const [key, value] of Object.entries(values)) set(parseFieldPath(key)!, value);
  set(['seeds'], seeds);
  // the shared teacher: a model.json path (TF.js), or a whole teacher spec (torch, sweepTeacher.ts)
  if (teacher) set(['teacher'], typeof teacher === 'string' ? { model: teacher } : teacher);
  return t;
}

export function readSweep(sweepDir: string): SweepJson {
  const file = path.join(sweepDir, 'sweep.json');
  if (!fs.existsSync(file)) throw new Error(`${sweepDir}: not a sweep folder (no sweep.json)`);
  return readJson<SweepJson>(file);
}

/**
 * Read-modify-write of sweep.json, serialised across processes (the points of a parallel or Slurm
 * sweep update it from their own processes): a short-lived lock folder `.update/` beside it, waited
 * for up to 30 s; a lock whose process died is taken over (src/runs/lock.ts).
 */
export function updateSweep(sweepDir: string, patch: (s: SweepJson) => void): SweepJson {
  const lockDir = path.join(sweepDir, '.update');
  fs.mkdirSync(lockDir, { recursive: true });
  const deadline = Date.now() + 30_000;
  for (;;) {
    let lock;
    try {
      lock = lockFolder(lockDir, (o) => `${sweepDir}/sweep.json is being updated by pid ${o.pid}`);
    } catch (e) {
      if (!(e instanceof FolderLockedError) || Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      continue;
    }
    try {
      return updateJsonAtomic(path.join(sweepDir, 'sweep.json'), readSweep(sweepDir), patch);
    } finally {
      lock.release();
    }
  }
}

export interface CreateSweepOptions {
  /** Root of sweep folders; default `<experiment dir>/.distill/sweeps`. */
  sweepsDir?: string;
  /** More points than this need `yes` (default 8). */
  maxPoints?: number;
  yes?: boolean;
}

/** The plan of an experiment's sweep; throws ExperimentError (located) when it is invalid or too large. */
export function loadSweepPlan(experimentFile: string, opts: CreateSweepOptions = {}): { config: ExperimentConfig; text: string; axes: Record<string, number[]>; seeds: number[]; points: Record<string, number>[] } {
  const file = path.resolve(experimentFile);
  const loaded = loadExperiment(file);
  if (!loaded.config || loaded.errors.some((e) => e.severity === 'error')) throw new ExperimentError(loaded.errors);
  const config = loaded.config;
  const text = loaded.text ?? '';
  const where = (message: string): ExperimentError =>
    new ExperimentError([{ file, path: ['sweep'], location: locate(text, ['sweep']), message, severity: 'error' }]);
  // issue 18: a search's points are planned rung by rung by the engine (src/engine/search.ts); its
  // first rung trains every fitting candidate, so many candidates need the same confirmation
  if (config.search) {
    const n = planCandidates(config.search.space).length;
    const limit = opts.maxPoints ?? SWEEP_POINT_LIMIT;
    if (n > limit && !opts.yes) {
      throw new ExperimentError([{ file, path: ['search', 'space'], location: locate(text, ['search', 'space']), severity: 'error',
        message: `the search has ${n} candidates, each fitting one a run of the first rung: more than ${limit}, so it needs confirmation — run it with --yes (or raise --max-points)` }]);
    }
    return { config, text, axes: searchAxes(config.search.space), seeds: config.seeds, points: [] };
  }
  if (!config.sweep || Object.keys(config.sweep).filter((k) => k !== 'seeds').length === 0) {
    throw where('no "sweep" to run: add "sweep": { "<numeric field path>": [values…] } (e.g. "student.derive.width": [0.25, 0.5])');
  }
  const axes = Object.fromEntries(Object.entries(config.sweep).filter(([k]) => k !== 'seeds'));
  const seeds = config.sweep.seeds ?? config.seeds;
  const count = sweepPointCount(config.sweep);
  const limit = opts.maxPoints ?? SWEEP_POINT_LIMIT;
  if (count > limit && !opts.yes) {
    const sizes = Object.values(axes).map((v) => v.length).join(' × ');
    throw where(`the sweep has ${count} points (${sizes}), each a run of ${seeds.length} seed${seeds.length === 1 ? '' : 's'}: ` +
      `more than ${limit}, so it needs confirmation — run it with --yes (or raise --max-points)`);
  }
  return { config, text, axes, seeds, points: planPoints(axes) };
}

/** Creates a sweep folder (sweep.json, every point pending); returns its path. */
export function createSweep(experimentFile: string, opts: CreateSweepOptions = {}): string {
  const file = path.resolve(experimentFile);
  const plan = loadSweepPlan(file, opts);
  const root = opts.sweepsDir ? path.resolve(opts.sweepsDir) : path.join(path.dirname(file), '.distill', 'sweeps');
  const parent = path.join(root, plan.config.name);
  const id = createStampedDir(parent);
  const dir = path.join(parent, id);
  const now = new Date().toISOString();
  const width = String(plan.points.length).length < 2 ? 2 : String(plan.points.length).length;
  const sweep: SweepJson = {
    name: plan.config.name, id, experimentFile: file, experimentText: plan.text, axes: plan.axes, seeds: plan.seeds,
    status: 'queued', createdAt: now, updatedAt: now,
    points: plan.points.map((values, i) => ({ id: `p${String(i + 1).padStart(width, '0')}`, values, status: 'pending' })),
    ...(plan.config.search ? { search: initialSearchState(plan.config) } : {}),
  };
  writeFileAtomic(path.join(dir, 'sweep.json'), JSON.stringify(sweep, null, 2));
  return dir;
}

/** Whether the sweep varies the teacher or the data it is trained on (then no point shares its teacher). */
export function sweepVariesTeacher(s: Pick<SweepJson, 'axes'>): boolean {
  return Object.keys(s.axes).some((k) => /^(teacher|data)\b/.test(k));
}

/**
 * The sweep's end, from its points: completed (with report.json) when every point completed, else
 * failed when one failed, else cancelled. Clears the owner's pid.
 */
export function finishSweep(dir: string): SweepJson {
  return updateSweep(dir, (s) => {
    // a search is complete once its last rung chose a candidate (its points are appended rung by rung)
    const all = s.points.every((p) => p.status === 'completed') && (!s.search || s.search.chosen !== undefined);
    s.status = all ? 'completed' : s.points.some((p) => p.status === 'failed') ? 'failed' : 'cancelled';
    if (all) {
      s.finishedAt ??= new Date().toISOString();
      fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(sweepSummary(dir, s), null, 2));
    }
    delete s.pid;
  });
}

// ---------------------------------------------------------------------------------------------
// Size vs accuracy

export interface SweepRow {
  point: string;
  values: Record<string, number>;
  status: SweepPoint['status'];
  /** What `list` says of the point's run (the one run-state rule), e.g. `interrupted (resumable)`; `pending` before it starts. */
  state: string;
  params?: number;
  bytes?: number;
  flops?: number;
  distilled?: Stat;
  scratch?: Stat;
  agreement?: Stat;
  /** The int8 copy of the exported (best-validation) seed's student, and that float student's accuracy. */
  int8?: { bytes: number; testAcc: number; floatTestAcc: number; agreement?: number };
  /** Not dominated by another point: no other is as small (params) and at least as accurate (distilled), better in one. */
  pareto: boolean;
  /** issue 18, a search's point: its rung and candidate (the front is then the last rung's). */
  rung?: number;
  candidate?: string;
}

export interface SweepSummary {
  name: string;
  id: string;
  axes: Record<string, number[]>;
  seeds: number[];
  /** The sweep's own state: its status, `interrupted (resumable)` when it says running and its process is gone. */
  state: string;
  teacher?: { params: number; bytes: number; flops: number; testAcc: number };
  rows: SweepRow[];
  /** issue 18: a search's state (candidates, rungs, the chosen one), as in sweep.json. */
  search?: SearchState;
}

/** Per point: the student's size and the last-epoch test accuracy over seeds, distilled and scratch. */
export function sweepSummary(sweepDir: string, sweep = readSweep(sweepDir)): SweepSummary {
  let teacher: SweepSummary['teacher'];
  const rows: SweepRow[] = sweep.points.map((p) => {
    const row: SweepRow = { point: p.id, values: p.values, status: p.status, state: pointState(sweepDir, sweep, p), pareto: false,
      ...(p.rung !== undefined ? { rung: p.rung, candidate: p.candidate } : {}) };
    const file = p.runDir ? path.join(sweepDir, p.runDir, 'report.json') : undefined;
    if (!file || !fs.existsSync(file)) return row;
    const r = readJson<Report>(file);
    if (r.teacher && !teacher) teacher = { params: r.teacher.params, bytes: r.teacher.bytes, flops: r.teacher.flops, testAcc: r.teacher.testAcc };
    const accs = (kind: 'scratch' | 'distill') => Object.values(r.jobs).filter((j) => j.kind === kind).map((j) => j.last.testAcc);
    const agreements = Object.values(r.jobs).filter((j) => j.kind === 'distill' && j.last.agreement !== undefined).map((j) => j.last.agreement!);
    return {
      ...row, params: r.student.params, bytes: r.student.bytes, flops: r.student.flops,
      ...(accs('distill').length ? { distilled: stat(accs('distill')) } : {}),
      ...(accs('scratch').length ? { scratch: stat(accs('scratch')) } : {}),
      ...(agreements.length ? { agreement: stat(agreements) } : {}),
      ...(r.quantized ? { int8: { bytes: r.quantized.bytes, testAcc: r.quantized.testAcc, floatTestAcc: r.quantized.floatTestAcc, ...(r.quantized.agreement !== undefined ? { agreement: r.quantized.agreement } : {}) } } : {}),
    };
  });
  // a search's front is its last rung's (earlier rungs trained for fewer epochs)
  const lastRung = sweep.search ? sweep.search.rungEpochs.length - 1 : undefined;
  const measured = rows.filter((r) => r.params !== undefined && r.distilled && (lastRung === undefined || r.rung === lastRung));
  for (const r of measured) {
    r.pareto = !measured.some((o) => o !== r && o.params! <= r.params! && o.distilled!.mean >= r.distilled!.mean &&
      (o.params! < r.params! || o.distilled!.mean > r.distilled!.mean));
  }
  rows.sort((a, b) => (a.params ?? Infinity) - (b.params ?? Infinity));
  const sweepState = runState({ status: sweep.status, pid: sweep.pid });
  return { name: sweep.name, id: sweep.id, axes: sweep.axes, seeds: sweep.seeds, state: stateLabel(sweepState), ...(teacher ? { teacher } : {}), rows,
    ...(sweep.search ? { search: sweep.search } : {}) };
}

/**
 * A point's state as `list` shows its run: from the run's own run.json (the one rule of
 * src/runs/state.ts) once it has one, else from sweep.json (`pending`; `interrupted (resumable)` when
 * it says running and the sweep's process is gone).
 */
export function pointState(sweepDir: string, sweep: SweepJson, p: SweepPoint): string {
  if (p.runDir && fs.existsSync(path.join(sweepDir, p.runDir, 'run.json'))) {
    try {
      return stateLabel(runState(readRun(path.join(sweepDir, p.runDir))));
    } catch {
      // unreadable run.json: fall back to sweep.json
    }
  }
  if (p.status === 'running') return stateLabel(runState({ status: 'running', pid: sweep.pid }));
  return p.status === 'failed' || p.status === 'cancelled' ? stateLabel(p.status) : p.status;
}

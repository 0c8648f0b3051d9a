/**
 * Runs a sweep folder (src/runs/sweeps.ts): its points one after another, each an ordinary run of
 * the engine; resumable as a whole (a completed point is skipped, an interrupted one resumed from
 * its run folder, a pending one started); one live owner at a time (a lock on the folder). One point
 * alone: runSweepPoint (`distill sweep-point`, the unit of the parallel and Slurm executors).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BackendName } from '../config/types';
import type { EngineToHost } from '../protocol/engine';
import { describeOwner, lockFolder, lockSweep } from '../runs/lock';
import { readRun } from '../runs/store';
import type { SweepJson, SweepPoint } from '../runs/sweeps';
import { finishSweep, pointText, readSweep, sweepVariesTeacher, updateSweep } from '../runs/sweeps';
import { searchPointText } from '../runs/search';
import { sharedTeacherSpec, trainedTeacher } from '../runs/sweepTeacher';
import { runExperiment } from './run';
import type { RunResult } from './run';

export interface RunSweepOptions {
  backend?: BackendName;
  /** The torch engine's Python, for points of a `"engine": "torch"` experiment (src/engine/torch/interpreter.ts). */
  python?: string;
  emit?: (msg: EngineToHost) => void;
  shouldStop?: () => boolean;
  /** Called before each point starts (index, point). */
  onPoint?: (i: number, point: SweepPoint, total: number) => void;
}

/** Runs (or resumes) every point of a sweep folder in order; writes report.json when all completed. */
export async function runSweep(sweepDir: string, opts: RunSweepOptions = {}): Promise<SweepJson> {
  const dir = path.resolve(sweepDir);
  readSweep(dir); // not a sweep folder: said before anything else
  // One live owner: a second `sweep-resume` is refused ("sweep … is being run by pid N since …").
  const lock = lockSweep(dir, opts.emit);
  try {
    return await runSweepLocked(dir, opts);
  } finally {
    lock.release();
  }
}

async function runSweepLocked(dir: string, opts: RunSweepOptions): Promise<SweepJson> {
  const shouldStop = opts.shouldStop ?? (() => false);
  let sweep = updateSweep(dir, (s) => {
    s.status = 'running';
    s.pid = process.pid;
  });
  // issue 18: a student search plans its points rung by rung (src/engine/search.ts)
  if (sweep.search) return (await import('./search')).runSearchLocked(dir, opts, (d, i) => runPoint(d, i, opts));
  for (let i = 0; i < sweep.points.length; i++) {
    const point = sweep.points[i];
    if (point.status === 'completed') continue;
    if (shouldStop()) break;
    opts.onPoint?.(i, point, sweep.points.length);
    let result;
    try {
      result = await runPoint(dir, i, opts);
    } catch (e) {
      updateSweep(dir, (s) => { s.status = 'failed'; }); // an invalid point: the sweep stops here
      throw e;
    }
    sweep = readSweep(dir);
    if (result.status === 'cancelled') break;
  }
  return finishSweep(dir);
}

/**
 * Runs (or resumes) one point into the sweep folder and records how it ended. Throws (the point
 * marked failed) when its experiment is invalid, before any run folder exists.
 */
async function runPoint(dir: string, i: number, opts: RunSweepOptions): Promise<RunResult> {
  const shouldStop = opts.shouldStop ?? (() => false);
  const sweep = readSweep(dir);
  const point = sweep.points[i];
  const runsDir = path.join(dir, 'runs');
  let result: RunResult;
  if (point.runDir && fs.existsSync(path.join(dir, point.runDir, 'run.json'))) {
    updateSweep(dir, (s) => { s.points[i].status = 'running'; });
    result = await runExperiment({ resume: path.join(dir, point.runDir), backend: opts.backend, python: opts.python, emit: opts.emit, shouldStop });
  } else {
    const teacher = sweep.teacher && sharedTeacherSpec(sweep.teacher);
    const text = sweep.search && point.rung !== undefined
      ? searchPointText(sweep.experimentText, point.values, sweep.search.rungEpochs[point.rung], sweep.seeds, teacher)
      : pointText(sweep.experimentText, point.values, sweep.seeds, teacher);
    const emit = (m: EngineToHost): void => {
      if (m.type === 'started') {
        updateSweep(dir, (s) => {
          s.points[i].status = 'running';
          s.points[i].runDir = path.relative(dir, m.runDir);
        });
      }
      opts.emit?.(m);
    };
    try {
      result = await runExperiment({ experiment: sweep.experimentFile, experimentText: text, runsDir, backend: opts.backend, python: opts.python, emit, shouldStop });
    } catch (e) {
      updateSweep(dir, (s) => {
        s.points[i].status = 'failed';
        s.points[i].error = (e as Error).message;
      });
      throw e;
    }
  }
  updateSweep(dir, (s) => {
    const p = s.points[i];
    p.status = result.status === 'completed' ? 'completed' : result.status === 'cancelled' ? 'cancelled' : 'failed';
    p.runDir = path.relative(dir, result.runDir);
    if (result.error) p.error = result.error;
    else delete p.error;
    // The first point that trained the teacher shares it with every later point — unless the sweep
    // varies the teacher or the data it is trained on. TF.js: its model.json; torch: its model.pt
    // in the file's teacher architecture (src/runs/sweepTeacher.ts).
    if (!s.teacher && !sweepVariesTeacher(s) && result.status === 'completed' && readRun(result.runDir).jobs.teacher) {
      const trained = trainedTeacher(s.experimentText, result.runDir, p.id);
      if (trained) s.teacher = trained;
    }
  });
  return result;
}

/**
 * `distill sweep-point <folder> <index>`: runs exactly that point into the sweep folder, in this
 * process, and nothing else (a task of a Slurm array, one process of `--executor local`).
 * Idempotent: a completed point is skipped, a failed or cancelled one resumed from its run folder.
 * One live owner per point (a lock in `points/<id>/`). When it completes the sweep's last point,
 * it writes the sweep's report (so the report exists even if no one waits for the sweep) — not of a
 * search, whose lead plans the next rung or chooses the candidate (src/cli/searchExecutors.ts).
 */
export async function runSweepPoint(sweepDir: string, index: number, opts: RunSweepOptions = {}): Promise<SweepPoint> {
  const dir = path.resolve(sweepDir);
  const sweep = readSweep(dir);
  const n = sweep.points.length;
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new Error(`${dir}: no point ${index} (the sweep has ${n} point${n === 1 ? '' : 's'}, indices 0–${n - 1})`);
  }
  const point = sweep.points[index];
  if (point.status === 'completed') {
    opts.emit?.({ type: 'log', level: 'info', message: `point ${point.id} (index ${index}) already completed: skipped` });
    return point;
  }
  const lockDir = path.join(dir, 'points', point.id);
  fs.mkdirSync(lockDir, { recursive: true });
  const lock = lockFolder(lockDir, (o) => `point ${point.id} of sweep ${sweep.id} is being run by ${describeOwner(o)}; stop it first, or wait for it to end`);
  try {
    opts.onPoint?.(index, point, n);
    await runPoint(dir, index, opts);
    const after = readSweep(dir);
    // a search's last point does not finish it: its lead plans the next rung, or chooses (src/runs/searchLoop.ts)
    if (!after.search && after.points.every((p) => p.status === 'completed')) finishSweep(dir);
    return after.points[index];
  } finally {
    lock.release();
  }
}

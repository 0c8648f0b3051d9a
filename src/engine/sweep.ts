/**
 * Runs a sweep folder (src/runs/sweeps.ts): its points one after another, each an ordinary run of
 * the engine; resumable as a whole (a completed point is skipped, an interrupted one resumed from
 * its run folder, a pending one started); one live owner at a time (a lock on the folder).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BackendName } from '../config/types';
import type { EngineToHost } from '../protocol/engine';
import { lockSweep } from '../runs/lock';
import { readRun } from '../runs/store';
import type { SweepJson, SweepPoint } from '../runs/sweeps';
import { pointText, readSweep, sweepSummary, updateSweep } from '../runs/sweeps';
import { runExperiment } from './run';

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
  const runsDir = path.join(dir, 'runs');
  for (let i = 0; i < sweep.points.length; i++) {
    const point = sweep.points[i];
    if (point.status === 'completed') continue;
    if (shouldStop()) break;
    opts.onPoint?.(i, point, sweep.points.length);
    let result;
    if (point.runDir && fs.existsSync(path.join(dir, point.runDir, 'run.json'))) {
      updateSweep(dir, (s) => { s.points[i].status = 'running'; });
      result = await runExperiment({ resume: path.join(dir, point.runDir), backend: opts.backend, python: opts.python, emit: opts.emit, shouldStop });
    } else {
      const text = pointText(sweep.experimentText, point.values, sweep.seeds, sweep.teacher?.model);
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
        // The point's experiment is invalid (before any run folder exists): the sweep stops here.
        updateSweep(dir, (s) => {
          s.points[i].status = 'failed';
          s.points[i].error = (e as Error).message;
          s.status = 'failed';
        });
        throw e;
      }
    }
    sweep = updateSweep(dir, (s) => {
      const p = s.points[i];
      p.status = result.status === 'completed' ? 'completed' : result.status === 'cancelled' ? 'cancelled' : 'failed';
      p.runDir = path.relative(dir, result.runDir);
      if (result.error) p.error = result.error;
      else delete p.error;
      // The first point that trained the teacher shares it with every later point — unless the sweep
      // varies the teacher or the data it is trained on.
      const trained = path.join(result.runDir, 'models', 'teacher', 'model.json');
      const varies = Object.keys(s.axes).some((k) => /^(teacher|data)\b/.test(k));
      if (!s.teacher && !varies && result.status === 'completed' && fs.existsSync(trained) && readRun(result.runDir).jobs.teacher) {
        s.teacher = { model: trained, from: p.id };
      }
    });
    if (result.status === 'cancelled') break;
  }
  return updateSweep(dir, (s) => {
    const all = s.points.every((p) => p.status === 'completed');
    s.status = all ? 'completed' : s.points.some((p) => p.status === 'failed') ? 'failed' : 'cancelled';
    if (all) {
      s.finishedAt = new Date().toISOString();
      fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(sweepSummary(dir, s), null, 2));
    }
    delete s.pid;
  });
}

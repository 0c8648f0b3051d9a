/**
 * A sweep folder made without training (the Sweep panel's tests): createSweep writes the real
 * sweep.json from an experiment with `sweep`; each point is then started, completed or failed by
 * writing what the engine writes (src/engine/sweep.ts, src/runs/store.ts): the point's run folder
 * under <sweep>/runs/, its run.json status and jobs, a report.json with the student's size and the
 * per-seed last-epoch test accuracies, and the point's status in sweep.json.
 */
import * as path from 'path';
import { loadExperimentText } from '../../src/config/parse';
import type { Report } from '../../src/runs/report';
import type { JobState } from '../../src/runs/store';
import { createRun, updateRun, writeFileAtomic } from '../../src/runs/store';
import { createSweep, pointText, readSweep, updateSweep } from '../../src/runs/sweeps';

/** Creates the sweep folder of `experimentFile` (which has a `sweep`); every point pending. */
export function fakeSweep(experimentFile: string): string {
  return createSweep(experimentFile, { yes: true });
}

/** Starts point `i`: its run folder (run.json running, owned by `pid`), sweep.json running. Returns the run folder. */
export function startPoint(sweepDir: string, i: number, pid = process.pid): string {
  const sweep = readSweep(sweepDir);
  const point = sweep.points[i];
  const text = pointText(sweep.experimentText, point.values, sweep.seeds);
  // the point's config, validated as the engine does it (model paths resolved beside the experiment file)
  const loaded = loadExperimentText(sweep.experimentFile, text);
  if (!loaded.config) throw new Error(`point ${point.id}: invalid experiment: ${loaded.errors.map((e) => e.message).join('; ')}`);
  const epochs = loaded.config.training.epochs;
  const jobs: Record<string, JobState> = {};
  for (const seed of sweep.seeds) {
    jobs[`scratch-s${seed}`] = { kind: 'scratch', seed, status: 'pending', epochs, completedEpochs: 0 };
    jobs[`distill-s${seed}`] = { kind: 'distill', seed, status: 'pending', epochs, completedEpochs: 0 };
  }
  const runDir = createRun(path.join(sweepDir, 'runs'), { experimentFile: sweep.experimentFile, experimentText: text, config: loaded.config }, jobs);
  updateRun(runDir, (r) => {
    r.status = 'running';
    r.pid = pid;
    r.startedAt = new Date().toISOString();
  });
  updateSweep(sweepDir, (s) => {
    s.status = 'running';
    s.pid = pid;
    s.points[i].status = 'running';
    s.points[i].runDir = path.relative(sweepDir, runDir);
  });
  return runDir;
}

/** One more epoch done for every job of point `i`'s run (the progress the panel shows). */
export function advancePoint(sweepDir: string, i: number): void {
  const p = readSweep(sweepDir).points[i];
  updateRun(path.join(sweepDir, p.runDir!), (r) => {
    for (const j of Object.values(r.jobs)) {
      j.status = 'running';
      j.completedEpochs = Math.min(j.epochs, j.completedEpochs + 1);
    }
  });
}

export interface PointResult {
  params: number;
  bytes: number;
  /** Last-epoch test accuracy of the distilled student, one per seed. */
  distilled: number[];
  scratch?: number[];
}

/** Completes point `i` (started before): report.json, run.json completed, sweep.json completed. */
export function completePoint(sweepDir: string, i: number, result: PointResult): string {
  const sweep = readSweep(sweepDir);
  const runDir = path.join(sweepDir, sweep.points[i].runDir!);
  const jobs: Report['jobs'] = {};
  sweep.seeds.forEach((seed, k) => {
    const fig = (testAcc: number) => ({ epoch: 1, testAcc, testErrors: Math.round((1 - testAcc) * 256) });
    jobs[`distill-s${seed}`] = { kind: 'distill', seed, last: fig(result.distilled[k]), best: fig(result.distilled[k]) };
    if (result.scratch) jobs[`scratch-s${seed}`] = { kind: 'scratch', seed, last: fig(result.scratch[k]), best: fig(result.scratch[k]) };
  });
  const report = {
    experiment: sweep.name, runId: path.basename(runDir), backend: 'cpu', scheme: 'offline',
    teacher: { params: 1348, bytes: 5392, flops: 2600, latencyMsPerSample: 0.01, testAcc: 0.97, testErrors: 8 },
    student: { params: result.params, bytes: result.bytes, flops: result.params * 2, latencyMsPerSample: 0.01 },
    jobs, summary: { scratch: undefined, distill: undefined }, exportedJob: `distill-s${sweep.seeds[0]}`, testSize: 256,
  } satisfies Report;
  writeFileAtomic(path.join(runDir, 'report.json'), JSON.stringify(report, null, 2));
  updateRun(runDir, (r) => {
    r.status = 'completed';
    r.finishedAt = new Date().toISOString();
    delete r.pid;
    for (const j of Object.values(r.jobs)) {
      j.status = 'completed';
      j.completedEpochs = j.epochs;
    }
  });
  updateSweep(sweepDir, (s) => {
    s.points[i].status = 'completed';
    if (s.points.every((p) => p.status === 'completed')) {
      s.status = 'completed';
      delete s.pid;
    }
  });
  return runDir;
}

/** Fails point `i` (started before) with `error`, as a crashed run would. */
export function failPoint(sweepDir: string, i: number, error: string): void {
  const p = readSweep(sweepDir).points[i];
  updateRun(path.join(sweepDir, p.runDir!), (r) => {
    r.status = 'failed';
    r.error = error;
    delete r.pid;
  });
  updateSweep(sweepDir, (s) => {
    s.points[i].status = 'failed';
    s.points[i].error = error;
  });
}

/**
 * What the Sweep panel shows, read from the sweep folder (the source of truth): the plan and every
 * point's status from sweep.json, each point's state and progress from its own run.json (the one
 * run-state rule, src/runs/state.ts), its size and accuracies from its report.json (sweepSummary),
 * and the Pareto fronts of distilled accuracy against parameters and against bytes
 * (src/runs/pareto.ts). Pure Node: no `vscode`.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { SweepPanelData, SweepPointStatus, SweepPointView } from '../../protocol/webviews';
import { paretoFront } from '../../runs/pareto';
import { runState } from '../../runs/state';
import { readRun } from '../../runs/store';
import type { SweepJson, SweepPoint } from '../../runs/sweeps';
import { pointState, readSweep, sweepSummary } from '../../runs/sweeps';

/** The panel's title of a sweep: `mnist-kd · sweep 20260101-120000`. */
export function sweepTitle(sweep: Pick<SweepJson, 'name' | 'id'>): string {
  return `${sweep.name} · sweep ${sweep.id}`;
}

/** A point's status: its run's state once it has a run.json, else sweep.json's (`pending` is queued). */
function pointStatus(sweepDir: string, sweep: SweepJson, p: SweepPoint): { status: SweepPointStatus; progress?: { done: number; total: number } } {
  if (p.runDir && fs.existsSync(path.join(sweepDir, p.runDir, 'run.json'))) {
    try {
      const run = readRun(path.join(sweepDir, p.runDir));
      const jobs = Object.values(run.jobs);
      const progress = { done: jobs.reduce((a, j) => a + j.completedEpochs, 0), total: jobs.reduce((a, j) => a + j.epochs, 0) };
      const s = runState(run);
      return { status: s === 'queued' ? 'queued' : s, progress };
    } catch {
      // unreadable run.json (being replaced): sweep.json says
    }
  }
  if (p.status === 'pending') return { status: 'queued' };
  if (p.status === 'running') return { status: runState({ status: 'running', pid: sweep.pid }) === 'interrupted' ? 'interrupted' : 'running' };
  return { status: p.status };
}

/** Everything the panel shows of a sweep folder; a folder that cannot be read gives `error`, never a throw. */
export function sweepPanelData(sweepDir: string): SweepPanelData {
  let sweep: SweepJson;
  try {
    sweep = readSweep(sweepDir);
  } catch (e) {
    const id = path.basename(sweepDir);
    return { title: `sweep ${id}`, name: path.basename(path.dirname(sweepDir)), id, state: 'unreadable', axes: {}, seeds: [], points: [], error: (e as Error).message };
  }
  const summary = sweepSummary(sweepDir, sweep);
  const rows = new Map(summary.rows.map((r) => [r.point, r]));
  const points: SweepPointView[] = sweep.points.map((p) => {
    const r = rows.get(p.id);
    const { status, progress } = pointStatus(sweepDir, sweep, p);
    return {
      id: p.id, values: p.values, status, state: r?.state ?? pointState(sweepDir, sweep, p),
      ...(progress ? { progress } : {}),
      hasRun: !!p.runDir && fs.existsSync(path.join(sweepDir, p.runDir, 'run.json')),
      ...(r?.params !== undefined ? { params: r.params } : {}), ...(r?.bytes !== undefined ? { bytes: r.bytes } : {}),
      ...(r?.distilled ? { distilled: r.distilled } : {}), ...(r?.scratch ? { scratch: r.scratch } : {}), ...(r?.agreement ? { agreement: r.agreement } : {}),
      pareto: { params: false, bytes: false },
      ...(p.error ? { error: p.error } : {}),
      ...searchFields(sweep, p),
    };
  });
  // a search's front is its last rung's (the earlier rungs trained for fewer epochs)
  const last = sweep.search ? sweep.search.rungEpochs.length - 1 : undefined;
  const inFront = (p: SweepPointView): boolean => last === undefined || p.rung === last;
  const byParams = paretoFront(points.map((p) => ({ size: inFront(p) ? p.params : undefined, acc: p.distilled?.mean })));
  const byBytes = paretoFront(points.map((p) => ({ size: inFront(p) ? p.bytes : undefined, acc: p.distilled?.mean })));
  points.forEach((p, i) => (p.pareto = { params: byParams[i], bytes: byBytes[i] }));
  return {
    title: sweepTitle(sweep), name: sweep.name, id: sweep.id, state: summary.state, axes: sweep.axes, seeds: sweep.seeds,
    ...(summary.teacher ? { teacher: { params: summary.teacher.params, bytes: summary.teacher.bytes, testAcc: summary.teacher.testAcc } } : {}),
    points,
    ...(sweep.search ? { search: {
      budget: sweep.search.budget, rungEpochs: sweep.search.rungEpochs, objective: sweep.search.objective, against: sweep.search.against,
      ...(sweep.search.chosen ? { chosen: sweep.search.chosen.point } : {}),
    } } : {}),
  };
}

/** issue 18: a search point's rung and candidate, whether its candidate was dropped, whether it is the chosen one. */
function searchFields(sweep: SweepJson, p: SweepPoint): Partial<SweepPointView> {
  if (!sweep.search || p.rung === undefined) return {};
  const c = sweep.search.candidates.find((x) => x.id === p.candidate);
  return { rung: p.rung, ...(p.candidate ? { candidate: p.candidate } : {}), ...(c?.dropped ? { dropped: true } : {}),
    ...(sweep.search.chosen?.point === p.id ? { chosen: true } : {}) };
}

/** The run folder of a point (absolute), when it has one: what `openPoint` opens. */
export function pointRunDir(sweepDir: string, pointId: string): string | undefined {
  const p = readSweep(sweepDir).points.find((q) => q.id === pointId);
  if (!p?.runDir) return undefined;
  const dir = path.resolve(sweepDir, p.runDir);
  // the run folder lies inside the sweep folder (sweep.json is data, not trusted to point elsewhere)
  const rel = path.relative(path.resolve(sweepDir), dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return fs.existsSync(path.join(dir, 'run.json')) ? dir : undefined;
}

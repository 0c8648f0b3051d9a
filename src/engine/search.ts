/**
 * Runs a student search (issue 18; the plan is src/runs/search.ts, the state SearchState in
 * sweep.json) in its sweep folder: every candidate is measured by its engine (the `figures` probe:
 * TF.js here, PyTorch through its probe process) and kept when it fits the budget; then rung after
 * rung, the rung's points are appended to sweep.json (one per candidate still in), run as ordinary
 * sweep points (src/engine/sweep.ts runPoint, with the rung's epochs), scored from their reports,
 * and the best ⌈n/eta⌉ go on. At the end the chosen candidate is recorded and the sweep finishes
 * (report.json carries the search).
 *
 * Resumable from sweep.json alone: measured candidates are not measured again, a rung whose points
 * exist is not planned again (its completed points are skipped, an interrupted one resumed), and the
 * next rung is planned from the scores on disk.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExperimentError, locate } from '../config/errors';
import type { ConfigError } from '../config/types';
import type { EngineToHost, FiguresAnswer } from '../protocol/engine';
import type { Report } from '../runs/report';
import { readJson } from '../runs/store';
import type { SearchState, SweepJson, SweepPoint } from '../runs/sweeps';
import { finishSweep, readSweep, updateSweep } from '../runs/sweeps';
import {
  budgetReason, defaultRungs, finalFront, planCandidates, rungEpochs, SEARCH_FIELDS, searchPointText, survivors,
} from '../runs/search';
import { parseExperimentText } from '../config/parse';
import { candidatesTable, frontTable, rungText } from '../runs/searchText';
import type { RunResult } from './run';
import { NO_CONV2D } from './search/check';

export interface SearchRunOptions {
  backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  python?: string;
  emit?: (msg: EngineToHost) => void;
  shouldStop?: () => boolean;
  onPoint?: (i: number, point: SweepPoint, total: number) => void;
  /** Measures one candidate's experiment text (default: the engine's `figures` probe). */
  figures?: (experimentFile: string, text: string) => Promise<FiguresAnswer>;
}

type RunPoint = (dir: string, i: number) => Promise<RunResult>;

const log = (opts: SearchRunOptions, message: string): void => opts.emit?.({ type: 'log', level: 'info', message });

async function probeFigures(opts: SearchRunOptions, experimentFile: string, text: string): Promise<FiguresAnswer> {
  if (opts.figures) return opts.figures(experimentFile, text);
  const { answerProbe } = await import('./probe');
  return await answerProbe({ kind: 'figures', experimentFile, text, ...(opts.backend ? { backend: opts.backend } : {}), ...(opts.python ? { python: opts.python } : {}) }) as FiguresAnswer;
}

/** The located problem of the search's `separable` axis when the teacher has no Conv2D to swap. */
function separableError(sweep: SweepJson): ExperimentError {
  const at = ['search', 'space', 'separable'];
  const e: ConfigError = {
    file: sweep.experimentFile, path: at, location: locate(sweep.experimentText, at), severity: 'error',
    message: NO_CONV2D,
  };
  return new ExperimentError([e]);
}

/** Measures every candidate (once; the state is then in sweep.json) and plans the rungs' epochs. */
async function measureCandidates(dir: string, opts: SearchRunOptions): Promise<SweepJson> {
  const sweep = readSweep(dir);
  const s = sweep.search!;
  if (s.candidates.length > 0 && s.rungEpochs.length > 0) return sweep;
  const loaded = parseExperimentText(sweep.experimentText, sweep.experimentFile);
  const config = loaded.config;
  if (!config?.search) throw new ExperimentError(loaded.errors.length ? loaded.errors : []);
  const planned = planCandidates(config.search.space);
  const candidates: SearchState['candidates'] = [];
  // One measurement thrown away first: the backend's first predictions (kernel compilation, memory
  // pools) are slower, and would make the first candidates look slower than they are.
  await probeFigures(opts, sweep.experimentFile, searchPointText(sweep.experimentText, planned[0].values, config.training.epochs, sweep.seeds)).catch(() => undefined);
  for (const c of planned) {
    const text = searchPointText(sweep.experimentText, c.values, config.training.epochs, sweep.seeds);
    let f: FiguresAnswer;
    try {
      f = await probeFigures(opts, sweep.experimentFile, text);
    } catch (e) {
      // A candidate that does not build (a width that rounds a layer to nothing, a depth that drops
      // every block …) is not a candidate: said in its row, never trained.
      const message = e instanceof ExperimentError ? e.errors.map((x) => x.message).join('; ') : (e as Error).message;
      candidates.push({ id: c.id, values: c.values, params: 0, bytes: 0, latencyMs: 0, fits: false, reason: `does not build: ${message}` });
      continue;
    }
    if (c.values[SEARCH_FIELDS.separable] === 1 && f.swapped === 0) throw separableError(sweep);
    const fig = { params: f.student.params, bytes: f.student.bytes, latencyMs: f.student.latencyMsPerSample };
    const reason = budgetReason(s.budget, fig);
    candidates.push({ id: c.id, values: c.values, ...fig, fits: !reason, ...(reason ? { reason } : {}) });
  }
  const n = candidates.filter((c) => c.fits).length;
  const rungs = config.search.rungs ?? defaultRungs(n, s.eta);
  const after = updateSweep(dir, (w) => {
    w.search!.candidates = candidates;
    w.search!.rungEpochs = rungEpochs(config.training.epochs, s.eta, rungs);
  });
  log(opts, `\nsearch candidates (measured by the engine at batch 1):\n${candidatesTable(after.search!, Object.keys(after.axes))}`);
  if (n === 0) {
    const at = ['search', 'budget'];
    throw new ExperimentError([{ file: sweep.experimentFile, path: at, location: locate(sweep.experimentText, at), severity: 'error',
      message: `no candidate fits the budget (${candidates.map((c) => `${c.id}: ${c.reason}`).join('; ')}): raise the budget or add smaller candidates to the space` }]);
  }
  return after;
}

/** A completed point's objective: the mean over seeds of its distilled jobs' last-epoch figure. */
export function pointScore(dir: string, point: SweepPoint, objective: SearchState['objective']): number | undefined {
  if (point.status !== 'completed' || !point.runDir) return undefined;
  const file = path.join(dir, point.runDir, 'report.json');
  if (!fs.existsSync(file)) return undefined;
  const r = readJson<Report>(file);
  const values = Object.values(r.jobs).filter((j) => j.kind === 'distill').map((j) => j.last[objective]).filter((v): v is number => typeof v === 'number');
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
}

/** Appends the points of rung `r` (one per candidate, in candidate order) unless they exist. */
function planRung(dir: string, r: number, ids: string[]): SweepJson {
  return updateSweep(dir, (s) => {
    if (s.points.some((p) => p.rung === r)) return;
    const byId = new Map(s.search!.candidates.map((c) => [c.id, c]));
    for (const id of ids) {
      const n = s.points.length + 1;
      s.points.push({ id: `p${String(n).padStart(2, '0')}`, values: { ...byId.get(id)!.values }, status: 'pending', rung: r, candidate: id });
    }
  });
}

/** Runs (or resumes) the search in `dir` (sweep.json with `search`); the caller holds the sweep lock. */
export async function runSearchLocked(dir: string, opts: SearchRunOptions, runPoint: RunPoint): Promise<SweepJson> {
  const shouldStop = opts.shouldStop ?? (() => false);
  let sweep: SweepJson;
  try {
    sweep = await measureCandidates(dir, opts);
  } catch (e) {
    updateSweep(dir, (s) => { s.status = 'failed'; delete s.pid; }); // nothing to train: the sweep says so
    throw e;
  }
  const R = sweep.search!.rungEpochs.length;
  let ids = sweep.search!.candidates.filter((c) => c.fits).map((c) => c.id);
  for (let r = 0; r < R; r++) {
    sweep = planRung(dir, r, ids);
    const indices = sweep.points.map((p, i) => (p.rung === r ? i : -1)).filter((i) => i >= 0);
    for (const i of indices) {
      const point = readSweep(dir).points[i];
      if (point.status === 'completed') continue;
      if (shouldStop()) return finishSweep(dir);
      opts.onPoint?.(i, point, readSweep(dir).points.length);
      let result: RunResult;
      try {
        result = await runPoint(dir, i);
      } catch (e) {
        updateSweep(dir, (s) => { s.status = 'failed'; });
        throw e;
      }
      if (result.status === 'cancelled') return finishSweep(dir);
    }
    sweep = readSweep(dir);
    const pts = sweep.points.filter((p) => p.rung === r);
    if (pts.some((p) => p.status !== 'completed')) return finishSweep(dir); // a failed point: the sweep says so
    const scored = pts.map((p) => {
      const score = pointScore(dir, p, sweep.search!.objective);
      if (score === undefined) throw new Error(`${p.id}: its report has no ${sweep.search!.objective} of a distilled job to rank candidate ${p.candidate} by`);
      return { candidate: p.candidate!, point: p.id, score, params: sweep.search!.candidates.find((c) => c.id === p.candidate)!.params };
    });
    const last = r === R - 1;
    const kept = last ? undefined : survivors(scored, sweep.search!.eta);
    sweep = updateSweep(dir, (s) => {
      for (const e of scored) {
        const c = s.search!.candidates.find((x) => x.id === e.candidate)!;
        c.rung = r;
        c.score = e.score;
        if (kept && !kept.includes(c.id)) c.dropped = true;
      }
      if (last) {
        const { chosen } = finalFront(s.search!);
        const point = scored.find((e) => e.candidate === chosen);
        if (chosen && point) s.search!.chosen = { candidate: chosen, point: point.point };
      }
    });
    log(opts, `\n${rungText(sweep, r, kept)}`);
    if (kept) ids = [...kept].sort(); // the next rung's points in candidate order
  }
  log(opts, `\n${frontTable(sweep)}`);
  return finishSweep(dir);
}

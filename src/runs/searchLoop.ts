/**
 * The student search's loop (issue 18), free of any engine, so that both the engine process (the
 * one-process search, src/engine/search.ts) and the CLI (a search on the sweep executors,
 * src/cli/searchExecutors.ts) drive the same rungs the same way:
 *
 *   1. every candidate is measured (once; `figures`, the engine's `figures` probe) and kept when it
 *      fits the budget; the rungs' epochs are planned (src/runs/search.ts)
 *   2. rung after rung, the rung's points are appended to sweep.json (one per candidate still in,
 *      in candidate order) and handed to `runRung` — one after another in this process, or side by
 *      side through an executor (`distill sweep-point` processes, a Slurm array)
 *   3. when the rung's points all completed they are scored from their reports on disk and the best
 *      ⌈n/eta⌉ go on; after the last rung the chosen candidate is recorded and the sweep finishes
 *
 * Resumable from sweep.json alone: measured candidates are not measured again, a rung whose points
 * exist is not planned again (its completed points are skipped by `runRung`), and the next rung is
 * planned from the scores on disk. The caller holds the sweep lock.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExperimentError, locate } from '../config/errors';
import type { ConfigError } from '../config/types';
import { parseExperimentText } from '../config/parse';
import type { EngineToHost, FiguresAnswer } from '../protocol/engine';
import type { Report } from './report';
import { readJson } from './store';
import type { SearchState, SweepJson, SweepPoint } from './sweeps';
import { finishSweep, readSweep, updateSweep } from './sweeps';
import { budgetReason, defaultRungs, finalFront, planCandidates, rungEpochs, SEARCH_FIELDS, searchPointText, survivors } from './search';
import { candidatesTable, frontTable, rungText } from './searchText';

export const NO_CONV2D = 'the teacher has no Conv2D layer (with a kernel larger than 1×1) to make separable: remove "separable" from the space, or use [false]';

export interface SearchLoopOptions {
  emit?: (msg: EngineToHost) => void;
  /** Measures one candidate's experiment text (the engine's `figures` probe). */
  figures: (experimentFile: string, text: string) => Promise<FiguresAnswer>;
}

/**
 * Runs the points `indices` of rung `rung` (already in sweep.json), skipping completed ones, and
 * records how each ended in sweep.json. `'stop'`: stopped on request (Ctrl-C, Stop) — the search
 * ends here, resumable.
 */
export type RunRung = (dir: string, rung: number, indices: number[]) => Promise<'continue' | 'stop'>;

const log = (opts: SearchLoopOptions, message: string): void => opts.emit?.({ type: 'log', level: 'info', message });

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
async function measureCandidates(dir: string, opts: SearchLoopOptions): Promise<SweepJson> {
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
  await opts.figures(sweep.experimentFile, searchPointText(sweep.experimentText, planned[0].values, config.training.epochs, sweep.seeds)).catch(() => undefined);
  for (const c of planned) {
    const text = searchPointText(sweep.experimentText, c.values, config.training.epochs, sweep.seeds);
    let f: FiguresAnswer;
    try {
      f = await opts.figures(sweep.experimentFile, text);
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

/** Runs (or resumes) the search in `dir` (sweep.json with `search`), each rung through `runRung`. */
export async function runSearchLoop(dir: string, opts: SearchLoopOptions, runRung: RunRung): Promise<SweepJson> {
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
    if (await runRung(dir, r, indices) === 'stop') return finishSweep(dir);
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

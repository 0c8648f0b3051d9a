/**
 * Runs a student search (issue 18; the plan is src/runs/search.ts, the state SearchState in
 * sweep.json, the rung-by-rung loop src/runs/searchLoop.ts) in its sweep folder, in this engine
 * process: every candidate is measured by its engine (the `figures` probe: TF.js here, PyTorch
 * through its probe process) and kept when it fits the budget; then rung after rung, the rung's
 * points run one after another as ordinary sweep points (src/engine/sweep.ts runPoint, with the
 * rung's epochs), are scored from their reports, and the best ⌈n/eta⌉ go on. At the end the chosen
 * candidate is recorded and the sweep finishes (report.json carries the search).
 *
 * On the sweep executors (`--executor local|slurm`) the CLI drives the same loop with the rungs'
 * points as `distill sweep-point` processes instead (src/cli/searchExecutors.ts).
 *
 * Resumable from sweep.json alone (src/runs/searchLoop.ts).
 */
import type { EngineToHost, FiguresAnswer } from '../protocol/engine';
import type { SweepJson, SweepPoint } from '../runs/sweeps';
import { readSweep, updateSweep } from '../runs/sweeps';
import { runSearchLoop } from '../runs/searchLoop';
import type { RunResult } from './run';

export { pointScore } from '../runs/searchLoop';

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

async function probeFigures(opts: SearchRunOptions, experimentFile: string, text: string): Promise<FiguresAnswer> {
  if (opts.figures) return opts.figures(experimentFile, text);
  const { answerProbe } = await import('./probe');
  return await answerProbe({ kind: 'figures', experimentFile, text, ...(opts.backend ? { backend: opts.backend } : {}), ...(opts.python ? { python: opts.python } : {}) }) as FiguresAnswer;
}

/** Runs (or resumes) the search in `dir` (sweep.json with `search`), its points one after another; the caller holds the sweep lock. */
export async function runSearchLocked(dir: string, opts: SearchRunOptions, runPoint: RunPoint): Promise<SweepJson> {
  const shouldStop = opts.shouldStop ?? (() => false);
  return runSearchLoop(dir, { emit: opts.emit, figures: (f, t) => probeFigures(opts, f, t) }, async (d, _r, indices) => {
    for (const i of indices) {
      const point = readSweep(d).points[i];
      if (point.status === 'completed') continue;
      if (shouldStop()) return 'stop';
      opts.onPoint?.(i, point, readSweep(d).points.length);
      let result: RunResult;
      try {
        result = await runPoint(d, i);
      } catch (e) {
        updateSweep(d, (s) => { s.status = 'failed'; });
        throw e;
      }
      if (result.status === 'cancelled') return 'stop';
    }
    return 'continue';
  });
}

/**
 * Which engine trained a run, and where (issue 14), from run.json alone: a torch run's run.json has
 * `versions.torch` and its `backend.name` is the device (`cpu`, `cuda:0`, `mps`); a TF.js run's
 * backend is `tensorflow`, `wasm` or `cpu`. For the tree, the compression panel and `distill list`,
 * which show the engine and device of a run beside its figures.
 */
import type { RunJson } from './store';

export interface RunEngine {
  engine: 'tfjs' | 'torch';
  /** torch: the device; tfjs: the backend (undefined before the run started). */
  where?: string;
  /** `torch · cuda:0`, `tfjs · wasm`, `torch` (not started yet). */
  label: string;
  /** `torch 1.13.0, Python 3.11.2` (torch) — what the run recorded. */
  versions?: string;
}

export function runEngine(run: Pick<RunJson, 'backend' | 'versions'>, configEngine?: string): RunEngine {
  const torch = run.versions?.torch !== undefined || configEngine === 'torch';
  const engine = torch ? 'torch' : 'tfjs';
  const where = run.backend?.name;
  const v = run.versions ?? {};
  const versions = torch && v.torch ? `torch ${v.torch}${v.python ? `, Python ${v.python}` : ''}` : undefined;
  return { engine, ...(where ? { where } : {}), label: where ? `${engine} · ${where}` : engine, ...(versions ? { versions } : {}) };
}

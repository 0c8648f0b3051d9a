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
  /** Mixed precision of a torch run (`bf16`, `fp16`), from its backend notes; absent for fp32. */
  precision?: string;
  /** `torch · cuda:0`, `torch · cuda:0 · bf16`, `tfjs · wasm`, `torch` (not started yet). */
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
  // the torch engine records `precision: bf16` among its backend notes (python/distill_torch/engine.py)
  const noted = torch ? run.backend?.notes.map((n) => /^precision: (\S+)/.exec(n)?.[1]).find(Boolean) : undefined;
  const precision = noted && noted !== 'fp32' ? noted : undefined;
  const label = [engine, where, precision].filter(Boolean).join(' · ');
  return { engine, ...(where ? { where } : {}), ...(precision ? { precision } : {}), label, ...(versions ? { versions } : {}) };
}

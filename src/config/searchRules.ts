/**
 * issue 18: the rules of `search` (a student search under a budget, src/config/types.ts SearchConfig)
 * that the schema cannot express. Pure, like rules.ts (which calls it): the student must be derived,
 * the budget needs a bound, a search is not a sweep, and `objective: valAcc` needs a validation
 * split. Ranges (width > 0, depth in (0, 1], eta ≥ 2) are the schema's; that a `separable` candidate
 * needs a Conv2D in the teacher is the engine's check (it has the model: src/engine/search.ts).
 */
import type { ExperimentConfig } from './types';
import type { JsonPath } from './errors';

export function searchChecks(config: ExperimentConfig, at: (path: JsonPath, message: string, severity?: 'error' | 'warning') => void): void {
  const s = config.search;
  if (!s) return;
  if (!('derive' in config.student)) {
    at(['student'], 'a search derives its candidates from the teacher: the student must be { "derive": … } (e.g. "student": { "derive": {} })');
  }
  if (s.budget.params === undefined && s.budget.bytes === undefined && s.budget.latencyMs === undefined) {
    at(['search', 'budget'], 'expected at least one bound: "params", "bytes" or "latencyMs" (e.g. { "params": 50000 })');
  }
  if (config.sweep) {
    at(['search'], 'a search and a sweep cannot be run together: remove "sweep" (the search makes its own points) or "search"');
  }
  if (s.objective === 'valAcc' && !config.data.validation) {
    at(['search', 'objective'], 'objective "valAcc" needs a validation split: add "data": { "validation": { "fraction": 0.1 } } or use "testAcc"');
  }
  if (s.space.width === undefined && s.space.depth === undefined && s.space.separable === undefined) {
    at(['search', 'space'], 'expected at least one axis: "width", "depth" or "separable" (e.g. { "width": [0.25, 0.5, 1] })');
  }
}

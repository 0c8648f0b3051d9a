/**
 * issue 18: what `distill check` (and so `distill sweep`, before it creates the sweep folder, and the
 * editor's Problems) says of a TF.js experiment's `search` beyond the validator: a `separable`
 * candidate needs a Conv2D in the teacher to swap (located at `search.space.separable`). The search
 * process checks the same when it measures the candidates, in both engines (src/runs/searchLoop.ts).
 */
import { locate } from '../../config/errors';
import type { ConfigError, ExperimentConfig } from '../../config/types';
import { deriveStudent } from '../models';
import { NO_CONV2D } from '../../runs/searchLoop';

export { NO_CONV2D };

export async function checkSearchSpace(file: string, text: string, c: ExperimentConfig, base: string): Promise<ConfigError[]> {
  if (!c.search?.space.separable?.includes(true) || !('derive' in c.student)) return [];
  const arch = await deriveStudent({ ...c.student, derive: { ...c.student.derive, swap: { Conv2D: 'SeparableConv2D' } } }, base);
  if (arch.swapped.length > 0) return [];
  const at = ['search', 'space', 'separable'];
  return [{ file, path: at, location: locate(text, at), message: NO_CONV2D, severity: 'error' }];
}

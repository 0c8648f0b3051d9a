/**
 * Resolves the `teacher` / `student` entries of an experiment into Layers models.
 */
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../../config/types';
import { loadLayersModelFromFile } from './fileIO';
import { buildFromModule } from './moduleLoader';
import { withSeededRandom } from '../random';

/** Builds (module) or loads (model.json) a model; weight initialisation is seeded. */
export async function resolveModel(spec: ModelSpec, baseDir: string, seed: number): Promise<tf.LayersModel> {
  if ('model' in spec) {
    return loadLayersModelFromFile(path.resolve(baseDir, spec.model));
  }
  return withSeededRandom(seed, () => buildFromModule(path.resolve(baseDir, spec.module), spec.export, spec.args ?? {}));
}

/** A short human description of where a model comes from, e.g. `models.ts#student`. */
export function describeSpec(spec: ModelSpec): string {
  return 'model' in spec ? spec.model : `${spec.module}#${spec.export}`;
}

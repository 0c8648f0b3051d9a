/**
 * The engine-side check of a data-free experiment (issue 18), with the models: DeepInversion
 * needs a teacher with BatchNormalization layers (their moving statistics are what the
 * synthesised inputs are made to match). Located at `data.train.format`, the setting that asks
 * for it; check.ts reports it with the other model problems (`distill check`, a run's pre-flight).
 */
import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../config/types';
import { jitterShapeProblem } from '../../config/dataFreeRules';
import { describeSpec } from '../models';
import { batchNormLayers } from './bnStats';

export function dataFreeTeacherProblems(c: ExperimentConfig, teacher: tf.LayersModel | undefined): { path: (string | number)[]; message: string }[] {
  if (c.data.train.format !== 'teacher-synthesized' || !teacher || !c.teacher) return [];
  if (batchNormLayers(teacher).length > 0) return [];
  return [{
    path: ['data', 'train', 'format'],
    message: `DeepInversion matches the statistics of the teacher's BatchNormalization layers; teacher ${describeSpec(c.teacher)} has none ` +
      '(data-free distillation needs a teacher trained with BatchNormalization)',
  }];
}

/**
 * `jitter` / `flip` against the shape the engine read (one input's, channels last): what the file
 * does not tell (idx, npy, image folders) is checked here, located at the field.
 */
export function dataFreeShapeProblems(c: ExperimentConfig, shape: number[]): { path: (string | number)[]; message: string }[] {
  const src = c.data.train;
  if (src.format !== 'teacher-synthesized' || (!(src.jitter ?? 0) && !src.flip)) return [];
  const p = jitterShapeProblem(src.jitter ?? 0, shape);
  return p ? [{ path: ['data', 'train', p.field], message: p.message }] : [];
}

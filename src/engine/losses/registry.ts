/**
 * The registry of loss terms: each knowledge entry of an experiment becomes a named, weighted
 * term computed from what one training step has (student and teacher logits, labels).
 * A new method is one file plus one entry in `METHODS`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig, KnowledgeEntry } from '../../config/types';
import { kdLoss } from './response/kd';
import { crossEntropy } from './labels';

export interface LossContext {
  studentLogits: tf.Tensor;
  /** Absent when the job trains without a teacher (scratch baseline, teacher training). */
  teacherLogits?: tf.Tensor;
  labels: tf.Tensor;
}

export interface LossTerm {
  /** Name in metrics.jsonl, progress and charts, e.g. `kd`, `labels`. */
  name: string;
  weight: number;
  needsTeacher: boolean;
  compute(ctx: LossContext): tf.Scalar;
}

type MethodFactory = (entry: KnowledgeEntry) => Omit<LossTerm, 'name' | 'weight'>;

const METHODS: Record<string, MethodFactory> = {
  'response/kd': (entry) => ({
    needsTeacher: true,
    compute: (ctx) => kdLoss(ctx.studentLogits, requireTeacher(ctx), entry.temperature),
  }),
};

function requireTeacher(ctx: LossContext): tf.Tensor {
  if (!ctx.teacherLogits) throw new Error('this loss term needs the teacher\'s logits');
  return ctx.teacherLogits;
}

export function labelsTerm(weight: number): LossTerm {
  return { name: 'labels', weight, needsTeacher: false, compute: (ctx) => crossEntropy(ctx.studentLogits, ctx.labels) };
}

/**
 * The terms of a job: `distill` = every knowledge entry + labels; `scratch` and `teacher` =
 * labels only (weight 1: the baseline is a plain supervised student with the same budget).
 */
export function buildLossTerms(config: ExperimentConfig, mode: 'distill' | 'scratch' | 'teacher'): LossTerm[] {
  if (mode !== 'distill') return [labelsTerm(1)];
  const terms: LossTerm[] = [];
  const used = new Map<string, number>();
  for (const entry of config.knowledge) {
    const key = `${entry.kind}/${entry.method}`;
    const factory = METHODS[key];
    if (!factory) throw new Error(`unknown knowledge method "${entry.method}" of kind "${entry.kind}"`);
    const n = (used.get(entry.method) ?? 0) + 1;
    used.set(entry.method, n);
    terms.push({ name: n === 1 ? entry.method : `${entry.method}#${n}`, weight: entry.weight, ...factory(entry) });
  }
  if (config.labels.weight > 0) terms.push(labelsTerm(config.labels.weight));
  return terms.filter((t) => t.weight > 0);
}

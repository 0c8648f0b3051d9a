/**
 * Teacher health (issue 13): a teacher that predicts at chance — every sample the same class, say,
 * because its BatchNormalization statistics never left their initial values — makes a distilled
 * student imitate noise. After the fixed teacher is loaded or trained, its accuracy on the
 * validation split (the test split when there is none) is compared with chance: the larger of
 * 1/numClasses and the majority-class rate of that split. At or near it (within
 * max(2 points, 10 % of the distance from chance to 100 %)) is a warning; so is, at the end, a
 * teacher below the scratch student's test accuracy. Warnings carry their likely causes, and go to
 * the run log, report.json (`warnings`), the CLI table, the Experiments tree and the compression panel.
 */
import type { ReportWarning } from '../../runs/report';
import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../config/types';
import type { PreparedData } from '../data';
import type { Stat } from '../../runs/report';
import { stepsPerEpoch } from '../training/train';


/** The accuracy of a split's chance predictor and the margin within which a model is "near" it. */
export function chanceLevel(labels: Int32Array, numClasses: number): { uniform: number; majority: number; majorityClass: number; chance: number; threshold: number } {
  const counts = new Array<number>(Math.max(1, numClasses)).fill(0);
  for (const y of labels) if (y >= 0 && y < counts.length) counts[y]++;
  let majorityClass = 0;
  for (let k = 1; k < counts.length; k++) if (counts[k] > counts[majorityClass]) majorityClass = k;
  const uniform = 1 / Math.max(1, numClasses);
  const majority = labels.length ? counts[majorityClass] / labels.length : 0;
  const chance = Math.max(uniform, majority);
  return { uniform, majority, majorityClass, chance, threshold: chance + Math.max(0.02, 0.1 * (1 - chance)) };
}

/** Whether a model has BatchNormalization layers (nested models included). */
export function hasBatchNorm(model: tf.LayersModel): boolean {
  const walk = (layers: tf.layers.Layer[]): boolean =>
    layers.some((l) => l.getClassName() === 'BatchNormalization' || ('layers' in l && Array.isArray((l as { layers?: unknown }).layers) && walk((l as unknown as { layers: tf.layers.Layer[] }).layers)));
  return walk(model.layers);
}

export interface TeacherContext {
  /** The split the logits are of. */
  split: 'validation' | 'test';
  batchNorm: boolean;
  /** Optimizer steps the teacher was trained for in this run (a teacher with `train`). */
  trainedSteps?: number;
  /** data.normalize of the experiment. */
  normalize?: string;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** The likely causes of a teacher at chance, most likely first. */
export function likelyCauses(ctx: TeacherContext): string[] {
  const causes: string[] = [];
  const steps = ctx.trainedSteps !== undefined ? ` (it was trained for ${ctx.trainedSteps} steps in this run)` : '';
  if (ctx.batchNorm) {
    causes.push(`too few training steps for its BatchNormalization statistics${steps}: with Keras's default momentum 0.99 the moving ` +
      'mean and variance need several hundred steps to leave their initial values, and inference uses them');
  } else if (ctx.trainedSteps !== undefined) {
    causes.push(`too short a training${steps}: raise teacher.train.epochs`);
  }
  causes.push(`inputs normalised differently from the teacher's training (data.normalize is "${ctx.normalize ?? 'scale'}" here; ` +
    'a pre-trained teacher needs the scaling it was trained with)');
  causes.push('labels that do not match its outputs: the wrong label column (labelColumn) or another class order than the teacher was trained on');
  return causes;
}

/**
 * A warning when the teacher's accuracy on the split is at or near chance; undefined when it is not.
 * `logits` are the teacher's outputs on the split, row-major [n, numClasses].
 */
export function teacherChanceWarning(logits: Float32Array, labels: Int32Array, numClasses: number, ctx: TeacherContext): ReportWarning | undefined {
  const n = labels.length;
  if (n === 0 || numClasses < 2) return undefined;
  const predicted = new Array<number>(numClasses).fill(0);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (logits[i * numClasses + k] > logits[i * numClasses + best]) best = k;
    predicted[best]++;
    if (best === labels[i]) correct++;
  }
  const acc = correct / n;
  const c = chanceLevel(labels, numClasses);
  if (acc > c.threshold) return undefined;
  let top = 0;
  for (let k = 1; k < numClasses; k++) if (predicted[k] > predicted[top]) top = k;
  const share = predicted[top] / n;
  const oneClass = share === 1 ? `, every prediction is class ${top}` : share >= 0.9 ? `, ${pct(share)} of its predictions are class ${top}` : '';
  return {
    kind: 'teacher-near-chance',
    message: `the teacher is at chance: ${pct(acc)} accuracy on the ${ctx.split} split (${n} samples${oneClass}), where guessing gives ` +
      `${pct(c.uniform)} (1/${numClasses}) and always answering the most frequent class ${pct(c.majority)}; ` +
      'the distilled students learn from a teacher that knows nothing',
    causes: likelyCauses(ctx),
  };
}

/** A warning when the teacher's test accuracy is below the scratch student's (mean over seeds, last epoch). */
export function teacherBelowScratchWarning(teacherAcc: number, scratch: Stat | undefined, ctx: TeacherContext): ReportWarning | undefined {
  if (!scratch || scratch.n === 0 || !(teacherAcc < scratch.mean)) return undefined;
  return {
    kind: 'teacher-below-scratch',
    message: `the teacher (${pct(teacherAcc)} test accuracy) is below the student trained from scratch (${pct(scratch.mean)}` +
      `${scratch.n > 1 ? ` mean of ${scratch.n} seeds` : ''}): distilling from it cannot beat the baseline`,
    causes: likelyCauses(ctx),
  };
}

/** A warning as text: the message, then `likely causes: a; b; c`. */
export function describeWarning(w: ReportWarning): string {
  return `${w.message}. Likely causes: ${w.causes.join('; ')}.`;
}

/** A short label for lists (tree description, table marker). */
export function warningLabel(w: ReportWarning): string {
  return w.kind === 'teacher-near-chance' ? 'teacher at chance' : w.kind === 'discriminator-wins' ? 'discriminator wins' : 'teacher below scratch';
}

/** What the causes depend on, for the experiment's teacher `model` (undefined: not at hand). */
export function teacherContext(model: tf.LayersModel | undefined, config: ExperimentConfig, data: PreparedData): TeacherContext {
  const t = config.teacher?.train;
  return {
    split: data.validation ? 'validation' : 'test',
    batchNorm: model ? hasBatchNorm(model) : false,
    ...(t && config.scheme.kind !== 'online' ? { trainedSteps: t.epochs * stepsPerEpoch(data.train.size, t) } : {}),
    normalize: config.data.normalize,
  };
}

/** The check after the fixed teacher is loaded or trained: its outputs on the validation split (else test). */
export function teacherAtLoad(model: tf.LayersModel, logits: { validation?: Float32Array; test: Float32Array }, config: ExperimentConfig,
  data: PreparedData, numClasses: number): ReportWarning | undefined {
  const ctx = teacherContext(model, config, data);
  const split = data.validation && logits.validation ? { logits: logits.validation, y: data.validation.y } : { logits: logits.test, y: data.test.y };
  return teacherChanceWarning(split.logits, split.y, numClasses, { ...ctx, split: data.validation && logits.validation ? 'validation' : 'test' });
}

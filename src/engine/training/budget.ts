/**
 * Budget sanity (issue 13): what the schema cannot know because it needs the data or the machine.
 * - a `batchSize` larger than the training split (every epoch is then one step of the whole split);
 * - the estimated training time, from a few measured optimizer steps of each architecture a run
 *   trains, times the steps the run has left — a warning when it exceeds a day.
 * The hard bounds on `epochs` and `batchSize` are in the schema (`maximum`), so the validator
 * refuses them with a located message that names the bound.
 * Used by `distill check` (and so by Problems in the editor, which runs it on save) and at the start
 * of a run (logged as warnings before the first step).
 */
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig, TrainingConfig } from '../../config/types';
import type { JsonPath } from '../../config/errors';
import type { Dataset, PreparedData } from '../data';
import { gather } from '../data';
import { modelInputShape, outputWidth } from './evaluate';
import type { JobState } from '../../runs/store';
import { stepsPerEpoch } from './train';
import { withSeededRandom } from './random';
import { dataFreeJobSize } from './dataFreeJobs';

/** Estimated training times above this many seconds are warned about. */
export const DAY_SECONDS = 24 * 3600;

export interface BudgetWarning {
  /** Where the warning belongs in the experiment file. */
  path: JsonPath;
  message: string;
}

/** The training settings of a job: the teacher's own `train` for the teacher job, else `training`. */
export function jobTraining(config: ExperimentConfig, job: JobState): TrainingConfig {
  return job.kind === 'teacher' && config.teacher?.train ? config.teacher.train : config.training;
}

/** `batchSize` larger than the training split, for `training` and the teacher's `train`. */
export function batchSizeWarnings(config: ExperimentConfig, trainSize: number): BudgetWarning[] {
  const out: BudgetWarning[] = [];
  const check = (training: TrainingConfig | undefined, path: JsonPath) => {
    if (!training || training.batchSize <= trainSize) return;
    out.push({
      path: [...path, 'batchSize'],
      message: `batchSize ${training.batchSize} exceeds the training split (${trainSize} samples): every epoch is a single step ` +
        `of ${trainSize} samples (set batchSize to at most ${trainSize}, e.g. ${Math.max(1, Math.min(64, trainSize))})`,
    });
  };
  if (config.teacher?.train && config.scheme.kind !== 'online') check(config.teacher.train, ['teacher', 'train']);
  check(config.training, ['training']);
  return out;
}

/** The architectures one optimizer step of a job trains (online: every peer). */
function jobModels(config: ExperimentConfig, job: JobState): string[] {
  if (job.kind === 'online' && config.scheme.kind === 'online') {
    return ['teacher', ...Array.from({ length: config.scheme.peers - 1 }, () => job.model ?? 'student')];
  }
  return [job.model ?? 'student'];
}

/** Optimizer steps a run has left per architecture-and-batch-size (`<model>|<batchSize>`). */
export function remainingSteps(config: ExperimentConfig, jobs: Record<string, JobState>, trainSize: number): Map<string, number> {
  const steps = new Map<string, number>();
  for (const j of Object.values(jobs)) {
    if (j.status === 'completed') continue;
    const training = jobTraining(config, j);
    const df = dataFreeJobSize(config, j); // issue 18: synthesis iterations, or the synthesised split's rows
    const n = Math.max(0, j.epochs - j.completedEpochs) * (df ? Math.ceil(df.rowsPerEpoch / training.batchSize) : stepsPerEpoch(trainSize, training));
    for (const m of jobModels(config, j)) {
      const key = `${m}|${df ? df.batchSize : Math.min(training.batchSize, trainSize)}`;
      steps.set(key, (steps.get(key) ?? 0) + n);
    }
  }
  return steps;
}

export interface DurationEstimate {
  /** Estimated seconds of optimizer steps (evaluation and checkpoints not included). */
  seconds: number;
  steps: number;
  /** Per architecture-and-batch-size: steps left and measured seconds per step. */
  parts: { model: string; batchSize: number; steps: number; secondsPerStep: number }[];
}

/** Σ steps × measured seconds per step (pure: the measurement is given). */
export function estimateDuration(steps: Map<string, number>, secondsPerStep: (model: string, batchSize: number) => number): DurationEstimate {
  const parts: DurationEstimate['parts'] = [];
  for (const [key, n] of steps) {
    const [model, b] = key.split('|');
    parts.push({ model, batchSize: Number(b), steps: n, secondsPerStep: secondsPerStep(model, Number(b)) });
  }
  return {
    seconds: parts.reduce((a, p) => a + p.steps * p.secondsPerStep, 0),
    steps: parts.reduce((a, p) => a + p.steps, 0),
    parts,
  };
}

/** `3.2 days`, `5 h 12 min`, `4 min 10 s`, `12 s`. */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'forever';
  if (seconds >= DAY_SECONDS) return `${(seconds / DAY_SECONDS).toFixed(1)} days`;
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return seconds < 1 ? 'under 1 s' : `${s} s`;
}

/** The estimate as one line, e.g. `estimated training time 3.2 days: 1200000 steps (student 2.31 ms/step, …)`. */
export function describeEstimate(e: DurationEstimate, label: (model: string) => string): string {
  const parts = e.parts.map((p) => `${p.steps} steps of the ${label(p.model)} at ${(p.secondsPerStep * 1000).toFixed(2)} ms`);
  return `estimated training time ${humanDuration(e.seconds)} (${parts.join(', ')}; measured over ${MEASURED_STEPS} steps; ` +
    'evaluation and teacher passes not included)';
}

/** The warning for an estimate over a day, located at `training.epochs`; undefined when it is under. */
export function durationWarning(e: DurationEstimate, label: (model: string) => string): BudgetWarning | undefined {
  if (e.seconds <= DAY_SECONDS) return undefined;
  return {
    path: ['training', 'epochs'],
    message: `${describeEstimate(e, label)}: more than a day — lower training.epochs (or set training.stepsPerEpoch), ` +
      'or check that this is the budget you meant',
  };
}

/** Optimizer steps timed per architecture (after one untimed warm-up step). */
export const MEASURED_STEPS = 3;

/**
 * Seconds per optimizer step of `model` on a batch of `batchSize` rows of the training split
 * (cross-entropy, Adam), the median of MEASURED_STEPS steps after a warm-up step. The model is
 * trained: give a throwaway copy. Math.random is seeded meanwhile, so dropout draws leave no trace.
 */
export async function measureStepSeconds(model: tf.LayersModel, train: Dataset, dataShape: number[], batchSize: number, who: string): Promise<number> {
  const inputShape = modelInputShape(model, dataShape, who);
  const n = Math.max(1, Math.min(batchSize, train.size));
  const { x, y } = gather(train, Int32Array.from({ length: n }, (_, i) => i));
  const width = outputWidth(model);
  const xs = tf.tensor(x, [n, ...inputShape]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from(y, (v) => Math.min(v, width - 1)), 'int32'), width));
  const optimizer = tf.train.adam(1e-3);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  try {
    return await withSeededRandom(1, () => {
      const times: number[] = [];
      for (let i = 0; i <= MEASURED_STEPS; i++) {
        const t0 = performance.now();
        const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar,
          true, variables);
        cost?.dataSync();
        cost?.dispose();
        if (i > 0) times.push((performance.now() - t0) / 1000);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)];
    });
  } finally {
    tf.dispose([xs, ys]);
    optimizer.dispose();
  }
}

/**
 * Measures a step of every architecture the remaining jobs train (each built afresh by `build`,
 * then disposed) and estimates the run's training time.
 */
export async function measureAndEstimate(config: ExperimentConfig, jobs: Record<string, JobState>, data: PreparedData,
  build: (model: string) => Promise<tf.LayersModel>, label: (model: string) => string): Promise<DurationEstimate | undefined> {
  const steps = remainingSteps(config, jobs, data.train.size);
  if (steps.size === 0 || data.train.size === 0) return undefined;
  const measured = new Map<string, number>();
  for (const key of steps.keys()) {
    const [model, b] = key.split('|');
    const m = await build(model);
    try {
      measured.set(key, await measureStepSeconds(m, data.train, data.shape, Number(b), label(model)));
    } finally {
      m.dispose();
    }
  }
  return estimateDuration(steps, (model, b) => measured.get(`${model}|${b}`) ?? 0);
}

/**
 * What a run says about its budget before its first step: a batchSize beyond the training split
 * (warn), the estimated training time of the steps left (info, or warn past a day).
 */
export async function runBudgetMessages(config: ExperimentConfig, jobs: Record<string, JobState>, data: PreparedData,
  build: (model: string) => Promise<tf.LayersModel>, label: (model: string) => string): Promise<{ level: 'info' | 'warn'; message: string }[]> {
  const out: { level: 'info' | 'warn'; message: string }[] = batchSizeWarnings(config, data.train.size)
    .map((w) => ({ level: 'warn', message: `${w.path.join('.')}: ${w.message}` }));
  let estimate: DurationEstimate | undefined;
  try {
    estimate = await measureAndEstimate(config, jobs, data, build, label);
  } catch (e) {
    // A step that cannot be timed (memory, a model the probe cannot train) fails where the job trains, not here.
    out.push({ level: 'info', message: `training time not estimated: ${(e as Error).message}` });
  }
  if (estimate) {
    const long = durationWarning(estimate, label);
    out.push(long ? { level: 'warn', message: `${long.path.join('.')}: ${long.message}` } : { level: 'info', message: describeEstimate(estimate, label) });
  }
  return out;
}

/**
 * The training loop of one job (the teacher, a scratch student or a distilled student): batches,
 * loss terms, optimizer steps, per-step and per-epoch metrics, checkpoints, stop and resume.
 * It yields to the event loop every step, so a `stop` message is seen within one step.
 *
 * When the learner asks for it (`prefetch`), the next step's batch is built before the current
 * step's compute and handed over, so its teacher forward pass (in the teacher thread) overlaps the
 * student's step. Building ahead changes no value: augmentation draws are taken from where they
 * would have been drawn in step order (see `RandomStream`).
 */
import { seedFor } from './seeds';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig, OptimizerConfig } from '../../config/types';
import type { EngineToHost } from '../../protocol/engine';
import type { PreparedData } from '../data';
import { batchIndices, gather, hashSeed, makeRng } from '../data';
import { augmentBatch } from '../data/augment';
import { evaluateModel } from './evaluate';
import type { JobKind, MetricsLog } from '../../runs/store';
import { updateRun } from '../../runs/store';
import type { LoopState } from '../runs/checkpoints';
import { latestCheckpoint, offsetAfter, pruneCheckpoints, restoreExtras, restoreModelWeights, restoreOptimizer, saveCheckpoint } from '../runs/checkpoints';
import { RandomStream } from './random';
import { holdPoint } from './faults';
import { FusedAdamOptimizer } from '../backend';
import { learningRateAt, setLearningRate } from './schedule';

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

export function makeOptimizer(cfg: OptimizerConfig): tf.Optimizer {
  switch (cfg.kind) {
    case 'adam': return new FusedAdamOptimizer(cfg.learningRate, 0.9, 0.999); // = tf.train.adam, one fused pass on wasm
    case 'sgd': return tf.train.sgd(cfg.learningRate);
    case 'momentum': return tf.train.momentum(cfg.learningRate, cfg.momentum ?? 0.9);
    case 'rmsprop': return tf.train.rmsprop(cfg.learningRate);
  }
}

/** Counts steps over the whole run, for samples/s and the ETA (measured from the first step). */
export class ProgressClock {
  private doneInSession = 0;
  private firstStepAt = 0;
  constructor(public totalSteps: number, public doneSteps: number) {}
  tick(): void {
    if (this.doneInSession === 0) this.firstStepAt = Date.now();
    this.doneSteps++;
    this.doneInSession++;
  }
  stepsPerSecond(): number {
    const s = (Date.now() - this.firstStepAt) / 1000;
    return this.doneInSession > 1 && s > 0 ? (this.doneInSession - 1) / s : 0;
  }
  etaSeconds(): number {
    const r = this.stepsPerSecond();
    return r > 0 ? Math.max(0, this.totalSteps - this.doneSteps) / r : 0;
  }
}

/** One batch's values on the host: rows of the training split, gathered (and augmented). */
export interface HostBatch {
  /** Inputs, [n, ...learner.inputShape] row-major. */
  x: Float32Array;
  y: Int32Array;
  /** Row indices of the batch in the training split. */
  idx: Int32Array;
}

/** One batch as tensors (disposed by the loop after the step), with its host values. */
export interface Batch extends HostBatch {
  xs: tf.Tensor;
  ys: tf.Tensor;
}

/** What one step's loss function returns (all tensors scalars except `logits`). */
export interface StepLoss {
  total: tf.Scalar;
  /** One value per name of `Learner.termNames`, unweighted. */
  terms: tf.Scalar[];
  /** Per term (same order), the loss of each of its pairs (see `Learner.pairLabels`). */
  pairs: tf.Scalar[][];
  /** Logits of the evaluated model, for the running training accuracy. */
  logits: tf.Tensor;
}

/**
 * What a job trains: the loop is the same for every scheme; a learner says which variables move
 * and how one batch's loss is computed (offline distillation, mutual learning, self-distillation).
 */
export interface Learner {
  /** The model evaluated every epoch, checkpointed as model.json and saved as the job's result. */
  model: tf.LayersModel;
  inputShape: number[];
  /** Every variable the optimizer updates (model, adapters, heads, peers). */
  variables: tf.Variable[];
  /** Further trained models checkpointed beside `model` (adapters, heads, peers), in a fixed order. */
  extras: tf.LayersModel[];
  /** Names of the logged terms (`total` is added by the loop). */
  termNames: string[];
  /** Per term name, the labels of its pairs (`teacherLayer→studentLayer`). */
  pairLabels: Record<string, string[]>;
  /**
   * The next step's batch, given before this step's compute so that work on it (the teacher's forward
   * pass in its thread) overlaps this step. `prepare` receives a Batch with the same `x` array when
   * that step comes — or never (a stop, or a batch built again): a prefetch may go unused.
   */
  prefetch?(batch: HostBatch): void;
  /** Runs outside the gradient tape before `loss` (e.g. the teacher's forward pass); may wait (for the teacher thread). */
  prepare?(batch: Batch): void | Promise<void>;
  /** Runs inside the gradient tape. `epoch` is 1-based (for schedules). */
  loss(batch: Batch, epoch: number): StepLoss;
  /** Disposes what `prepare` kept. */
  afterStep?(): void;
  /** Teacher logits of validation/test now (for agreement); fixed teachers may return cached ones. */
  evalTeacherLogits?(): { validation?: Float32Array; test: Float32Array } | undefined;
  /** Writes state kept outside the models' weights into them (crd's memory banks) before a checkpoint. */
  beforeCheckpoint?(): void;
  /** Learned values after a step (`ctkd.temperature`), logged in the step record's `params`. */
  stepParams?(): Record<string, number>;
  /** Further epoch-end figures (e.g. auxiliary heads' or peers' test accuracy). */
  epochExtras?(): Record<string, number>;
  /** Files saved beside the job's model in `models/<job>/` (issue 18: a qat job's `qat.json`). */
  resultFiles?(): Record<string, string>;
  dispose(): void;
}

export interface JobSpec {
  runDir: string;
  job: string;
  kind: JobKind;
  seed: number;
  learner: Learner;
  data: PreparedData;
  training: TrainingConfig;
  metrics: MetricsLog;
  clock: ProgressClock;
  emit: (msg: EngineToHost) => void;
  shouldStop: () => boolean;
  /** Random augmentation of the training batches (data.augment: shift, crop, flip). */
  augment?: { shift?: number; crop?: number; flip?: boolean };
}

/** Mid-epoch checkpoints when `training.checkpointEvery` is not given: a kill repeats at most about a minute. */
export const DEFAULT_CHECKPOINT_EVERY = { minutes: 1 } as const;

/** Whether a mid-epoch checkpoint is due, `steps` and `ms` after the last one. */
export function checkpointDue(every: { steps?: number; minutes?: number }, steps: number, ms: number): boolean {
  return (every.steps !== undefined && steps >= every.steps) || (every.minutes !== undefined && ms >= every.minutes * 60_000);
}

export function stepsPerEpoch(n: number, training: TrainingConfig): number {
  const full = Math.ceil(n / training.batchSize);
  return training.stepsPerEpoch ? Math.min(full, training.stepsPerEpoch) : full;
}

const PHASE: Record<JobKind, 'teacher' | 'scratch' | 'distill'> = { teacher: 'teacher', scratch: 'scratch', distill: 'distill', online: 'distill', self: 'distill', synthesize: 'teacher' };

/** Trains a job to its last epoch, continuing from its latest checkpoint when there is one. */
export async function trainJob(spec: JobSpec): Promise<'completed' | 'cancelled'> {
  const { runDir, job, learner, data, training, metrics, emit } = spec;
  const model = learner.model;
  const optimizer = makeOptimizer(training.optimizer);
  const steps = stepsPerEpoch(data.train.size, training);
  const rng = new RandomStream(seedFor(spec.seed, 'training'));

  let state: LoopState = { epoch: 1, step: 0, epochEnd: false, globalStep: 0, sums: {}, seen: 0, correct: 0, elapsedSeconds: 0 };
  const ckpt = latestCheckpoint(runDir, job);
  if (ckpt) {
    await restoreModelWeights(model, ckpt.dir);
    await restoreExtras(learner.extras, ckpt.dir);
    await restoreOptimizer(optimizer, ckpt.dir);
    state = ckpt.state.epochEnd
      ? { ...ckpt.state, epoch: ckpt.state.epoch + 1, step: 0, epochEnd: false, sums: {}, seen: 0, correct: 0 }
      : { ...ckpt.state };
    // The random stream goes on from where the checkpoint left it: the same dropout masks and
    // augmentations as a run that was never interrupted.
    if (ckpt.state.random !== undefined) rng.skip(ckpt.state.random);
    emit({ type: 'log', level: 'info', message: `${job}: resuming at epoch ${state.epoch}, step ${state.step} from ${path.relative(runDir, ckpt.dir)}` +
      (ckpt.state.random === undefined ? ' (a checkpoint without the random stream\'s position: dropout and augmentation draw anew)' : '') });
  }
  if (ckpt || metrics.hasRecordsOf(job)) {
    // What an interrupted attempt logged past the checkpoint is superseded by what follows.
    const supersedes = ckpt ? ckpt.state.metricsOffset ?? offsetAfter(runDir, job, ckpt.state) : 0;
    metrics.append({ type: 'resume', job, epoch: state.epoch, step: state.step, supersedes, t: new Date().toISOString() });
  }
  pruneCheckpoints(runDir, job);
  const every = training.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  let lastSaved = { globalStep: state.globalStep, at: Date.now() };
  /** Writes a checkpoint of where the loop stands (random stream and metrics length included). */
  const checkpoint = async (): Promise<string> => {
    state.random = rng.position;
    state.metricsOffset = metrics.size;
    learner.beforeCheckpoint?.();
    const dir = await saveCheckpoint(runDir, job, state, model, optimizer, learner.extras);
    pruneCheckpoints(runDir, job);
    lastSaved = { globalStep: state.globalStep, at: Date.now() };
    emit({ type: 'checkpoint', job, epoch: state.epoch, path: dir });
    return dir;
  };

  const origRandom = Math.random;
  Math.random = rng.next; // dropout and other stochastic layers draw from the job's seeded generator
  // Values drawn between one batch's augmentation and the next one's (a step's dropout), as last
  // measured: a batch built ahead takes its augmentation from that far on.
  let drawsPerStep = 0;
  try {
    for (; state.epoch <= training.epochs; state = { ...state, epoch: state.epoch + 1, step: 0, sums: {}, seen: 0, correct: 0 }) {
      const epochStart = Date.now();
      const order = batchIndices(data.train.size, training.batchSize, spec.seed, state.epoch);
      let lastProgress = 0;
      let ahead: AheadBatch | undefined;
      let lastBuiltAt: number | undefined;
      for (; state.step < steps; ) {
        const idx = order[state.step];
        const t0 = Date.now();
        if (lastBuiltAt !== undefined) drawsPerStep = rng.position - lastBuiltAt;
        const batch = takeAhead(ahead, rng) ?? buildBatch(spec, idx, rng.next, state.epoch, state.step);
        lastBuiltAt = rng.position;
        ahead = learner.prefetch && state.step + 1 < steps ? buildAhead(spec, order[state.step + 1], rng, drawsPerStep, state.epoch, state.step + 1) : undefined;
        if (ahead) learner.prefetch!(ahead.batch);
        const lr = learningRateAt(training.optimizer, training.epochs, steps, state.globalStep);
        setLearningRate(optimizer, lr);
        const values = await trainStep(spec, optimizer, batch, state.epoch);
        state.step++;
        state.globalStep++;
        spec.clock.tick();
        const nonFinite = Object.entries(values.losses).find(([, v]) => !Number.isFinite(v));
        if (nonFinite) {
          throw new TrainingError(`${job}: loss term "${nonFinite[0]}" is ${nonFinite[1]} at epoch ${state.epoch}, step ${state.step} ` +
            `(global step ${state.globalStep}); the run stopped there. Lower the learning rate or check the inputs.`);
        }
        for (const [k, v] of Object.entries(values.losses)) state.sums[k] = (state.sums[k] ?? 0) + v * idx.length;
        state.seen += idx.length;
        state.correct += values.correct;
        state.elapsedSeconds += (Date.now() - t0) / 1000;

        if (state.step % training.logEvery === 0 || state.step === steps) {
          const params = learner.stepParams?.();
          metrics.append({
            type: 'step', job, epoch: state.epoch, step: state.step, globalStep: state.globalStep,
            losses: values.losses, ...(values.pairs ? { pairs: values.pairs } : {}),
            lr, ...(params && Object.keys(params).length ? { params } : {}), t: new Date().toISOString(),
          });
        }
        holdPoint('step', { job, epoch: state.epoch, step: state.step });
        if (state.step < steps && checkpointDue(every, state.globalStep - lastSaved.globalStep, Date.now() - lastSaved.at)) await checkpoint();
        const now = Date.now();
        if (now - lastProgress > 250 || state.step === steps) {
          lastProgress = now;
          emit({
            type: 'progress', job, phase: PHASE[spec.kind], epoch: state.epoch, epochs: training.epochs,
            step: state.step, steps, losses: values.losses,
            samplesPerSecond: spec.clock.stepsPerSecond() * Math.min(training.batchSize, data.train.size), etaSeconds: spec.clock.etaSeconds(),
          });
        }
        // Let IPC and signal handlers run: a stop request is honoured within one step.
        await new Promise((r) => setImmediate(r));
        if (spec.shouldStop() && state.step < steps) {
          await checkpoint();
          return 'cancelled';
        }
      }

      // Epoch end: evaluate, log, checkpoint.
      const losses: Record<string, number> = {};
      for (const [k, v] of Object.entries(state.sums)) losses[k] = v / Math.max(1, state.seen);
      const tl = learner.evalTeacherLogits?.();
      const val = data.validation ? evaluateModel(model, data.validation, learner.inputShape, tl?.validation) : undefined;
      holdPoint('eval', { job, epoch: state.epoch });
      const test = evaluateModel(model, data.test, learner.inputShape, tl?.test);
      const extras = learner.epochExtras?.() ?? {};
      const selectAcc = val ? val.acc : test.acc;
      if (!state.best || selectAcc > state.best.acc) state.best = { epoch: state.epoch, acc: selectAcc };
      const record = {
        type: 'epoch' as const, job, epoch: state.epoch, losses,
        trainAcc: state.correct / Math.max(1, state.seen),
        ...(val ? { valAcc: val.acc } : {}),
        testAcc: test.acc, testErrors: test.errors,
        ...(test.agreement !== undefined ? { agreement: test.agreement, klTeacher: test.klTeacher } : {}),
        ...(Object.keys(extras).length ? { extras } : {}),
        perClass: test.perClass,
        seconds: (Date.now() - epochStart) / 1000, t: new Date().toISOString(),
      };
      metrics.append(record);
      const { type: _t, job: _j, epoch: _e, losses: _l, t: _time, perClass: _pc, ...numbers } = record;
      const { extras: _x, ...plain } = numbers as typeof numbers & { extras?: Record<string, number> };
      emit({ type: 'epoch', job, epoch: state.epoch, metrics: { ...plain, ...prefixed('loss.', losses), ...extras } });
      state.step = steps;
      state.epochEnd = true;
      await checkpoint();
      state.epochEnd = false;
      const epochDone = state.epoch;
      updateRun(runDir, (r) => {
        r.jobs[job].completedEpochs = epochDone;
      });
      if (spec.shouldStop() && state.epoch < training.epochs) return 'cancelled';
    }
  } finally {
    Math.random = origRandom;
    optimizer.dispose();
  }
  return 'completed';
}

function prefixed(prefix: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v]));
}

/**
 * The rows of one batch, augmented: the jitter (shift) with values drawn from `random` (the job's
 * stream); crop and flip from a generator of their own seeded by (job seed, epoch, step), so a
 * resumed run crops and flips every remaining batch exactly as the uninterrupted run would.
 */
function buildBatch(spec: JobSpec, idx: Int32Array, random: () => number, epoch: number, step: number): HostBatch {
  const { x, y } = gather(spec.data.train, idx);
  const aug = spec.augment;
  if (aug?.shift) augmentBatch(x, idx.length, spec.data.shape, { shift: aug.shift }, random);
  if (aug && (aug.crop || aug.flip)) {
    augmentBatch(x, idx.length, spec.data.shape, { crop: aug.crop, flip: aug.flip }, makeRng(hashSeed(spec.seed, epoch, step, 0xc40f)));
  }
  return { x, y, idx };
}

/** The next step's batch, built early; its augmentation drew `draws` values from stream position `from`. */
interface AheadBatch {
  batch: HostBatch;
  from: number;
  draws: number;
}

/** Builds the next step's batch now, drawing as if the current step had drawn `skip` values first. */
function buildAhead(spec: JobSpec, idx: Int32Array, rng: RandomStream, skip: number, epoch: number, step: number): AheadBatch {
  const fork = rng.fork(skip);
  const from = fork.position;
  const batch = buildBatch(spec, idx, fork.next, epoch, step);
  return { batch, from, draws: fork.position - from };
}

/**
 * The batch built ahead, when its values are the ones building it now would give: it drew nothing,
 * or the stream is at the position it drew from (then the stream moves past its draws). Otherwise
 * undefined, and the batch is built again (its prefetch goes unused).
 */
function takeAhead(ahead: AheadBatch | undefined, rng: RandomStream): HostBatch | undefined {
  if (!ahead || (ahead.draws > 0 && rng.position !== ahead.from)) return undefined;
  rng.skip(ahead.draws);
  return ahead.batch;
}

/** One optimizer step on one batch; returns every term's value, the weighted total, pair losses and hits. */
async function trainStep(spec: JobSpec, optimizer: tf.Optimizer, host: HostBatch, epoch: number) {
  const { learner } = spec;
  const n = host.idx.length;
  let kept: tf.Tensor[] = [];
  let termTensors: tf.Scalar[] = [];
  let pairTensors: tf.Scalar[][] = [];
  let predTensor: tf.Tensor | undefined;
  const batch: Batch = { ...host, xs: tf.tensor(host.x, [n, ...learner.inputShape]), ys: tf.tensor1d(host.y, 'int32') };
  let totalTensor: tf.Tensor;
  try {
    await learner.prepare?.(batch);
    totalTensor = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = learner.loss(batch, epoch);
        predTensor = tf.keep(tf.argMax(out.logits, -1));
        termTensors = out.terms.map((t) => tf.keep(t));
        pairTensors = out.pairs.map((ps) => ps.map((p) => tf.keep(p)));
        return out.total;
      }, learner.variables);
      optimizer.applyGradients(grads);
      return value;
    });
  } finally {
    learner.afterStep?.();
    tf.dispose([batch.xs, batch.ys]);
  }
  kept = [totalTensor, predTensor!, ...termTensors, ...pairTensors.flat()];
  const losses: Record<string, number> = {};
  let pairs: Record<string, Record<string, number>> | undefined;
  learner.termNames.forEach((name, i) => {
    losses[name] = termTensors[i].dataSync()[0];
    const labels = learner.pairLabels[name];
    if (labels && labels.length > 1) {
      pairs ??= {};
      pairs[name] = Object.fromEntries(labels.map((l, k) => [l, pairTensors[i][k].dataSync()[0]]));
    } else if (labels && labels.length === 1) {
      pairs ??= {};
      pairs[name] = { [labels[0]]: losses[name] };
    }
  });
  losses.total = totalTensor.dataSync()[0];
  const pred = predTensor!.dataSync();
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === host.y[i]) correct++;
  tf.dispose(kept);
  return { losses, pairs, correct };
}

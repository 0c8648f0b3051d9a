/**
 * The training loop of one job (the teacher, a scratch student or a distilled student): batches,
 * loss terms, optimizer steps, per-step and per-epoch metrics, checkpoints, stop and resume.
 * It yields to the event loop every step, so a `stop` message is seen within one step.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig, OptimizerConfig } from '../config/types';
import type { EngineToHost } from '../protocol/engine';
import type { PreparedData } from './data';
import { batchIndices, gather } from './data';
import type { LossTerm } from './losses/registry';
import { evaluateModel } from './evaluate';
import type { JobKind, MetricsLog } from './runs/store';
import { updateRun } from './runs/store';
import type { LoopState } from './runs/checkpoints';
import { latestCheckpoint, restoreModelWeights, restoreOptimizer, saveCheckpoint } from './runs/checkpoints';
import { mulberry32 } from './random';

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

export function makeOptimizer(cfg: OptimizerConfig): tf.Optimizer {
  switch (cfg.kind) {
    case 'adam': return tf.train.adam(cfg.learningRate);
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

export interface JobSpec {
  runDir: string;
  job: string;
  kind: JobKind;
  seed: number;
  model: tf.LayersModel;
  inputShape: number[];
  data: PreparedData;
  training: TrainingConfig;
  terms: LossTerm[];
  /** The teacher's logits of the training split, for the distillation terms (offline: computed once, reused). */
  teacherLogits?: { train: Float32Array };
  /** The teacher's logits of validation / test, to measure agreement with it. */
  evalTeacherLogits?: { validation?: Float32Array; test: Float32Array };
  metrics: MetricsLog;
  clock: ProgressClock;
  emit: (msg: EngineToHost) => void;
  shouldStop: () => boolean;
}

export function stepsPerEpoch(n: number, training: TrainingConfig): number {
  const full = Math.ceil(n / training.batchSize);
  return training.stepsPerEpoch ? Math.min(full, training.stepsPerEpoch) : full;
}

const PHASE: Record<JobKind, 'teacher' | 'scratch' | 'distill'> = { teacher: 'teacher', scratch: 'scratch', distill: 'distill' };

/** Trains a job to its last epoch, continuing from its latest checkpoint when there is one. */
export async function trainJob(spec: JobSpec): Promise<'completed' | 'cancelled'> {
  const { runDir, job, model, data, training, metrics, emit } = spec;
  const optimizer = makeOptimizer(training.optimizer);
  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const steps = stepsPerEpoch(data.train.size, training);
  const c = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const rng = mulberry32(spec.seed * 7919 + 17);

  let state: LoopState = { epoch: 1, step: 0, epochEnd: false, globalStep: 0, sums: {}, seen: 0, correct: 0, elapsedSeconds: 0 };
  const ckpt = latestCheckpoint(runDir, job);
  if (ckpt) {
    await restoreModelWeights(model, ckpt.dir);
    await restoreOptimizer(optimizer, ckpt.dir);
    state = ckpt.state.epochEnd
      ? { ...ckpt.state, epoch: ckpt.state.epoch + 1, step: 0, epochEnd: false, sums: {}, seen: 0, correct: 0 }
      : { ...ckpt.state };
    emit({ type: 'log', level: 'info', message: `${job}: resuming at epoch ${state.epoch}, step ${state.step} from ${path.relative(runDir, ckpt.dir)}` });
  }

  const origRandom = Math.random;
  Math.random = rng; // dropout and other stochastic layers draw from the job's seeded generator
  try {
    for (; state.epoch <= training.epochs; state = { ...state, epoch: state.epoch + 1, step: 0, sums: {}, seen: 0, correct: 0 }) {
      const epochStart = Date.now();
      const order = batchIndices(data.train.size, training.batchSize, spec.seed, state.epoch);
      let lastProgress = 0;
      for (; state.step < steps; ) {
        const idx = order[state.step];
        const t0 = Date.now();
        const values = trainStep(spec, optimizer, varList, idx, c);
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
          metrics.append({
            type: 'step', job, epoch: state.epoch, step: state.step, globalStep: state.globalStep,
            losses: values.losses, lr: training.optimizer.learningRate, t: new Date().toISOString(),
          });
        }
        const now = Date.now();
        if (now - lastProgress > 250 || state.step === steps) {
          lastProgress = now;
          emit({
            type: 'progress', job, phase: PHASE[spec.kind], epoch: state.epoch, epochs: training.epochs,
            step: state.step, steps, losses: values.losses,
            samplesPerSecond: spec.clock.stepsPerSecond() * training.batchSize, etaSeconds: spec.clock.etaSeconds(),
          });
        }
        // Let IPC and signal handlers run: a stop request is honoured within one step.
        await new Promise((r) => setImmediate(r));
        if (spec.shouldStop() && state.step < steps) {
          const dir = await saveCheckpoint(runDir, job, state, model, optimizer);
          emit({ type: 'checkpoint', job, epoch: state.epoch, path: dir });
          return 'cancelled';
        }
      }

      // Epoch end: evaluate, log, checkpoint.
      const losses: Record<string, number> = {};
      for (const [k, v] of Object.entries(state.sums)) losses[k] = v / Math.max(1, state.seen);
      const tl = spec.evalTeacherLogits;
      const val = data.validation ? evaluateModel(model, data.validation, spec.inputShape, tl?.validation) : undefined;
      const test = evaluateModel(model, data.test, spec.inputShape, tl?.test);
      const selectAcc = val ? val.acc : test.acc;
      if (!state.best || selectAcc > state.best.acc) state.best = { epoch: state.epoch, acc: selectAcc };
      const record = {
        type: 'epoch' as const, job, epoch: state.epoch, losses,
        trainAcc: state.correct / Math.max(1, state.seen),
        ...(val ? { valAcc: val.acc } : {}),
        testAcc: test.acc, testErrors: test.errors,
        ...(test.agreement !== undefined ? { agreement: test.agreement, klTeacher: test.klTeacher } : {}),
        seconds: (Date.now() - epochStart) / 1000, t: new Date().toISOString(),
      };
      metrics.append(record);
      const { type: _t, job: _j, epoch: _e, losses: _l, t: _time, ...numbers } = record;
      emit({ type: 'epoch', job, epoch: state.epoch, metrics: { ...numbers, ...prefixed('loss.', losses) } });
      state.step = steps;
      state.epochEnd = true;
      const dir = await saveCheckpoint(runDir, job, state, model, optimizer);
      state.epochEnd = false;
      emit({ type: 'checkpoint', job, epoch: state.epoch, path: dir });
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

/** One optimizer step on one batch; returns every term's value, the weighted total and the hits. */
function trainStep(spec: JobSpec, optimizer: tf.Optimizer, varList: tf.Variable[], idx: Int32Array, c: number) {
  const { x, y } = gather(spec.data.train, idx);
  const n = idx.length;
  const termTensors: tf.Scalar[] = [];
  let predTensor: tf.Tensor | undefined;
  const teacherRows = spec.teacherLogits ? gatherRows(spec.teacherLogits.train, idx, c) : undefined;
  const totalTensor = tf.tidy(() => {
    const xs = tf.tensor(x, [n, ...spec.inputShape]);
    const ys = tf.tensor1d(y, 'int32');
    const zt = teacherRows ? tf.tensor2d(teacherRows, [n, c]) : undefined;
    const { value, grads } = tf.variableGrads(() => {
      const zs = spec.model.apply(xs, { training: true }) as tf.Tensor;
      predTensor = tf.keep(tf.argMax(zs, -1));
      let total: tf.Scalar = tf.scalar(0);
      for (const term of spec.terms) {
        const v = term.compute({ studentLogits: zs, teacherLogits: zt, labels: ys });
        termTensors.push(tf.keep(v));
        total = tf.add(total, tf.mul(v, term.weight));
      }
      return total;
    }, varList);
    optimizer.applyGradients(grads);
    return value;
  });
  const losses: Record<string, number> = {};
  spec.terms.forEach((t, i) => {
    losses[t.name] = termTensors[i].dataSync()[0];
  });
  losses.total = totalTensor.dataSync()[0];
  const pred = predTensor!.dataSync();
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === y[i]) correct++;
  tf.dispose([totalTensor, predTensor!, ...termTensors]);
  return { losses, correct };
}

function gatherRows(all: Float32Array, idx: Int32Array, c: number): Float32Array {
  const out = new Float32Array(idx.length * c);
  for (let i = 0; i < idx.length; i++) out.set(all.subarray(idx[i] * c, idx[i] * c + c), i * c);
  return out;
}

/**
 * Quantisation-aware distillation in the TF.js engine (issue 18, `student.quantize.aware`; Polino
 * et al. 2018): the `qat-s<seed>` jobs and their learner.
 *
 * - Planning (`planQatJobs`): per seed, after the seed's final distilled student (`distill-s<seed>`;
 *   born-again: its last generation), one job `qat-s<seed>` — kind distill, model student, the same
 *   teacher, final false, `quantize: {bits, activations}` (src/runs/store.ts).
 * - Learning (`withFakeQuant`): the distill learner of that job (same terms and teacher) with the
 *   student's layers fake-quantised (src/engine/models/fakeQuant.ts): kernels through ŵ with a
 *   straight-through gradient, optionally activations with EMA ranges. The loop's epoch-end
 *   evaluation calls the same model, so a qat job's test accuracy is the fake-quantised one.
 * - State: the activation ranges are training state. They are kept in a small extra model (one
 *   weight [1, 2L]: the L layers' min then max, NaN before the first training pass), written
 *   before every checkpoint and read back after a resume, so a killed qat job resumes exactly.
 *   The job's result folder (`models/qat-s<seed>/`) holds the float weights w and `qat.json`
 *   ({bits, activations, ranges}) from which the export makes `student/int<bits>-qat/`.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../config/types';
import type { JobState } from '../../runs/store';
import type { ActivationRange } from '../models/fakeQuant';
import { FakeQuantizer } from '../models/fakeQuant';
import type { JobLearner } from '../schemes/learners';

/** `models/<job>/qat.json`: how a qat job's model is to be quantised. */
export interface QatFile {
  bits: 8 | 4;
  activations: boolean;
  /** Activation ranges by layer (with `activations`), as at the job's end. */
  ranges?: Record<string, ActivationRange>;
}

export const QAT_FILE = 'qat.json';

/** Adds `qat-s<seed>` after each seed's final distilled student when `student.quantize.aware` (insertion order = run order). */
export function planQatJobs(config: ExperimentConfig, jobs: Record<string, JobState>): Record<string, JobState> {
  const q = config.student.quantize;
  if (!q?.aware) return jobs;
  const out: Record<string, JobState> = {};
  for (const [id, state] of Object.entries(jobs)) {
    out[id] = state;
    if (state.kind === 'distill' && state.final && (state.model ?? 'student') === 'student') {
      out[`qat-s${state.seed}`] = {
        kind: 'distill', seed: state.seed, model: 'student', teacher: state.teacher, final: false,
        quantize: { bits: q.bits, activations: q.activations },
        status: 'pending', epochs: state.epochs, completedEpochs: 0,
      };
    }
  }
  return out;
}

/** The qat jobs of a run, in order. */
export function qatJobs(jobs: Record<string, JobState>): string[] {
  return Object.entries(jobs).filter(([, s]) => s.quantize !== undefined).map(([id]) => id);
}

/** The learner of a qat job: `built` (its distill learner) with the student fake-quantised. */
export function withFakeQuant(built: JobLearner, state: JobState, job: string): JobLearner {
  const q = state.quantize;
  if (!q) return built;
  const inner = built.learner;
  const fq = new FakeQuantizer(inner.model, { bits: q.bits, activations: q.activations });
  const names = fq.layerNames;
  // The activation ranges' checkpointed copy (see the file comment); not among the trained variables.
  const rangesModel = q.activations ? rangeHolder(names.length, job) : undefined;
  let synced = false;
  /** After construction and after a checkpoint's restore (restoreExtras runs before the first pass): ranges from the holder. */
  const sync = (): void => {
    if (synced || !rangesModel) return;
    synced = true;
    const v = rangesModel.getWeights()[0].dataSync();
    const ranges: Record<string, ActivationRange> = {};
    names.forEach((n, i) => {
      if (!Number.isNaN(v[i]) && !Number.isNaN(v[names.length + i])) ranges[n] = { min: v[i], max: v[names.length + i] };
    });
    fq.setRanges(ranges);
  };
  const write = (): void => {
    if (!rangesModel) return;
    const r = fq.getRanges();
    const vals = new Float32Array(2 * names.length).fill(NaN);
    names.forEach((n, i) => {
      if (r[n]) {
        vals[i] = r[n].min;
        vals[names.length + i] = r[n].max;
      }
    });
    tf.tidy(() => rangesModel.layers[0].setWeights([tf.tensor2d(vals, [1, 2 * names.length])]));
  };
  const learner = {
    ...inner,
    extras: rangesModel ? [...inner.extras, rangesModel] : inner.extras,
    loss: (batch: Parameters<typeof inner.loss>[0], epoch: number) => {
      sync();
      return inner.loss(batch, epoch);
    },
    evalTeacherLogits: () => {
      sync();
      return inner.evalTeacherLogits?.();
    },
    beforeCheckpoint: () => {
      inner.beforeCheckpoint?.();
      sync();
      write();
    },
    resultFiles: (): Record<string, string> => {
      sync();
      const file: QatFile = { bits: q.bits, activations: q.activations, ...(q.activations ? { ranges: fq.getRanges() } : {}) };
      return { [QAT_FILE]: JSON.stringify(file, null, 2) };
    },
    dispose: () => {
      fq.restore();
      rangesModel?.dispose();
      inner.dispose();
    },
  };
  return { ...built, learner };
}

function rangeHolder(layers: number, job: string): tf.LayersModel {
  const m = tf.sequential({ name: `qat_ranges_${job.replace(/[^A-Za-z0-9_]/g, '_')}` });
  m.add(tf.layers.dense({ inputShape: [1], units: 2 * layers, useBias: false, trainable: false, kernelInitializer: 'zeros' }));
  tf.tidy(() => m.layers[0].setWeights([tf.fill([1, 2 * layers], NaN)]));
  return m;
}

/**
 * The `synthesize` job of a data-free run (issue 18): DeepInversion batch by batch into the run's
 * `synthesized/` folder (src/runs/synthesized.ts). A batch is the job's "epoch" (run.json
 * `completedEpochs` = batches written); its iterations are the steps. Metrics as src/runs/store.ts
 * says: step records (epoch = batch, step = iteration, losses total/bn/class/tv/l2[/competition])
 * every `training.logEvery` iterations and at the last, and one epoch record per batch (the last
 * iteration's losses, trainAcc = testAcc = the teacher's accuracy on the batch against its target
 * labels, testErrors its misses, extras synth.bnLoss / synth.bnLossStart). A stopped or killed
 * job resumes at the first batch without its `.json`: each batch's noise comes from (seed, batch
 * index) alone and the competition's student is rebuilt from the written batches, so the resumed
 * batches equal the uninterrupted ones, and the batches already written are left as they are.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig, TeacherSynthesizedSource } from '../../config/types';
import type { EngineToHost } from '../../protocol/engine';
import type { MetricsLog } from '../../runs/store';
import { updateRun } from '../../runs/store';
import { readSynthesizedInputs } from '../../runs/synthesized';
import type { SynthesizedMeta } from '../../runs/synthesized';
import type { Normalization } from '../data';
import { outputWidth } from '../training/evaluate';
import { mulberry32 } from '../training/random';
import { hashSeed } from '../data/rng';
import type { ProgressClock } from '../training/train';
import { bnTaps } from './bnStats';
import type { SynthesisSettings } from './deepInversion';
import { synthesizeBatch } from './deepInversion';
import { batchWritten, ensureSynthesizedMeta, writeSynthesizedBatch } from './synthesizedWriter';

/** The source with the contract's defaults filled in (the schema fills them too). */
export function synthesisSettings(src: TeacherSynthesizedSource): SynthesisSettings & { samples: number; studentSteps: number } {
  return {
    samples: src.samples, batchSize: src.batchSize ?? 128, iterations: src.iterations ?? 200, learningRate: src.learningRate ?? 0.1,
    bnWeight: src.bnWeight ?? 1, tvWeight: src.tvWeight ?? 1e-4, l2Weight: src.l2Weight ?? 1e-5, seed: src.seed ?? 0,
    jitter: src.jitter ?? 0, flip: src.flip ?? false,
    ...(src.competition ? { competition: { weight: src.competition.weight, temperature: src.competition.temperature } } : {}),
    studentSteps: src.competition?.studentSteps ?? 0,
  };
}

/** Number of synthesis batches of a data-free source. */
export function synthesisBatches(src: TeacherSynthesizedSource): number {
  return Math.ceil(src.samples / (src.batchSize ?? 128));
}

/** The clamp range of synthesised inputs: the normalised data's ([0, 1] with `scale`); none otherwise. */
export function synthesisRange(norm: Normalization): [number, number] | undefined {
  return norm.kind === 'scale' ? [0, 1] : undefined;
}

export interface SynthesizeJobSpec {
  runDir: string;
  job: string;
  config: ExperimentConfig;
  /** The fixed teacher (inference mode). */
  teacher: tf.LayersModel;
  /** One input's shape, channels last, and the normalisation of the real data. */
  shape: number[];
  /** The teacher's and the student's input shapes (a flat model on images reshapes each input). */
  teacherInputShape: number[];
  studentInputShape?: number[];
  normalization: Normalization;
  /** A fresh student from the first seed's initialisation (the competition term's copy). */
  makeStudent?: () => Promise<tf.LayersModel>;
  metrics: MetricsLog;
  clock?: ProgressClock;
  emit: (m: EngineToHost) => void;
  shouldStop: () => boolean;
}

/** Runs (or continues) the synthesis; 'cancelled' when a stop was asked between iterations. */
export async function runSynthesis(spec: SynthesizeJobSpec): Promise<'completed' | 'cancelled'> {
  const { runDir, job, config, metrics, emit } = spec;
  const src = config.data.train as TeacherSynthesizedSource;
  const s = synthesisSettings(src);
  const batches = synthesisBatches(src);
  const classes = outputWidth(spec.teacher);
  const meta: SynthesizedMeta = { version: 1, shape: [...spec.shape], classes, samples: s.samples, batchSize: s.batchSize, batches };
  ensureSynthesizedMeta(runDir, meta);
  let first = 1;
  while (first <= batches && batchWritten(runDir, first)) first++;
  if (first > batches) return 'completed';
  if (metrics.hasRecordsOf(job)) {
    metrics.append({ type: 'resume', job, epoch: first, step: 0, supersedes: firstRecordOffset(runDir, job, first) ?? metrics.size, t: new Date().toISOString() });
    emit({ type: 'log', level: 'info', message: `${job}: resuming at batch ${first} of ${batches} (batches 1–${first - 1} are written)` });
  }
  const taps = bnTaps(spec.teacher);
  const range = synthesisRange(spec.normalization);
  const logEvery = Math.max(1, config.training.logEvery ?? 10);
  let globalStep = (first - 1) * s.iterations;
  try {
    for (let k = first; k <= batches; k++) {
      if (spec.shouldStop()) return 'cancelled';
      const t0 = Date.now();
      const student = s.competition && k > 1 && spec.makeStudent ? await competitionStudent(spec, taps.model, s, k, meta) : undefined;
      let lastProgress = 0;
      let stopped = false;
      try {
        const r = await synthesizeBatch({
          taps, shape: spec.shape, inputShape: spec.teacherInputShape, studentInputShape: spec.studentInputShape, classes, samples: s.samples, index: k, settings: s, range, student,
          onIteration: async (it, losses) => {
            globalStep++;
            spec.clock?.tick();
            if (it % logEvery === 0 || it === s.iterations) {
              metrics.append({ type: 'step', job, epoch: k, step: it, globalStep, losses, lr: s.learningRate, t: new Date().toISOString() });
            }
            const now = Date.now();
            if (now - lastProgress > 250 || it === s.iterations) {
              lastProgress = now;
              const rate = spec.clock?.stepsPerSecond() ?? 0;
              emit({ type: 'progress', job, phase: 'teacher', epoch: k, epochs: batches, step: it, steps: s.iterations, losses,
                samplesPerSecond: rate * s.batchSize, etaSeconds: spec.clock?.etaSeconds() ?? 0 });
            }
            await new Promise((res) => setImmediate(res));
            if (spec.shouldStop()) stopped = true;
          },
          shouldStop: () => stopped,
        });
        if (r.stopped) return 'cancelled';
        const seconds = (Date.now() - t0) / 1000;
        writeSynthesizedBatch(runDir, k, r.x, {
          count: r.labels.length, labels: r.labels, bnLoss: r.bnLoss, classLoss: r.classLoss, teacherAcc: r.teacherAcc, seconds, curve: r.curve,
        });
        const extras = { 'synth.bnLoss': r.bnLoss.end, 'synth.bnLossStart': r.bnLoss.start };
        metrics.append({ type: 'epoch', job, epoch: k, losses: r.lastLosses, trainAcc: r.teacherAcc, testAcc: r.teacherAcc, testErrors: r.errors,
          extras, seconds, t: new Date().toISOString() });
        emit({ type: 'epoch', job, epoch: k, metrics: { trainAcc: r.teacherAcc, testAcc: r.teacherAcc, testErrors: r.errors, seconds,
          ...Object.fromEntries(Object.entries(r.lastLosses).map(([n, v]) => [`loss.${n}`, v])), ...extras } });
        updateRun(runDir, (run) => { run.jobs[job].completedEpochs = k; });
        emit({ type: 'log', level: 'info', message: `${job}: batch ${k}/${batches}: BN loss ${r.bnLoss.start.toFixed(3)} → ${r.bnLoss.end.toFixed(3)}, ` +
          `teacher accuracy on its target labels ${(r.teacherAcc * 100).toFixed(1)}%` });
      } finally {
        student?.dispose();
      }
    }
  } finally {
    taps.dispose();
  }
  return 'completed';
}

/**
 * Adaptive DeepInversion's student for batch k: a fresh copy (the first seed's initialisation)
 * distilled with KD at the competition's temperature (Adam 1e-3) for `studentSteps` steps, step j
 * on written batch (j mod (k − 1)) + 1 — the same student whenever batch k is made.
 */
async function competitionStudent(spec: SynthesizeJobSpec, teacherTaps: tf.LayersModel, s: ReturnType<typeof synthesisSettings>, k: number,
  meta: SynthesizedMeta): Promise<tf.LayersModel> {
  const student = await spec.makeStudent!();
  const T = s.competition!.temperature;
  const optimizer = tf.train.adam(1e-3);
  const cache = new Map<number, { x: tf.Tensor; p: tf.Tensor }>();
  // Dropout in the copy draws from a generator seeded by (seed, batch): the same copy on resume.
  const original = Math.random;
  Math.random = mulberry32(hashSeed(s.seed, k, 0xc0de));
  try {
    for (let j = 0; j < s.studentSteps; j++) {
      const b = (j % (k - 1)) + 1;
      if (!cache.has(b)) {
        const values = readSynthesizedInputs(spec.runDir, b, meta);
        const n = values.length / meta.shape.reduce((a, c) => a * c, 1);
        const x = tf.tensor(values, [n, ...(spec.studentInputShape ?? meta.shape)]);
        const p = tf.tidy(() => tf.softmax(((teacherTaps.apply(x.reshape([n, ...spec.teacherInputShape]), { training: false }) as tf.Tensor[])[0]).div(T)));
        cache.set(b, { x, p });
      }
      const { x, p } = cache.get(b)!;
      optimizer.minimize(() => {
        const logq = tf.logSoftmax((student.apply(x, { training: true }) as tf.Tensor).div(T));
        return p.mul(p.add(1e-12).log().sub(logq)).sum(1).mean().mul(T * T) as tf.Scalar;
      }, false);
    }
  } finally {
    Math.random = original;
    for (const { x, p } of cache.values()) { x.dispose(); p.dispose(); }
    optimizer.dispose();
  }
  return student;
}

/** Byte offset in metrics.jsonl of the first step/epoch record of `job` at batch ≥ `batch`. */
function firstRecordOffset(runDir: string, job: string, batch: number): number | undefined {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file);
  let offset = 0;
  let found: number | undefined;
  for (const line of text.toString('utf8').split('\n')) {
    const start = offset;
    offset += Buffer.byteLength(line) + 1;
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { type?: string; job?: string; epoch?: number };
      if (r.type === 'resume' && r.job === job) found = undefined; // a later timeline starts again
      else if ((r.type === 'step' || r.type === 'epoch') && r.job === job && (r.epoch ?? 0) >= batch && found === undefined) found = start;
    } catch {
      // a torn last line: nothing after it
    }
  }
  return found;
}


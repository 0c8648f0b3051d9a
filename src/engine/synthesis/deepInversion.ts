/**
 * DeepInversion (Yin et al. 2020): inputs synthesised from a trained teacher alone. A batch starts
 * as Gaussian noise x ~ N(0, 1), seeded by (seed, batch index) so that batch k never depends on
 * the batches before it, with target labels i mod classes over the whole sample index; Adam then
 * moves x for `iterations` steps to lower
 *
 *   total = bnWeight·bn + class + tvWeight·tv + l2Weight·l2 [+ competition]
 *
 *   bn     Σ over the teacher's BN layers of ‖μ − m‖₂ + ‖σ² − v‖₂ (bnStats.ts)
 *   class  cross-entropy of the teacher's logits against the target labels (batch mean)
 *   tv     images [N, H, W, C]: Σ over neighbouring pixels (down, right) of the squared
 *          difference, per input, batch mean (0 for vectors)
 *   l2     ‖x_i‖₂, batch mean
 *   competition (Adaptive DeepInversion, optional): weight·(1 − JS(p_t ‖ p_s)) at temperature T,
 *          batch mean, with p_s from a copy of the student distilled on the batches made so far
 *
 * With `jitter` / `flip` the teacher (and the competition's student) see each iteration's rolled
 * and possibly mirrored view of x (jitter.ts; the priors stay on x); the final figures are on x.
 *
 * After every step x is clamped to the range of the normalised data ([0, 1] with `scale`). The
 * teacher runs in inference mode throughout (moving statistics, no dropout).
 */
import * as tf from '@tensorflow/tfjs';
import { hashSeed, makeGaussian, makeRng } from '../data/rng';
import type { BnTaps } from './bnStats';
import type { TeacherSynthesizedSource } from '../../config/types';
import type { SynthesizedBatch } from '../../runs/synthesized';
import { bnStatisticsLoss } from './bnStats';
import type { JitterDraw } from './jitter';
import { jitterDraws, jitterView } from './jitter';

/** The source's optimisation fields (src/config/types.ts TeacherSynthesizedSource), defaults filled. */
export type SynthesisSettings = Pick<TeacherSynthesizedSource, 'batchSize' | 'iterations' | 'learningRate' | 'bnWeight' | 'tvWeight' | 'l2Weight' | 'seed' | 'jitter' | 'flip'>
  & { competition?: Omit<NonNullable<TeacherSynthesizedSource['competition']>, 'studentSteps'> };

/** One batch: what its .json records (src/runs/synthesized.ts SynthesizedBatch) and what the job needs besides. */
export interface BatchResult extends Omit<SynthesizedBatch, 'count' | 'seconds'> {
  /** [count, ...shape] row-major, the final (clamped) inputs. */
  x: Float32Array;
  /** Misses of the teacher against the target labels on the final inputs. */
  errors: number;
  /** The last iteration's terms (total, bn, class, tv, l2[, competition]). */
  lastLosses: Record<string, number>;
  /** A stop was asked mid-batch: nothing else here is meaningful (the batch is made again on resume). */
  stopped?: boolean;
}

/** Samples of batch `index` (1-based): count and first sample index. */
export function batchRange(index: number, samples: number, batchSize: number): { first: number; count: number } {
  const first = (index - 1) * batchSize;
  return { first, count: Math.max(0, Math.min(batchSize, samples - first)) };
}

/** Target labels of a batch: sample i → i mod classes. */
export function batchLabels(index: number, samples: number, batchSize: number, classes: number): number[] {
  const { first, count } = batchRange(index, samples, batchSize);
  return Array.from({ length: count }, (_, k) => (first + k) % classes);
}

/** Starting noise of a batch: N(0, 1) from a generator seeded by (seed, batch index) alone. */
export function startingNoise(seed: number, index: number, values: number): Float32Array {
  const gauss = makeGaussian(makeRng(hashSeed(seed, index, 0xd1ef)));
  const out = new Float32Array(values);
  for (let i = 0; i < values; i++) out[i] = gauss();
  return out;
}

/** Σ over neighbouring pixels of squared differences, per image, batch mean; 0 unless [N, H, W, C]. */
export function totalVariation(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    if (x.rank !== 4) return tf.scalar(0);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const dh = h > 1 ? tf.slice(x, [0, 1, 0, 0], [n, h - 1, w, c]).sub(tf.slice(x, [0, 0, 0, 0], [n, h - 1, w, c])).square().sum() : tf.scalar(0);
    const dw = w > 1 ? tf.slice(x, [0, 0, 1, 0], [n, h, w - 1, c]).sub(tf.slice(x, [0, 0, 0, 0], [n, h, w - 1, c])).square().sum() : tf.scalar(0);
    return dh.add(dw).div(n) as tf.Scalar;
  });
}

/** ‖x_i‖₂ over each input's values, batch mean. */
export function l2Prior(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => x.reshape([x.shape[0], -1]).square().sum(1).sqrt().mean() as tf.Scalar);
}

/** 1 − JS(softmax(t/T) ‖ softmax(s/T)), batch mean (natural log; JS ∈ [0, ln 2]). */
export function competitionTerm(teacherLogits: tf.Tensor, studentLogits: tf.Tensor, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.softmax(teacherLogits.div(temperature));
    const q = tf.softmax(studentLogits.div(temperature));
    const m = p.add(q).div(2);
    const eps = 1e-12;
    const kl = (a: tf.Tensor, b: tf.Tensor) => a.mul(a.add(eps).log().sub(b.add(eps).log())).sum(1);
    const js = kl(p, m).add(kl(q, m)).div(2);
    return tf.scalar(1).sub(js).mean() as tf.Scalar;
  });
}

export interface SynthesizeBatchOptions {
  taps: BnTaps;
  /** One input's shape, channels last (the data's: what is optimised, saved and regularised). */
  shape: number[];
  /** The teacher's input shape, when it differs from `shape` (e.g. a flat MLP on images); the student's likewise. */
  inputShape?: number[];
  studentInputShape?: number[];
  classes: number;
  samples: number;
  index: number;
  settings: SynthesisSettings;
  /** Clamp range after each step; none: unclamped. */
  range?: [number, number];
  /** The competition's student (already distilled on the earlier batches), in inference mode. */
  student?: tf.LayersModel;
  /** Called after each iteration (1-based) with its terms (total, bn, class, tv, l2[, competition]). */
  onIteration?: (iteration: number, losses: Record<string, number>) => void | Promise<void>;
  /** Asked after each iteration: true ends the batch unfinished (`stopped`). */
  shouldStop?: () => boolean;
}

/** Optimises one batch of inputs; returns them with their figures. */
export async function synthesizeBatch(o: SynthesizeBatchOptions): Promise<BatchResult> {
  const s = o.settings;
  const labels = batchLabels(o.index, o.samples, s.batchSize, o.classes);
  const n = labels.length;
  const per = o.shape.reduce((a, b) => a * b, 1);
  const init = tf.tensor(startingNoise(s.seed, o.index, n * per), [n, ...o.shape]);
  const x = tf.variable(init, true);
  init.dispose();
  const target = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), o.classes));
  const optimizer = tf.train.adam(s.learningRate);
  const curve: [number, number][] = [];
  let start = NaN;
  let lastLosses: Record<string, number> = {};
  try {
    const jittered = (s.jitter ?? 0) > 0 || Boolean(s.flip);
    const draws = jittered ? jitterDraws(s.seed, o.index, s.iterations, s.jitter ?? 0) : [];
    /** The terms on the current inputs: [total, bn, class, tv, l2, competition?, logits]; the networks see `draw`'s view. */
    const terms = (input: tf.Tensor, draw?: JitterDraw): { total: tf.Scalar; parts: Record<string, tf.Scalar>; logits: tf.Tensor } => {
      const n0 = input.shape[0];
      const seen = draw ? jitterView(input, draw, Boolean(s.flip)) : input;
      const outs = o.taps.model.apply(o.inputShape ? seen.reshape([n0, ...o.inputShape]) : seen, { training: false }) as tf.Tensor[];
      const logits = outs[0];
      const bn = bnStatisticsLoss(outs.slice(1), o.taps.layers);
      const cls = tf.losses.softmaxCrossEntropy(target, logits) as tf.Scalar;
      const tv = totalVariation(input);
      const l2 = l2Prior(input);
      let total = bn.mul(s.bnWeight).add(cls).add(tv.mul(s.tvWeight)).add(l2.mul(s.l2Weight)) as tf.Scalar;
      const parts: Record<string, tf.Scalar> = { bn, class: cls, tv, l2 };
      if (s.competition && o.student) {
        const sl = o.student.apply(o.studentInputShape ? seen.reshape([n0, ...o.studentInputShape]) : seen, { training: false }) as tf.Tensor;
        const comp = competitionTerm(logits, sl, s.competition.temperature);
        parts.competition = comp;
        total = total.add(comp.mul(s.competition.weight)) as tf.Scalar;
      }
      return { total, parts, logits };
    };
    for (let it = 1; it <= s.iterations; it++) {
      let kept: Record<string, tf.Scalar> = {};
      const cost = optimizer.minimize(() => {
        const t = terms(x, jittered ? draws[it - 1] : undefined);
        kept = Object.fromEntries(Object.entries({ total: t.total, ...t.parts }).map(([k, v]) => [k, tf.keep(v.clone())]));
        return t.total;
      }, true, [x]);
      cost?.dispose();
      const losses: Record<string, number> = {};
      for (const [k, v] of Object.entries(kept)) {
        losses[k] = (await v.data())[0];
        v.dispose();
      }
      if (o.range) {
        const [lo, hi] = o.range;
        tf.tidy(() => x.assign(tf.clipByValue(x, lo, hi)));
      }
      if (it === 1) start = losses.bn;
      lastLosses = losses;
      if (it % 10 === 0 || it === s.iterations) curve.push([it, losses.bn]);
      await o.onIteration?.(it, losses);
      if (o.shouldStop?.()) {
        return { x: new Float32Array(0), labels, bnLoss: { start, end: NaN }, classLoss: NaN, teacherAcc: 0, errors: 0, curve, lastLosses, stopped: true };
      }
    }
    // The figures of what is kept: the final inputs.
    const fin = tf.tidy(() => {
      const t = terms(x);
      return { bn: t.parts.bn.dataSync()[0], cls: t.parts.class.dataSync()[0], pred: t.logits.argMax(1).dataSync() as Int32Array };
    });
    let errors = 0;
    for (let i = 0; i < n; i++) if (fin.pred[i] !== labels[i]) errors++;
    if (s.iterations === 0) start = fin.bn;
    return {
      x: new Float32Array(x.dataSync() as Float32Array), labels, bnLoss: { start, end: fin.bn }, classLoss: fin.cls,
      teacherAcc: n ? (n - errors) / n : 0, errors, curve, lastLosses,
    };
  } finally {
    x.dispose();
    target.dispose();
    optimizer.dispose();
  }
}

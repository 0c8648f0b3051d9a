import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

export interface CtkdOptions {
  /** τ_min: the lowest temperature (the paper's t_start, 1). */
  minTemperature: number;
  /** τ_range: the temperature spans τ_min … τ_min + τ_range (the paper's t_end, 20). */
  temperatureRange: number;
  /** λ_max: the reversal weight reached at the end of the curriculum (the paper: 1). */
  maxReversal: number;
  /** E: epochs over which λ rises from 0 to λ_max along a half cosine (the paper: 10). */
  reversalEpochs: number;
}

/**
 * The reversal weight of (1-based) epoch e, the paper's cosine curriculum:
 *
 *   λ(e) = λ_max · (1 − cos(π · min(e, E) / E)) / 2
 *
 * (its code: CosineDecay(max 0, min −1, loops E), negated in the reversal layer), so the task
 * gets harder — the temperature fights the student harder — as training goes on.
 */
export function reversalWeight(epoch: number, o: Pick<CtkdOptions, 'maxReversal' | 'reversalEpochs'>): number {
  if (o.reversalEpochs <= 0) return o.maxReversal;
  return o.maxReversal * (1 - Math.cos(Math.PI * Math.min(Math.max(epoch, 0), o.reversalEpochs) / o.reversalEpochs)) / 2;
}

/**
 * θ₀ for a starting temperature τ₀ strictly inside (τ_min, τ_min + τ_range): logit((τ₀ − τ_min)/τ_range);
 * without one, the paper's θ₀ = 1 (τ₀ = τ_min + τ_range·sigmoid(1), 15.6 with its defaults).
 */
export function initialTheta(o: Pick<CtkdOptions, 'minTemperature' | 'temperatureRange'> & { initialTemperature?: number }): number {
  if (o.initialTemperature === undefined) return 1;
  const u = (o.initialTemperature - o.minTemperature) / o.temperatureRange;
  if (!(u > 0 && u < 1)) {
    throw new Error(`ctkd: initialTemperature ${o.initialTemperature} must lie strictly between minTemperature ${o.minTemperature} and minTemperature + temperatureRange ${o.minTemperature + o.temperatureRange}`);
  }
  return Math.log(u / (1 - u));
}

/** The temperature of the raw parameter θ: τ = τ_min + τ_range · sigmoid(θ). */
export function ctkdTemperature(theta: number, o: Pick<CtkdOptions, 'minTemperature' | 'temperatureRange'>): number {
  return o.minTemperature + o.temperatureRange / (1 + Math.exp(-theta));
}

/**
 * Gradient reversal (Ganin & Lempitsky 2015): the identity forward, −λ·dy backward. What is
 * upstream of it (the temperature's parameter) climbs the loss the rest descends.
 */
export function gradientReversal(x: tf.Tensor, lambda: number): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor) => ({ value: tf.clone(input), gradFunc: (dy: tf.Tensor) => tf.mul(dy, -lambda) })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

/**
 * CTKD, Li, Li, Yang, Cheng, Chen, Yang & Li, "Curriculum Temperature for Knowledge Distillation",
 * AAAI 2023 (its global temperature module). With a learnable scalar θ:
 *
 *   τ      = τ_min + τ_range · sigmoid(GRL_λ(θ))
 *   L_CTKD = τ² · (1/B) Σ_b KL(softmax(z_t/τ) ‖ softmax(z_s/τ))
 *
 * The student minimises L_CTKD; the gradient reversal layer GRL_λ makes θ *maximise* it with
 * weight λ (`reversalWeight`, a cosine curriculum from 0 to λ_max), so the temperature seeks the
 * hardest softening as the student grows able to take it. Forward, this is exactly `kdLoss` at τ.
 * Returns the loss and τ (a scalar tensor, for the per-step log).
 */
export function ctkdLoss(zs: tf.Tensor, zt: tf.Tensor, theta: tf.Tensor, lambda: number,
  o: Pick<CtkdOptions, 'minTemperature' | 'temperatureRange'>): { loss: tf.Scalar; temperature: tf.Scalar } {
  assertPairShapes('ctkd', zs.shape, zt.shape);
  if (!(o.minTemperature > 0) || !Number.isFinite(o.minTemperature)) throw new Error(`ctkd: minTemperature must be a positive number, found ${o.minTemperature}`);
  if (!(o.temperatureRange >= 0) || !Number.isFinite(o.temperatureRange)) throw new Error(`ctkd: temperatureRange must be a finite number ≥ 0, found ${o.temperatureRange}`);
  return tf.tidy(() => {
    const t = tf.add(o.minTemperature, tf.mul(o.temperatureRange, tf.sigmoid(gradientReversal(tf.reshape(theta, []), lambda)))) as tf.Scalar;
    const logPs = tf.logSoftmax(tf.div(zs, t));
    const logPt = tf.logSoftmax(tf.div(zt, t));
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
    return { loss: tf.mul(tf.mean(kl), tf.square(t)) as tf.Scalar, temperature: t };
  });
}

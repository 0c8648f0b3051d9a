import * as tf from '@tensorflow/tfjs';
import { assertPairShapes, formatShape } from '../../../methods/catalogue';
import { maybeStandardize } from './standardize';

export interface DkdOptions {
  /** Weight of the target-class term (TCKD); mdistiller's default is 1. */
  alpha: number;
  /** Weight of the non-target term (NCKD); mdistiller uses 8 on CIFAR-100, 0.5–2 on ImageNet. */
  beta: number;
  temperature: number;
  /** Logit standardisation (Sun et al. 2024): z-score each sample's logits before /T. */
  standardize?: boolean;
}

/** Subtracted from the target logit (after /T) to drop it from the non-target softmax, as mdistiller does. */
const MASK = 1000;

/**
 * Decoupled knowledge distillation, Zhao et al. CVPR 2022. With p = softmax(z/T) and y the label:
 *
 *   b      = [p_y, Σ_{c≠y} p_c]                          binary target / non-target probabilities
 *   p̂_c    = exp(z_c/T) / Σ_{k≠y} exp(z_k/T),  c ≠ y      the non-target classes, renormalised
 *   TCKD   = KL(b_t ‖ b_s),   NCKD = KL(p̂_t ‖ p̂_s)
 *   L_DKD  = T² · (1/B) Σ_b (α·TCKD + β·NCKD)
 *
 * Classic KD is TCKD + (1 − p_t,y)·NCKD; DKD frees the NCKD weight from the teacher's confidence.
 * Everything is computed in log space: log b_target = z_y/T − lse(z/T), log b_non-target =
 * lse(z/T − 1000·onehot(y)) − lse(z/T), and p̂ = softmax(z/T − 1000·onehot(y)), so the target
 * entry of p̂ underflows to exactly 0 and no log(0) appears (mdistiller's masking).
 *
 * `labels`: integer class indices [B] (int32, or float holding integers).
 */
export function dkdLoss(zs: tf.Tensor, zt: tf.Tensor, labels: tf.Tensor, opts: DkdOptions): tf.Scalar {
  assertPairShapes('dkd', zs.shape, zt.shape);
  const [batch, classes] = zs.shape as [number, number];
  if (classes < 2) throw new Error(`dkd: needs at least 2 classes, found ${classes} ${formatShape(zs.shape)}`);
  if (labels.rank !== 1 || labels.shape[0] !== batch) {
    throw new Error(`dkd: expected labels of shape [${batch}], found ${formatShape(labels.shape)}`);
  }
  for (const v of labels.dataSync()) {
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new Error(`dkd: label ${v} is not a class index in 0..${classes - 1}`);
  }
  const { alpha, beta, temperature: T } = opts;
  if (!(T > 0) || !Number.isFinite(T)) throw new Error(`dkd: temperature must be a positive number, found ${T}`);
  return tf.tidy(() => {
    const gt = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, classes).toFloat();
    const mask = tf.mul(gt, MASK);
    const parts = (z: tf.Tensor) => {
      const x = tf.div(z, T);
      const lse = tf.logSumExp(x, -1, true);
      const xNonTarget = tf.sub(x, mask);
      const lseNonTarget = tf.logSumExp(xNonTarget, -1, true);
      const logBinary = tf.sub(tf.concat([tf.sum(tf.mul(gt, x), -1, true), lseNonTarget], 1), lse);
      const logNonTarget = tf.sub(xNonTarget, lseNonTarget);
      return { logBinary, logNonTarget };
    };
    const s = parts(maybeStandardize(zs, opts.standardize));
    const t = parts(maybeStandardize(zt, opts.standardize));
    const kl = (logP: tf.Tensor, logQ: tf.Tensor) => tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), -1);
    const tckd = kl(t.logBinary, s.logBinary);
    const nckd = kl(t.logNonTarget, s.logNonTarget);
    const perSample = tf.add(tf.mul(tckd, alpha), tf.mul(nckd, beta));
    return tf.mul(tf.mean(perSample), T * T) as tf.Scalar;
  });
}

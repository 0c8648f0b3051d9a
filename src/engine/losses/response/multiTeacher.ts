import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';
import { maybeStandardize } from './standardize';

/**
 * Multi-teacher KD (weighted average of the teachers' softened outputs, You et al. KDD 2017):
 *
 *   p_t = Σᵢ wᵢ · softmax(z_tᵢ / T),   wᵢ ← wᵢ / Σⱼ wⱼ
 *   L   = T² · (1/B) Σ_b KL(p_t ‖ softmax(z_s / T))
 *
 * log p_t is computed as logsumexp_i(log wᵢ + log softmax(z_tᵢ/T)), so a class that every teacher
 * rules out contributes 0·(finite) = 0 instead of 0·log 0. Teachers with weight 0 are skipped.
 * With one teacher this is exactly `kdLoss`. `standardize` z-scores every logit row first (Sun et al. 2024).
 */
export function multiTeacherKdLoss(zs: tf.Tensor, zts: tf.Tensor[], weights: number[], temperature: number, standardize = false): tf.Scalar {
  if (zts.length === 0) throw new Error('multi-kd: needs at least one teacher, found none');
  if (weights.length !== zts.length) {
    throw new Error(`multi-kd: expected ${zts.length} weights (one per teacher), found ${weights.length}`);
  }
  if (weights.some((w) => !Number.isFinite(w) || w < 0)) {
    throw new Error(`multi-kd: teacher weights must be finite and ≥ 0, found [${weights.join(', ')}]`);
  }
  const total = weights.reduce((a, w) => a + w, 0);
  if (!(total > 0)) throw new Error(`multi-kd: teacher weights must not all be 0, found [${weights.join(', ')}]`);
  zts.forEach((zt, i) => assertPairShapes('multi-kd', zs.shape, zt.shape, `teacher ${i + 1}`));
  const T = temperature;
  if (!(T > 0) || !Number.isFinite(T)) throw new Error(`multi-kd: temperature must be a positive number, found ${T}`);
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(maybeStandardize(zs, standardize), T));
    const terms = zts
      .map((zt, i) => ({ zt, w: weights[i] / total }))
      .filter(({ w }) => w > 0)
      .map(({ zt, w }) => tf.add(tf.logSoftmax(tf.div(maybeStandardize(zt, standardize), T)), Math.log(w)));
    const logPt = tf.logSumExp(tf.stack(terms), 0);
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
    return tf.mul(tf.mean(kl), T * T) as tf.Scalar;
  });
}

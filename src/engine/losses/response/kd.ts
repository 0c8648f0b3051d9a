import * as tf from '@tensorflow/tfjs';
import { maybeStandardize } from './standardize';

/**
 * Hinton et al. 2015, "Distilling the Knowledge in a Neural Network":
 *
 *   L_KD = T² · (1/B) Σ_b Σ_c p_t(b,c) · (log p_t(b,c) − log p_s(b,c)),   p = softmax(z / T)
 *
 * i.e. the batch-mean KL(p_t ‖ p_s) of the temperature-softened distributions, scaled by T² so
 * that its gradient magnitude does not shrink as T grows (the paper's recommendation).
 *
 * `standardize` (Sun et al. 2024, see standardize.ts): z ← (z − mean z)/σ(z) per sample, before /T.
 */
export function kdLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature: number, standardize = false): tf.Scalar {
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(maybeStandardize(studentLogits, standardize), temperature));
    const logPt = tf.logSoftmax(tf.div(maybeStandardize(teacherLogits, standardize), temperature));
    const pt = tf.exp(logPt);
    const kl = tf.sum(tf.mul(pt, tf.sub(logPt, logPs)), -1);
    return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
  });
}

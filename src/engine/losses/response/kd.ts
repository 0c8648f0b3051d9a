import * as tf from '@tensorflow/tfjs';

/**
 * Hinton et al. 2015, "Distilling the Knowledge in a Neural Network":
 *
 *   L_KD = T² · (1/B) Σ_b Σ_c p_t(b,c) · (log p_t(b,c) − log p_s(b,c)),   p = softmax(z / T)
 *
 * i.e. the batch-mean KL(p_t ‖ p_s) of the temperature-softened distributions, scaled by T² so
 * that its gradient magnitude does not shrink as T grows (the paper's recommendation).
 */
export function kdLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    const logPt = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const pt = tf.exp(logPt);
    const kl = tf.sum(tf.mul(pt, tf.sub(logPt, logPs)), -1);
    return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
  });
}

import * as tf from '@tensorflow/tfjs';

/** Added to the standard deviation, as in the paper's code, so constant logits stay finite. */
export const STANDARDIZE_EPS = 1e-7;

/**
 * Logit standardisation, Sun, Ren, Li, Wang & Cao, "Logit Standardization in Knowledge
 * Distillation", CVPR 2024: each sample's logits are z-scored before the temperature,
 *
 *   Z(z) = (z − mean_k z_k) / (σ(z) + 1e-7),   σ(z) = sqrt((1/K) Σ_k (z_k − mean z)²)
 *
 * so the student matches the teacher's logit *relations* instead of their range and shift (a
 * small student cannot reproduce a large teacher's logit magnitude). σ is the population standard
 * deviation (the paper's formula; its code's torch.std divides by K − 1, a constant factor
 * √(K/(K−1)) that the temperature absorbs). Rank 2 [B,K].
 */
export function standardizeLogits(z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(z, -1, true);
    return tf.div(tf.sub(z, mean), tf.add(tf.sqrt(variance), STANDARDIZE_EPS));
  });
}

/** `standardizeLogits(z)` when `standardize`, else z itself. */
export function maybeStandardize(z: tf.Tensor, standardize: boolean | undefined): tf.Tensor {
  return standardize ? standardizeLogits(z) : z;
}

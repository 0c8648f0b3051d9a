import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

const NORM_EPS = 1e-12;

/** C(i,j) = exp(−γ‖x̂_i − x̂_j‖²) over the L2-normalised rows of f flattened to [B,D]. */
function correlation(f: tf.Tensor, gamma: number): tf.Tensor2D {
  const x = tf.reshape(f, [f.shape[0], -1]) as tf.Tensor2D;
  const xn = tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), NORM_EPS * NORM_EPS))) as tf.Tensor2D;
  const sq = tf.sum(tf.square(xn), 1);
  const d2 = tf.sub(tf.add(tf.expandDims(sq, 1), tf.expandDims(sq, 0)), tf.mul(tf.matMul(xn, xn, false, true), 2));
  return tf.exp(tf.mul(d2, -gamma)) as tf.Tensor2D;
}

/**
 * Correlation congruence, Peng et al. ICCV 2019, with the Gaussian RBF kernel computed exactly
 * (no Taylor expansion) on L2-normalised embeddings (inputs of rank ≥ 2 flattened to [B,D]; D may
 * differ — C is B×B):
 *
 *   x̂ = x / max(‖x‖₂, 1e-12),   C(i,j) = exp(−γ‖x̂_i − x̂_j‖²)
 *   L = (1/B²) Σ_ij (C_s(i,j) − C_t(i,j))²
 *
 * ‖x̂_i − x̂_j‖² is expanded as ‖x̂_i‖² + ‖x̂_j‖² − 2x̂_iᵀx̂_j: smooth everywhere (no square root).
 */
export function ccLoss(fs: tf.Tensor, ft: tf.Tensor, gamma = 0.4): tf.Scalar {
  assertPairShapes('cc', fs.shape, ft.shape);
  if (!(gamma >= 0) || !Number.isFinite(gamma)) throw new Error(`cc: gamma must be a finite number ≥ 0, found ${gamma}`);
  return tf.tidy(() => tf.mean(tf.squaredDifference(correlation(fs, gamma), correlation(ft, gamma))) as tf.Scalar);
}

import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

/** Floor of the squared distance before the square root (the reference implementation's eps). */
const DIST_EPS = 1e-12;
const NORM_EPS = 1e-12;

/** Smooth L1 with δ = 1 (PyTorch's smooth_l1_loss), mean over elements: ½d² if |d| < 1, |d| − ½ otherwise. */
function huberMean(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  const d = tf.abs(tf.sub(a, b));
  const q = tf.minimum(d, 1);
  return tf.mean(tf.add(tf.mul(tf.square(q), 0.5), tf.sub(d, q))) as tf.Scalar;
}

/**
 * Pairwise Euclidean distances of the rows of x [B,D] → [B,B]: ‖x_i‖² + ‖x_j‖² − 2x_i·x_j clamped at
 * 1e-12 before the square root (finite gradients), diagonal set to exactly 0, then divided by the
 * mean over the B(B−1) off-diagonal pairs.
 */
function normalisedDistances(x: tf.Tensor2D): tf.Tensor2D {
  const n = x.shape[0];
  const sq = tf.sum(tf.square(x), 1);
  const d2 = tf.sub(tf.add(tf.expandDims(sq, 1), tf.expandDims(sq, 0)), tf.mul(tf.matMul(x, x, false, true), 2));
  const offDiagonal = tf.sub(1, tf.eye(n));
  const d = tf.mul(tf.sqrt(tf.maximum(d2, DIST_EPS)), offDiagonal);
  const mean = tf.div(tf.sum(d), Math.max(n * (n - 1), 1));
  return tf.div(d, tf.maximum(mean, DIST_EPS)) as tf.Tensor2D;
}

/**
 * Cosines of all triplets of rows of x [B,D] → [B,B,B]: ψ[j,i,k] = ⟨e_ij, e_kj⟩ with
 * e_ij = (x_i − x_j)/max(‖x_i − x_j‖, 1e-12), so e_jj = 0 and the degenerate triplets are 0.
 */
function angles(x: tf.Tensor2D): tf.Tensor3D {
  const diff = tf.sub(tf.expandDims(x, 0), tf.expandDims(x, 1));
  const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(diff), -1, true), NORM_EPS * NORM_EPS));
  const e = tf.div(diff, norm) as tf.Tensor3D;
  return tf.matMul(e, e, false, true);
}

function flatten(f: tf.Tensor): tf.Tensor2D {
  return tf.reshape(f, [f.shape[0], -1]);
}

/**
 * RKD distance loss, Park et al. CVPR 2019 (inputs of rank ≥ 2 flattened to [B,D]; D may differ):
 *
 *   ψ_D(i,j) = ‖f_i − f_j‖₂ / μ,   μ = (1/(B(B−1))) Σ_{i≠j} ‖f_i − f_j‖₂
 *   L = (1/B²) Σ_ij Huber(ψ_D^s(i,j) − ψ_D^t(i,j))
 */
export function rkdDistanceLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  assertPairShapes('rkd-distance', fs.shape, ft.shape);
  return tf.tidy(() => huberMean(normalisedDistances(flatten(fs)), normalisedDistances(flatten(ft))));
}

/**
 * RKD angle loss, Park et al. CVPR 2019 (inputs of rank ≥ 2 flattened to [B,D]; D may differ):
 *
 *   ψ_A(i,j,k) = ⟨e_ij, e_kj⟩,   e_ij = (f_i − f_j)/‖f_i − f_j‖₂   (e_jj = 0)
 *   L = (1/B³) Σ_ijk Huber(ψ_A^s(i,j,k) − ψ_A^t(i,j,k))
 *
 * Memory is O(B²·D + B³).
 */
export function rkdAngleLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  assertPairShapes('rkd-angle', fs.shape, ft.shape);
  return tf.tidy(() => huberMean(angles(flatten(fs)), angles(flatten(ft))));
}

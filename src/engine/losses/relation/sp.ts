import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

const NORM_EPS = 1e-12;

/** Batch similarity of x (flattened to [B,D]): rows of x·xᵀ divided by max(their L2 norm, 1e-12). */
function similarity(f: tf.Tensor): tf.Tensor2D {
  const x = tf.reshape(f, [f.shape[0], -1]) as tf.Tensor2D;
  const g = tf.matMul(x, x, false, true);
  const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(g), 1, true), NORM_EPS * NORM_EPS));
  return tf.div(g, norm) as tf.Tensor2D;
}

/**
 * Similarity-preserving KD, Tung & Mori ICCV 2019 (inputs of rank ≥ 2 flattened to [B,D]; D may differ):
 *
 *   G = F·Fᵀ ∈ ℝ^{B×B},   G̃(i,·) = G(i,·)/‖G(i,·)‖₂
 *   L = ‖G̃_s − G̃_t‖_F² / B²
 */
export function spLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  assertPairShapes('sp', fs.shape, ft.shape);
  return tf.tidy(() => {
    const b = fs.shape[0];
    return tf.div(tf.sum(tf.squaredDifference(similarity(fs), similarity(ft))), b * b) as tf.Scalar;
  });
}

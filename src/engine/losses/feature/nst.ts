import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

const NORM_EPS = 1e-12;

/** [B,H,W,C] → [B,C,H·W], each channel's map divided by max(its L2 norm, 1e-12). */
function channelMaps(f: tf.Tensor): tf.Tensor3D {
  const [b, h, w, c] = f.shape as number[];
  const maps = tf.transpose(tf.reshape(f, [b, h * w, c]), [0, 2, 1]);
  const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(maps), -1, true), NORM_EPS * NORM_EPS));
  return tf.div(maps, norm) as tf.Tensor3D;
}

/**
 * Neuron selectivity transfer, Huang & Wang 2017, with the polynomial kernel k(x, y) = (xᵀy)²:
 * every channel is a sample f^c ∈ ℝ^{H·W} (L2-normalised), and per sample b
 *
 *   MMD² = (1/C_t²) Σ_ij k(f_t^i, f_t^j) + (1/C_s²) Σ_ij k(f_s^i, f_s^j) − (2/(C_t·C_s)) Σ_ij k(f_t^i, f_s^j)
 *   L    = (1/B) Σ_b MMD²
 *
 * Channel counts may differ; H,W must match.
 */
export function nstLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  assertPairShapes('nst', fs.shape, ft.shape);
  return tf.tidy(() => {
    const s = channelMaps(fs);
    const t = channelMaps(ft);
    const kernelMean = (a: tf.Tensor3D, b: tf.Tensor3D) => tf.mean(tf.square(tf.matMul(a, b, false, true)));
    return tf.sub(tf.add(kernelMean(t, t), kernelMean(s, s)), tf.mul(kernelMean(t, s), 2)) as tf.Scalar;
  });
}

import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

const NORM_EPS = 1e-12;

/** Conditional probabilities p(j|i) ∝ (cos(f_i, f_j) + 1)/2 of the rows of f flattened to [B,D]. */
function conditional(f: tf.Tensor): tf.Tensor2D {
  const x = tf.reshape(f, [f.shape[0], -1]) as tf.Tensor2D;
  const xn = tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), NORM_EPS * NORM_EPS))) as tf.Tensor2D;
  const k = tf.div(tf.add(tf.matMul(xn, xn, false, true), 1), 2);
  return tf.div(k, tf.sum(k, 1, true)) as tf.Tensor2D;
}

/**
 * Probabilistic knowledge transfer, Passalis & Tefas ECCV 2018, with the cosine kernel
 * (inputs of rank ≥ 2 flattened to [B,D]; D may differ):
 *
 *   x̂ = x / max(‖x‖₂, 1e-12),   K(i,j) = (x̂_iᵀx̂_j + 1)/2,   p(j|i) = K(i,j) / Σ_k K(i,k)
 *   L = (1/B) Σ_ij p_t(j|i) · log((p_t(j|i) + ε) / (p_s(j|i) + ε))
 *
 * i.e. the batch mean of KL(p_t(·|i) ‖ p_s(·|i)). (RepDistiller divides by B² instead of B.)
 */
export function pktLoss(fs: tf.Tensor, ft: tf.Tensor, eps = 1e-7): tf.Scalar {
  assertPairShapes('pkt', fs.shape, ft.shape);
  return tf.tidy(() => {
    const ps = conditional(fs);
    const pt = conditional(ft);
    const kl = tf.mul(pt, tf.sub(tf.log(tf.add(pt, eps)), tf.log(tf.add(ps, eps))));
    return tf.div(tf.sum(kl), fs.shape[0]) as tf.Scalar;
  });
}

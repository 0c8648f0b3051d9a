import * as tf from '@tensorflow/tfjs';
import { assertPairShapes, assertRank } from '../../../methods/catalogue';

/** F.normalize's floor on the norm: rows with ‖x‖ < 1e-12 are divided by 1e-12 (so zeros stay 0). */
const NORM_EPS = 1e-12;

/**
 * Spatial attention map of NHWC features (Zagoruyko & Komodakis, ICLR 2017):
 *
 *   Q(b, hw) = Σ_c |F(b, h, w, c)|^p,     a(b, ·) = Q(b, ·) / max(‖Q(b, ·)‖₂, 1e-12)
 *
 * [B,H,W,C] → [B,H·W]. (mdistiller averages over channels instead of summing: the same after the
 * normalisation.) p = 2 uses F² so the gradient at 0 is plain 2F.
 */
export function attentionMap(f: tf.Tensor, p = 2): tf.Tensor2D {
  assertRank('at', f.shape);
  if (!(p > 0) || !Number.isFinite(p)) throw new Error(`at: p must be a positive number, found ${p}`);
  return tf.tidy(() => {
    const [b, h, w] = f.shape as number[];
    const powered = p === 2 ? tf.square(f) : tf.pow(tf.abs(f), p);
    const q = tf.reshape(tf.sum(powered, -1), [b, h * w]);
    const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(q), -1, true), NORM_EPS * NORM_EPS));
    return tf.div(q, norm) as tf.Tensor2D;
  });
}

/**
 * Attention transfer loss, as mdistiller:
 *
 *   L = (1/(B·H·W)) Σ_b Σ_hw (a_s(b, hw) − a_t(b, hw))²
 *
 * Channel counts may differ; H,W must match.
 */
export function atLoss(fs: tf.Tensor, ft: tf.Tensor, p = 2): tf.Scalar {
  assertPairShapes('at', fs.shape, ft.shape);
  return tf.tidy(() => tf.mean(tf.squaredDifference(attentionMap(fs, p), attentionMap(ft, p))) as tf.Scalar);
}

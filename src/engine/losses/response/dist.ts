import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';
import { maybeStandardize } from './standardize';

export interface DistOptions {
  /** Weight of the inter-class relation (per sample, across classes); the paper uses 1 (ImageNet) and 2 (CIFAR-100). */
  beta: number;
  /** Weight of the intra-class relation (per class, across the batch); the paper uses 1 (ImageNet) and 2 (CIFAR-100). */
  gamma: number;
  temperature: number;
  /** Logit standardisation (Sun et al. 2024): z-score each sample's logits before /T. */
  standardize?: boolean;
}

/** The paper's ε in the cosine's denominator. */
const EPS = 1e-8;

/** Pearson correlation of the rows of a and b ([R, N] each): the cosine of the mean-centred rows. */
function rowPearson(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  const ca = tf.sub(a, tf.mean(a, 1, true));
  const cb = tf.sub(b, tf.mean(b, 1, true));
  const dot = tf.sum(tf.mul(ca, cb), 1);
  // sqrt(max(Σx², 1e-24)): the same value, and a zero gradient instead of 0/0 for a constant row
  // (a batch of one, or a uniform softmax).
  const norm = (x: tf.Tensor) => tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1), 1e-24));
  const norms = tf.mul(norm(ca), norm(cb));
  return tf.div(dot, tf.add(norms, EPS)) as tf.Tensor1D;
}

/**
 * DIST, Huang, You, Wang, Qian & Xu, "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022.
 * With Y = softmax(z/T) ∈ ℝ^{B×K} (rows: samples, columns: classes) and ρ the Pearson correlation:
 *
 *   L_inter = 1 − (1/B) Σ_b ρ(Y_s[b,:], Y_t[b,:])     relations between the classes of one sample
 *   L_intra = 1 − (1/K) Σ_k ρ(Y_s[:,k], Y_t[:,k])     relations between the samples of one class
 *   L_DIST  = T² · (β·L_inter + γ·L_intra)
 *
 * ρ(u, v) = ⟨u − ū, v − v̄⟩ / (‖u − ū‖·‖v − v̄‖ + 1e-8), as the paper's code. Matching correlations
 * instead of KL's exact probabilities relaxes the match to a much stronger teacher (shift and scale
 * invariance per row and column). `standardize` z-scores the logits before /T (Sun et al. 2024).
 */
export function distLoss(zs: tf.Tensor, zt: tf.Tensor, opts: DistOptions): tf.Scalar {
  assertPairShapes('dist', zs.shape, zt.shape);
  const { beta, gamma, temperature: T } = opts;
  if (!(T > 0) || !Number.isFinite(T)) throw new Error(`dist: temperature must be a positive number, found ${T}`);
  return tf.tidy(() => {
    const ys = tf.softmax(tf.div(maybeStandardize(zs, opts.standardize), T)) as tf.Tensor2D;
    const yt = tf.softmax(tf.div(maybeStandardize(zt, opts.standardize), T)) as tf.Tensor2D;
    const inter = tf.sub(1, tf.mean(rowPearson(ys, yt)));
    const intra = tf.sub(1, tf.mean(rowPearson(tf.transpose(ys), tf.transpose(yt))));
    return tf.mul(tf.add(tf.mul(inter, beta), tf.mul(intra, gamma)), T * T) as tf.Scalar;
  });
}

import * as tf from '@tensorflow/tfjs';
import { formatShape } from '../../../methods/catalogue';

/** The pyramid of the hierarchical context loss: pooled sizes l×l, kept when l < H (the paper's [4, 2, 1]). */
export const HCL_LEVELS = [4, 2, 1] as const;

/** [l, n] weights of adaptive average pooling from n cells to l: row i averages cells ⌊i·n/l⌋ … ⌈(i+1)·n/l⌉ − 1. */
export function adaptivePoolMatrix(n: number, l: number): number[][] {
  return Array.from({ length: l }, (_, i) => {
    const from = Math.floor((i * n) / l);
    const to = Math.ceil(((i + 1) * n) / l);
    return Array.from({ length: n }, (_, k) => (k >= from && k < to ? 1 / (to - from) : 0));
  });
}

/** Adaptive average pooling of NHWC maps to l×l (PyTorch's adaptive_avg_pool2d windows). */
export function adaptiveAvgPool(x: tf.Tensor4D, l: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const ph = tf.tensor2d(adaptivePoolMatrix(h, l));
    const pw = tf.tensor2d(adaptivePoolMatrix(w, l));
    // rows: [H, B·W·C] → [l, B·W·C]
    const rows = tf.matMul(ph, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, b * w * c]));
    // columns: [l, B, W, C] → [W, l·B·C] → [l, l·B·C]
    const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [l, b, w, c]), [2, 0, 1, 3]), [w, l * b * c]);
    const cols = tf.matMul(pw, byCol);
    // [l(w), l(h), B, C] → [B, l(h), l(w), C]
    return tf.transpose(tf.reshape(cols, [l, l, b, c]), [2, 1, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * The hierarchical context loss of one stage, Chen, Liu, Zhao & Jia, "Distilling Knowledge via
 * Knowledge Review", CVPR 2021:
 *
 *   HCL(F_s, F_t) = [ mse(F_s, F_t) + Σ_{j: l_j < H} 2^{−j} · mse(P_{l_j}(F_s), P_{l_j}(F_t)) ] / (1 + Σ_{j: l_j < H} 2^{−j})
 *
 * with l = (4, 2, 1), P_l adaptive average pooling to l×l, mse the mean over every element, and j
 * counting the pooled levels used (1, 2, 3): the stage is compared at its own resolution and as
 * coarser and coarser context. `fs` (the fused student stage) and `ft` must have the same shape.
 */
export function hclLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  if (fs.rank !== 4 || ft.rank !== 4) {
    throw new Error(`reviewkd: expected feature maps of rank 4 [B,H,W,C], found ${formatShape(fs.shape)} and ${formatShape(ft.shape)}`);
  }
  if (fs.shape.join() !== ft.shape.join()) {
    throw new Error(`reviewkd: the fused student stage ${formatShape(fs.shape)} and the teacher stage ${formatShape(ft.shape)} differ`);
  }
  return tf.tidy(() => {
    const h = fs.shape[1] as number;
    let loss = tf.mean(tf.squaredDifference(fs, ft));
    let cnt = 1;
    let tot = 1;
    for (const l of HCL_LEVELS) {
      if (l >= h) continue;
      cnt /= 2;
      const d = tf.mean(tf.squaredDifference(adaptiveAvgPool(fs as tf.Tensor4D, l), adaptiveAvgPool(ft as tf.Tensor4D, l)));
      loss = tf.add(loss, tf.mul(d, cnt));
      tot += cnt;
    }
    return tf.div(loss, tot) as tf.Scalar;
  });
}

/** Σ over the stages of `hclLoss`: the review loss of the fused student stages against the teacher's. */
export function reviewLoss(fused: tf.Tensor[], teacher: tf.Tensor[]): tf.Scalar {
  if (fused.length !== teacher.length || fused.length === 0) {
    throw new Error(`reviewkd: expected as many fused student stages as teacher stages (at least one), found ${fused.length} and ${teacher.length}`);
  }
  return tf.tidy(() => tf.addN(fused.map((f, i) => hclLoss(f, teacher[i]))) as tf.Scalar);
}

/**
 * The attention-based fusion's mixing step (a layer without weights): with x the stage's own
 * features, y the fused deeper stage (resized to x's H×W) and z = sigmoid(conv1x1([x, y])) ∈ ℝ^{…×2},
 *
 *   fuse(x, y, z) = x ⊙ z₀ + y ⊙ z₁     (z₀, z₁ broadcast over the channels)
 */
export class AttentionMix extends tf.layers.Layer {
  static className = 'DistillAttentionMix';
  override computeOutputShape(inputShape: tf.Shape[]): tf.Shape {
    return inputShape[0];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [x, y, z] = inputs as tf.Tensor[];
      const [b, h, w] = x.shape as number[];
      const z0 = tf.slice(z, [0, 0, 0, 0], [b, h, w, 1]);
      const z1 = tf.slice(z, [0, 0, 0, 1], [b, h, w, 1]);
      return tf.add(tf.mul(x, z0), tf.mul(y, z1));
    });
  }
}
tf.serialization.registerClass(AttentionMix);

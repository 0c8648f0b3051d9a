import * as tf from '@tensorflow/tfjs';
import { assertRank, formatShape, formatSpatial } from '../../../methods/catalogue';

function checkLayers(f1: tf.Tensor, f2: tf.Tensor, whose: string): void {
  assertRank('fsp', f1.shape);
  assertRank('fsp', f2.shape);
  if (f1.shape[0] !== f2.shape[0]) {
    throw new Error(`fsp: batch sizes of ${whose}two layers differ: first ${f1.shape[0]}, second ${f2.shape[0]}`);
  }
  if (f1.shape[1] !== f2.shape[1] || f1.shape[2] !== f2.shape[2]) {
    throw new Error(`fsp: spatial sizes of ${whose}two layers differ: first ${formatSpatial(f1.shape)}, second ${formatSpatial(f2.shape)}`);
  }
}

function gram(f1: tf.Tensor, f2: tf.Tensor): tf.Tensor3D {
  const [b, h, w, c1] = f1.shape as number[];
  const c2 = f2.shape[3] as number;
  const a = tf.reshape(f1, [b, h * w, c1]) as tf.Tensor3D;
  const c = tf.reshape(f2, [b, h * w, c2]) as tf.Tensor3D;
  return tf.div(tf.matMul(a, c, true, false), h * w) as tf.Tensor3D;
}

/**
 * FSP ("flow of solution procedure") matrix between two NHWC layers of the same spatial size,
 * Yim et al. CVPR 2017:
 *
 *   G(b, i, j) = (1/(H·W)) Σ_hw F₁(b, h, w, i) · F₂(b, h, w, j)      [B,H,W,C1],[B,H,W,C2] → [B,C1,C2]
 */
export function fspMatrix(f1: tf.Tensor, f2: tf.Tensor): tf.Tensor3D {
  checkLayers(f1, f2, 'the ');
  return tf.tidy(() => gram(f1, f2));
}

/**
 * FSP loss between the student's layer pair (fs1, fs2) and the teacher's (ft1, ft2):
 *
 *   L = (1/(B·C1·C2)) Σ (G_s − G_t)²
 *
 * Within each network the two layers must have the same H,W; the student's C1, C2 must equal the
 * teacher's (the networks' spatial sizes may differ from each other).
 */
export function fspLoss(fs1: tf.Tensor, fs2: tf.Tensor, ft1: tf.Tensor, ft2: tf.Tensor): tf.Scalar {
  checkLayers(fs1, fs2, 'the student\'s ');
  checkLayers(ft1, ft2, 'the teacher\'s ');
  if (fs1.shape[0] !== ft1.shape[0]) throw new Error(`fsp: batch sizes differ: student ${fs1.shape[0]}, teacher ${ft1.shape[0]}`);
  if (fs1.shape[3] !== ft1.shape[3] || fs2.shape[3] !== ft2.shape[3]) {
    throw new Error(`fsp: channel counts differ: student C1×C2 = ${fs1.shape[3]}×${fs2.shape[3]}, teacher ${ft1.shape[3]}×${ft2.shape[3]}`
      + ` (student ${formatShape(fs1.shape)} ${formatShape(fs2.shape)}, teacher ${formatShape(ft1.shape)} ${formatShape(ft2.shape)})`);
  }
  return tf.tidy(() => tf.mean(tf.squaredDifference(gram(fs1, fs2), gram(ft1, ft2))) as tf.Scalar);
}

import * as tf from '@tensorflow/tfjs';
import { assertPairShapes } from '../../../methods/catalogue';

/**
 * FitNets hint loss, Romero et al. ICLR 2015:
 *
 *   L = (1/N) Σ (F_s − F_t)²   over all N elements
 *
 * `fs` has already been through the student-side adapter r (1×1 conv or dense), so the shapes
 * must be equal. (The paper's ½‖·‖² sum differs from this mean by a constant factor.)
 */
export function fitnetLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  assertPairShapes('fitnet', fs.shape, ft.shape);
  return tf.tidy(() => tf.mean(tf.squaredDifference(fs, ft)) as tf.Scalar);
}

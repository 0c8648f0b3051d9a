import * as tf from '@tensorflow/tfjs';

/**
 * Hard-label cross-entropy of the student: (1/B) Σ_b −log softmax(z_s)(b, y_b).
 * `labels` holds integer class indices.
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[logits.shape.length - 1] as number;
    const oneHot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, numClasses);
    const logP = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logP), -1))) as tf.Scalar;
  });
}

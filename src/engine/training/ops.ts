/** Small tensor helpers shared by the schemes. */
import * as tf from '@tensorflow/tfjs';

/** Identity in the forward pass, zero gradient: the value is treated as a constant target. */
const stop = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]);
export function stopGradient(x: tf.Tensor): tf.Tensor {
  return stop(x);
}

/** Rows `idx` of a row-major [N, c] matrix. */
export function gatherRows(all: Float32Array, idx: Int32Array, c: number): Float32Array {
  const out = new Float32Array(idx.length * c);
  for (let i = 0; i < idx.length; i++) out.set(all.subarray(idx[i] * c, idx[i] * c + c), i * c);
  return out;
}

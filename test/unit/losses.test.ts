/**
 * The loss terms against independent computations: a naive float64 reference of each formula,
 * its central finite differences, and the closed-form gradient where one is known.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { kdLoss } from '../../src/engine/losses/response/kd';
import { crossEntropy } from '../../src/engine/losses/labels';
import { mulberry32 } from '../../src/engine/training/random';

before(async () => {
  await tf.setBackend('cpu');
});

function logSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

/** T²·mean_b KL(softmax(t/T) ‖ softmax(s/T)), float64, straight from the definition. */
function naiveKd(s: number[][], t: number[][], T: number): number {
  let total = 0;
  for (let b = 0; b < s.length; b++) {
    const ls = logSoftmax(s[b].map((v) => v / T));
    const lt = logSoftmax(t[b].map((v) => v / T));
    for (let c = 0; c < ls.length; c++) total += Math.exp(lt[c]) * (lt[c] - ls[c]);
  }
  return (T * T * total) / s.length;
}

function naiveCe(s: number[][], y: number[]): number {
  return -s.reduce((a, row, b) => a + logSoftmax(row)[y[b]], 0) / s.length;
}

function randomLogits(rng: () => number, b: number, c: number, scale = 3): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: c }, () => (rng() * 2 - 1) * scale));
}

/** Central finite differences of f at x (float64). */
function numericGrad(f: (x: number[][]) => number, x: number[][], eps = 1e-5): number[][] {
  return x.map((row, i) => row.map((_, j) => {
    const plus = x.map((r) => r.slice());
    const minus = x.map((r) => r.slice());
    plus[i][j] += eps;
    minus[i][j] -= eps;
    return (f(plus) - f(minus)) / (2 * eps);
  }));
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('KD loss equals the naive T²·KL reference for several temperatures', () => {
  const rng = mulberry32(3);
  for (const T of [1, 2, 4, 20]) {
    const s = randomLogits(rng, 5, 7);
    const t = randomLogits(rng, 5, 7, 6);
    const got = kdLoss(tf.tensor2d(s), tf.tensor2d(t), T).dataSync()[0];
    assertClose([got], [naiveKd(s, t, T)], 1e-5, `T=${T}`);
  }
});

test('KD loss is zero when the student matches the teacher, positive otherwise', () => {
  const rng = mulberry32(4);
  const t = randomLogits(rng, 4, 10);
  assert.ok(Math.abs(kdLoss(tf.tensor2d(t), tf.tensor2d(t), 4).dataSync()[0]) < 1e-6);
  const s = randomLogits(rng, 4, 10);
  assert.ok(kdLoss(tf.tensor2d(s), tf.tensor2d(t), 4).dataSync()[0] > 0);
});

test('KD gradient matches finite differences and the closed form T·(p_s − p_t)/B', () => {
  const rng = mulberry32(5);
  for (const T of [1, 3, 10]) {
    const s = randomLogits(rng, 3, 4);
    const t = randomLogits(rng, 3, 4);
    const g = tf.grad((x: tf.Tensor) => kdLoss(x, tf.tensor2d(t), T))(tf.tensor2d(s)).dataSync();
    const fd = numericGrad((x) => naiveKd(x, t, T), s).flat();
    assertClose(g, fd, 1e-4, `fd T=${T}`);
    const closed = s.flatMap((row, b) => {
      const ps = logSoftmax(row.map((v) => v / T)).map(Math.exp);
      const pt = logSoftmax(t[b].map((v) => v / T)).map(Math.exp);
      return ps.map((p, c) => (T * (p - pt[c])) / s.length);
    });
    assertClose(g, closed, 1e-5, `closed T=${T}`);
  }
});

test('KD loss has no gradient into the teacher logits path it does not own', () => {
  // The teacher is fixed in offline KD: the loss must still be differentiable w.r.t. the student only.
  const s = tf.tensor2d([[1, 2, 3]]);
  const t = tf.tensor2d([[3, 2, 1]]);
  const g = tf.grad((x: tf.Tensor) => kdLoss(x, t, 2))(s);
  assert.deepEqual(g.shape, [1, 3]);
});

test('cross-entropy equals the naive reference and its gradient matches finite differences', () => {
  const rng = mulberry32(6);
  const s = randomLogits(rng, 6, 5);
  const y = [0, 4, 2, 2, 1, 3];
  const got = crossEntropy(tf.tensor2d(s), tf.tensor1d(y, 'int32')).dataSync()[0];
  assertClose([got], [naiveCe(s, y)], 1e-5, 'ce');
  const g = tf.grad((x: tf.Tensor) => crossEntropy(x, tf.tensor1d(y, 'int32')))(tf.tensor2d(s)).dataSync();
  assertClose(g, numericGrad((x) => naiveCe(x, y), s).flat(), 1e-4, 'ce grad');
});

test('cross-entropy of uniform logits is log(C)', () => {
  const got = crossEntropy(tf.zeros([3, 10]), tf.tensor1d([1, 2, 3], 'int32')).dataSync()[0];
  assertClose([got], [Math.log(10)], 1e-6, 'log C');
});

test('losses leak no tensors', () => {
  const s = tf.randomNormal([8, 10]);
  const t = tf.randomNormal([8, 10]);
  const y = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32');
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    tf.dispose([kdLoss(s, t, 4), crossEntropy(s, y)]);
  }
  assert.equal(tf.memory().numTensors, before);
});

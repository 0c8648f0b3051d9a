/** Jitter augmentation against a hand-made image: the shift, the zero fill, shape errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shiftImages } from '../../src/engine/data/augment';

/** Runs fn with Math.random returning the given values in turn. */
function withRandom(values: number[], fn: () => void): void {
  const original = Math.random;
  let i = 0;
  Math.random = () => values[i++ % values.length];
  try {
    fn();
  } finally {
    Math.random = original;
  }
}

test('shift moves each image by whole pixels and fills with zeros', () => {
  // two 3×3×1 images 1..9; maxShift 1 → random r maps to floor(r·3) − 1
  const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // image 0: dy = +1 (r 0.9), dx = 0 (r 0.5); image 1: dy = 0, dx = −1 (r 0.1)
  withRandom([0.9, 0.5, 0.5, 0.1], () => shiftImages(x, 2, [3, 3, 1], 1));
  assert.deepEqual(Array.from(x.subarray(0, 9)), [0, 0, 0, 1, 2, 3, 4, 5, 6], 'down by one row');
  assert.deepEqual(Array.from(x.subarray(9)), [2, 3, 0, 5, 6, 0, 8, 9, 0], 'left by one column');
});

test('channels move together; shift 0 leaves the batch as it is', () => {
  const x = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]); // one 2×2×2 image
  withRandom([0.5, 0.9], () => shiftImages(x, 1, [2, 2, 2], 1)); // dy 0, dx +1
  assert.deepEqual(Array.from(x), [0, 0, 1, 10, 0, 0, 3, 30]);
  const y = Float32Array.from([1, 2, 3, 4]);
  shiftImages(y, 1, [2, 2, 1], 0);
  assert.deepEqual(Array.from(y), [1, 2, 3, 4]);
});

test('vectors cannot be shifted: a clear error', () => {
  assert.throws(() => shiftImages(new Float32Array(4), 1, [4], 2), /data\.augment\.shift: expected images \[H, W, C\], found samples of shape \[4\]/);
});

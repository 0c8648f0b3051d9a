/** Feature-map figures of the engine (src/engine/results/similarity.ts) against naive references and hand-computed cases. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { attentionMap, channels, cosine, linearCka, mse } from '../../src/engine/results/similarity';

/** Naive linear CKA from the definition ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred columns. */
function naiveCka(x: number[][], y: number[][]): number {
  const centre = (m: number[][]) => {
    const mean = m[0].map((_, j) => m.reduce((a, r) => a + r[j], 0) / m.length);
    return m.map((r) => r.map((v, j) => v - mean[j]));
  };
  const xc = centre(x);
  const yc = centre(y);
  const cross = (a: number[][], b: number[][]) => {
    let s = 0;
    for (let i = 0; i < a[0].length; i++) {for (let j = 0; j < b[0].length; j++) {
      let d = 0;
      for (let k = 0; k < a.length; k++) d += a[k][i] * b[k][j];
      s += d * d;
    }}
    return s;
  };
  return cross(yc, xc) / Math.sqrt(cross(xc, xc) * cross(yc, yc));
}

const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;

test('linear CKA: identical = 1, scaled and rotated = 1, orthogonal features = 0', () => {
  const r = rand(7);
  const x = Array.from({ length: 10 }, () => Array.from({ length: 4 }, r));
  assert.ok(Math.abs(linearCka(x.flat(), x.flat(), 10) - 1) < 1e-12);
  assert.ok(Math.abs(linearCka(x.flat(), x.flat().map((v) => 3 * v + 1), 10) - 1) < 1e-12, 'isotropic scale and shift');
  const rot = x.map(([a, b, c, d]) => [a * 0.6 - b * 0.8, a * 0.8 + b * 0.6, c, d]);
  assert.ok(Math.abs(linearCka(x.flat(), rot.flat(), 10) - 1) < 1e-12, 'an orthogonal rotation');
  // X uses samples 0,1 vs 2,3 along one axis; Y along another, orthogonal after centring
  const xo = [[1], [1], [-1], [-1]];
  const yo = [[1], [-1], [1], [-1]];
  assert.ok(Math.abs(linearCka(xo.flat(), yo.flat(), 4)) < 1e-12);
});

test('linear CKA matches the naive definition (p ≠ q) and a hand-computed case', () => {
  const r = rand(3);
  const x = Array.from({ length: 12 }, () => Array.from({ length: 5 }, r));
  const y = Array.from({ length: 12 }, () => Array.from({ length: 3 }, r));
  assert.ok(Math.abs(linearCka(x.flat(), y.flat(), 12) - naiveCka(x, y)) < 1e-12);
  // x = [1,2,3], y = [1,3,2] (one feature each): CKA = corr² = (0.5)² = 0.25
  assert.ok(Math.abs(linearCka([1, 2, 3], [1, 3, 2], 3) - 0.25) < 1e-12);
});

test('cosine, MSE, channels and attention maps', () => {
  assert.equal(cosine([1, 0], [0, 1]), 0);
  assert.ok(Math.abs(cosine([1, 2, 3], [2, 4, 6]) - 1) < 1e-12);
  assert.ok(Math.abs(cosine([1, 1], [1, 0]) - Math.SQRT1_2) < 1e-12);
  assert.equal(mse([1, 2, 3], [1, 2, 5]), 4 / 3);
  // 1×2 map with 2 channels, channels last: pixel0 = (1, 2), pixel1 = (3, 4)
  assert.deepEqual(channels([1, 2, 3, 4], 1, 2, 2), [[1, 3], [2, 4]]);
  const a = attentionMap([1, 2, 3, 4], 1, 2, 2); // Σc F² = 5, 25 → /√650
  assert.ok(Math.abs(a[0] - 5 / Math.sqrt(650)) < 1e-12 && Math.abs(a[1] - 25 / Math.sqrt(650)) < 1e-12);
});

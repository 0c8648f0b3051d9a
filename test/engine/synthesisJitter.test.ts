/**
 * DeepInversion's jitter and flips (src/engine/synthesis/jitter.ts): the draws of the stream both
 * engines share (the same literal is asserted by python/tests/test_synthesis.py), the roll and flip
 * against naive loops forward and backward (the gradient through the view is the adjoint
 * permutation of the upstream gradient), and a seeded synthesis with jitter: the teacher sees the
 * rolled view, the BN term still falls, the same seed gives the same inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { jitterDraws, jitterView, rollAxis } from '../../src/engine/synthesis/jitter';
import type { JitterDraw } from '../../src/engine/synthesis/jitter';
import { bnTaps } from '../../src/engine/synthesis/bnStats';
import { startingNoise, synthesizeBatch } from '../../src/engine/synthesis/deepInversion';
import { mulberry32 } from '../../src/engine/training/random';

/** jitterDraws(7, 3, 8, 3): the literal python/tests/test_synthesis.py asserts for jitter_draws(7, 3, 8, 3). */
const SHARED_DRAWS: [number, number, boolean][] = [
  [0, 3, false], [-2, -2, false], [2, 0, false], [-3, -2, true], [-2, 1, false], [1, -3, true], [2, 0, true], [1, -2, false],
];

test('the jitter stream: the literal both engines assert, every value of [−j, j] drawn and none outside, a stream per (seed, batch)', () => {
  assert.deepEqual(jitterDraws(7, 3, 8, 3).map((d) => [d.dy, d.dx, d.flip]), SHARED_DRAWS);
  const many = jitterDraws(1, 1, 3000, 2);
  for (const key of ['dy', 'dx'] as const) assert.deepEqual([...new Set(many.map((d) => d[key]))].sort((a, b) => a - b), [-2, -1, 0, 1, 2]);
  const flips = many.filter((d) => d.flip).length;
  assert.ok(flips > 1350 && flips < 1650, `${flips} flips of 3000`);
  assert.deepEqual(jitterDraws(1, 1, 5, 2), many.slice(0, 5), 'a prefix of the stream does not depend on the iteration count');
  assert.notDeepEqual(jitterDraws(1, 2, 20, 2), jitterDraws(1, 1, 20, 2));
  // jitter 0: no shift, the flips are drawn all the same
  assert.ok(jitterDraws(7, 3, 8, 0).every((d, i) => d.dy === 0 && d.dx === 0 && d.flip === SHARED_DRAWS[i][2]));
});

const N = 2, H = 4, W = 5, C = 3;
const at = (n: number, r: number, q: number, c: number) => ((n * H + r) * W + q) * C + c;
const mod = (a: number, m: number) => ((a % m) + m) % m;
/** Where output pixel (r, q) of the view comes from: flip first undone, then the roll (out[r] = in[(r − dy) mod H]). */
const source = (r: number, q: number, d: JitterDraw, flip: boolean): [number, number] => {
  const q1 = flip && d.flip ? W - 1 - q : q;
  return [mod(r - d.dy, H), mod(q1 - d.dx, W)];
};

test('the roll and the flip against naive loops, forward and backward (the gradient is the adjoint permutation)', () => {
  const r = mulberry32(3);
  const xv = Float32Array.from({ length: N * H * W * C }, () => r() * 2 - 1);
  const gv = Float32Array.from({ length: N * H * W * C }, () => r() * 2 - 1);
  const x = tf.tensor4d(xv, [N, H, W, C]);
  const g = tf.tensor4d(gv, [N, H, W, C]);
  const cases: [JitterDraw, boolean][] = [
    [{ dy: 1, dx: -2, flip: false }, false], [{ dy: -3, dx: 4, flip: true }, true], [{ dy: 0, dx: 0, flip: true }, true],
    [{ dy: 2, dx: 1, flip: true }, false], [{ dy: 5, dx: -6, flip: false }, true], // beyond the size: wraps
  ];
  for (const [d, flip] of cases) {
    const fwd = new Float32Array(xv.length);
    const adj = new Float32Array(xv.length);
    for (let n = 0; n < N; n++) {
      for (let rr = 0; rr < H; rr++) {
        for (let q = 0; q < W; q++) {
          const [sr, sq] = source(rr, q, d, flip);
          for (let c = 0; c < C; c++) {
            fwd[at(n, rr, q, c)] = xv[at(n, sr, sq, c)];
            adj[at(n, sr, sq, c)] += gv[at(n, rr, q, c)];
          }
        }
      }
    }
    const view = jitterView(x, d, flip);
    assert.deepEqual(view.dataSync(), fwd, `forward ${JSON.stringify(d)} flip ${flip}`);
    const grad = tf.grad((v: tf.Tensor) => jitterView(v, d, flip).mul(g).sum())(x);
    assert.deepEqual(grad.dataSync(), adj, `backward ${JSON.stringify(d)} flip ${flip}`);
    tf.dispose([view, grad]);
  }
  // torch.roll's sense on a hand case: [0, 1, 2, 3] rolled by 1 → [3, 0, 1, 2]
  const v = tf.tensor1d([0, 1, 2, 3]);
  assert.deepEqual(Array.from(rollAxis(v, 1, 0).dataSync()), [3, 0, 1, 2]);
  assert.deepEqual(Array.from(rollAxis(v, -1, 0).dataSync()), [1, 2, 3, 0]);
  // vectors pass through
  const vec = tf.tensor2d([[1, 2, 3]]);
  assert.deepEqual(jitterView(vec, { dy: 1, dx: 1, flip: true }, true).arraySync(), [[1, 2, 3]]);
  tf.dispose([x, g, v, vec]);
});

/** input [6, 6, 1] → BN → 1×1 conv (1→2) → BN → flatten → dense 3: the dense layer sees positions, so a roll changes the logits. */
function positionalBnTeacher(): tf.LayersModel {
  const r = mulberry32(21);
  const u = (shape: number[], lo: number, hi: number) => tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * r()), shape);
  const input = tf.input({ shape: [6, 6, 1] });
  const bnA = tf.layers.batchNormalization({ name: 'bn_a' });
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'conv' });
  const bnB = tf.layers.batchNormalization({ name: 'bn_b' });
  const dense = tf.layers.dense({ units: 3, name: 'logits' });
  const out = dense.apply(tf.layers.flatten().apply(bnB.apply(conv.apply(bnA.apply(input))))) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  bnA.setWeights([u([1], 0.5, 1.5), u([1], -0.5, 0.5), u([1], 0.2, 0.6), u([1], 0.02, 0.1)]);
  conv.setWeights([u([1, 1, 1, 2], -1, 1), u([2], -0.2, 0.2)]);
  bnB.setWeights([u([2], 0.5, 1.5), u([2], -0.5, 0.5), u([2], -0.3, 0.3), u([2], 0.1, 0.5)]);
  dense.setWeights([u([72, 3], -0.5, 0.5), u([3], -0.1, 0.1)]);
  return model;
}

test('a seeded synthesis with jitter and flips: the teacher sees the view, the BN term still falls, the same seed gives the same inputs', async () => {
  const model = positionalBnTeacher();
  const taps = bnTaps(model);
  const before = tf.memory().numTensors;
  const settings = { batchSize: 12, iterations: 60, learningRate: 0.05, bnWeight: 1, tvWeight: 1e-4, l2Weight: 1e-5, seed: 4, jitter: 2, flip: true };
  const seen: Record<string, number>[] = [];
  const opts = { taps, shape: [6, 6, 1], classes: 3, samples: 12, index: 1, settings, range: [0, 1] as [number, number] };
  const r = await synthesizeBatch({ ...opts, onIteration: (_it, losses) => { seen.push(losses); } });
  assert.ok(r.bnLoss.end < 0.5 * r.bnLoss.start, `BN term ${r.bnLoss.start} → ${r.bnLoss.end}`);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  // iteration 1's class term is the teacher's cross-entropy on the first draw's view of the starting noise
  const d1 = jitterDraws(4, 1, 1, 2)[0];
  assert.ok(d1.dy !== 0 || d1.dx !== 0 || d1.flip, 'the first draw moves the batch (else the check below proves nothing)');
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'), 3);
  const x0 = tf.tensor4d(startingNoise(4, 1, 12 * 36), [12, 6, 6, 1]);
  const ce = (x: tf.Tensor) => (tf.losses.softmaxCrossEntropy(labels, (taps.model.apply(x, { training: false }) as tf.Tensor[])[0]) as tf.Scalar).dataSync()[0];
  const viewed = ce(jitterView(x0, d1, true));
  assert.ok(Math.abs(seen[0].class - viewed) < 1e-4 * Math.max(1, viewed), `class term ${seen[0].class} vs ${viewed} on the view`);
  assert.ok(Math.abs(seen[0].class - ce(x0)) > 1e-3, 'the unshifted batch gives another class term');
  // reproducible, and not the unjittered synthesis
  const again = await synthesizeBatch(opts);
  assert.deepEqual(again.x, r.x);
  const plain = await synthesizeBatch({ ...opts, settings: { ...settings, jitter: 0, flip: false } });
  assert.notDeepEqual(plain.x, r.x);
  tf.dispose([labels, x0]);
  taps.dispose();
  model.dispose();
});

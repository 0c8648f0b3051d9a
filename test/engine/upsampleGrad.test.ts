/**
 * Nearest-neighbour upsampling's gradient (UpSampling2D, tf.image.resizeNearestNeighbor) for
 * batch ≥ 2 on every backend this machine has, against two independent references:
 *   - the adjoint of the forward pass, built column by column from forward passes of one-hot
 *     inputs (no gradient kernel involved): dL/dx_i = Σ_j w_j · forward(e_i)_j for L = Σ w ⊙ y;
 *   - central finite differences of a non-linear loss.
 * tfjs-backend-cpu 4.22's own kernel fails the first (samples ≥ 1 read sample 0's dy slice);
 * src/engine/backend/cpu replaces it. tfjs-backend-wasm 4.22's ignores `halfPixelCenters` (max error
 * 1.95 on the 3×3→5×8 case); src/engine/backend/wasm/ResizeNearestNeighborGrad.ts fixes that. Then a fitnet pair whose adapter upsamples trains to the
 * same losses on cpu and wasm.
 *
 *   node --import tsx --test test/engine/upsampleGrad.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { runExperiment } from '../../src/engine/run';
import { planAdapter } from '../../src/engine/knowledge/pairs';
import { buildReviewFusion } from '../../src/engine/knowledge/reviewkd';
import { imageExperiment, metricLines, studentCnn, teacherCnn, tempDir, writeExperiment } from '../helpers/experiments';

type Backend = 'cpu' | 'wasm' | 'tensorflow';

/** The backends to check: cpu and wasm always; tensorflow when tfjs-node loads here. */
async function backends(): Promise<Backend[]> {
  const out: Backend[] = ['cpu', 'wasm'];
  try {
    await initBackend('tensorflow');
    out.push('tensorflow');
  } catch {
    // tfjs-node is optional and not installable offline
  }
  return out;
}

/** Deterministic values in [-1, 1) (a small LCG: the test needs no tfjs randomness). */
function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 31 - 1;
  }
  return v;
}

type Resize = (x: tf.Tensor4D) => tf.Tensor4D;

/** dL/dx for L = Σ w ⊙ resize(x), by the adjoint of the forward pass (one forward per input element). */
function adjointReference(resize: Resize, shape: [number, number, number, number], w: Float32Array): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const dx = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const e = new Float32Array(n);
    e[i] = 1;
    const col = tf.tidy(() => resize(tf.tensor4d(e, shape)).dataSync());
    assert.equal(col.length, w.length, 'forward output size');
    let s = 0;
    for (let j = 0; j < col.length; j++) s += col[j] * w[j];
    dx[i] = s;
  }
  return dx;
}

/** The gradient tfjs computes (the backend's gradient kernel) for L = Σ w ⊙ resize(x). */
function tapeGradient(resize: Resize, x: Float32Array, shape: [number, number, number, number], w: Float32Array): Float32Array {
  return tf.tidy(() => {
    const wt = tf.tensor(w);
    const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(resize(xx as tf.Tensor4D).reshape([-1]), wt)))(tf.tensor4d(x, shape));
    return g.dataSync() as Float32Array;
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const layerResize = (size: [number, number]): Resize => {
  const layer = tf.layers.upSampling2d({ size });
  return (x) => layer.apply(x) as tf.Tensor4D;
};

interface Case {
  label: string;
  shape: [number, number, number, number];
  resize: Resize;
  /** Output element count. */
  out: number;
}

const CASES: Case[] = [
  { label: 'UpSampling2D 2×2, batch 2', shape: [2, 2, 2, 1], resize: layerResize([2, 2]), out: 2 * 4 * 4 * 1 },
  { label: 'UpSampling2D 2×3, batch 3, 2 channels', shape: [3, 3, 2, 2], resize: layerResize([2, 3]), out: 3 * 6 * 6 * 2 },
  { label: 'UpSampling2D 4×4, batch 2, 3 channels', shape: [2, 2, 3, 3], resize: layerResize([4, 4]), out: 2 * 8 * 12 * 3 },
  { label: 'resizeNearestNeighbor 3×3→5×7, batch 2', shape: [2, 3, 3, 2], resize: (x) => tf.image.resizeNearestNeighbor(x, [5, 7]), out: 2 * 5 * 7 * 2 },
  { label: 'resizeNearestNeighbor alignCorners 3×4→7×5, batch 2', shape: [2, 3, 4, 1], resize: (x) => tf.image.resizeNearestNeighbor(x, [7, 5], true), out: 2 * 7 * 5 },
  { label: 'resizeNearestNeighbor halfPixelCenters 3×3→5×8, batch 2', shape: [2, 3, 3, 1], resize: (x) => tf.image.resizeNearestNeighbor(x, [5, 8], false, true), out: 2 * 5 * 8 },
  { label: 'resizeNearestNeighbor downsampling 6×6→4×3, batch 2', shape: [2, 6, 6, 1], resize: (x) => tf.image.resizeNearestNeighbor(x, [4, 3]), out: 2 * 4 * 3 },
];

test('the team\'s 2-sample example: sample 1 gets its own gradient on every backend', async () => {
  // x = [2,2,2,1] upsampled 2×2, L = Σ w ⊙ y with w = 1..32: dx = the sum of each 2×2 block of w.
  const w = Float32Array.from({ length: 32 }, (_, i) => i + 1);
  const expected = [14, 22, 46, 54, 78, 86, 110, 118];
  for (const b of await backends()) {
    await initBackend(b);
    const g = tapeGradient(layerResize([2, 2]), new Float32Array(8), [2, 2, 2, 1], w);
    assert.deepEqual(Array.from(g), expected, `${b}: ${Array.from(g)}`);
  }
});

test('nearest upsampling gradient = adjoint of the forward pass, batch ≥ 2, every backend', async () => {
  for (const b of await backends()) {
    await initBackend(b);
    for (const c of CASES) {
      const n = c.shape.reduce((a, v) => a * v, 1);
      const w = values(c.out, 7 + n);
      const ref = adjointReference(c.resize, c.shape, w);
      const got = tapeGradient(c.resize, values(n, 3), c.shape, w);
      const err = maxAbsDiff(got, ref);
      assert.ok(err < 1e-5, `${b}, ${c.label}: max |grad − reference| = ${err}`);
    }
  }
});

test('nearest upsampling gradient = central finite differences of a non-linear loss, every backend', async () => {
  // L = Σ w ⊙ y² (quadratic: central differences are exact up to rounding; float64 sums in JS).
  const shape: [number, number, number, number] = [3, 2, 3, 2];
  const n = 3 * 2 * 3 * 2;
  const resize = layerResize([3, 2]);
  const w = values(n * 6, 11);
  const x0 = values(n, 5);
  const loss = (x: Float32Array): number => {
    const y = tf.tidy(() => resize(tf.tensor4d(x, shape)).dataSync());
    let s = 0;
    for (let j = 0; j < y.length; j++) s += w[j] * y[j] * y[j];
    return s;
  };
  for (const b of await backends()) {
    await initBackend(b);
    const got = tf.tidy(() => {
      const wt = tf.tensor(w);
      return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.square(resize(xx as tf.Tensor4D)).reshape([-1]), wt)))(tf.tensor4d(x0, shape)).dataSync() as Float32Array;
    });
    const eps = 1e-2;
    const fd = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const xp = Float32Array.from(x0);
      const xm = Float32Array.from(x0);
      xp[i] += eps;
      xm[i] -= eps;
      fd[i] = (loss(xp) - loss(xm)) / (2 * eps);
    }
    const err = maxAbsDiff(got, fd);
    assert.ok(err < 1e-3, `${b}: max |grad − finite difference| = ${err}`);
  }
});

test('a fitnet pair with an "upsample 2×2" adapter trains to the same losses on cpu and wasm', async (t) => {
  // Teacher conv_1 is 8×8×6, student conv_2 is 4×4×4: the adapter is upsample 2×2 → conv1x1 4→6.
  const losses: Record<string, number[]> = {};
  const plan = planAdapter('fitnet', { teacher: 'conv_1', student: 'conv_2', adapter: 'auto' }, [null, 4, 4, 4], [null, 8, 8, 6]);
  assert.equal(plan.description, 'upsample 2×2 → conv1x1 4→6');
  for (const b of ['cpu', 'wasm'] as const) {
    const dir = tempDir();
    const file = writeExperiment(dir, imageExperiment({
      seeds: [1],
      teacher: { ...teacherCnn, train: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', learningRate: 0.05 } } },
      student: studentCnn,
      knowledge: [{ kind: 'feature', method: 'fitnet', weight: 10, pairs: [{ teacher: 'conv_1', student: 'conv_2' }] }],
      labels: { weight: 1 },
      training: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', learningRate: 0.5 }, logEvery: 1 },
    }, 96));
    const r = await runExperiment({ experiment: file, backend: b, teacherThread: false });
    assert.equal(r.status, 'completed', r.error);
    const lines = metricLines(r.runDir);
    const steps = lines.filter((l) => l.type === 'step' && l.job === 'distill-s1');
    assert.ok(steps.length >= 3, `${b}: ${steps.length} steps`);
    losses[b] = steps.slice(0, 3).map((s) => (s.losses as Record<string, number>).total);
  }
  // Step 1's loss is before any update (the models start equal); steps 2 and 3 follow one and two updates.
  for (let i = 0; i < 3; i++) {
    const rel = Math.abs(losses.cpu[i] - losses.wasm[i]) / Math.abs(losses.wasm[i]);
    t.diagnostic(`step ${i + 1}: cpu ${losses.cpu[i]} wasm ${losses.wasm[i]} relative ${rel.toExponential(2)}`);
    assert.ok(rel < 1e-4, `step ${i + 1}: cpu ${losses.cpu[i]} vs wasm ${losses.wasm[i]} (relative ${rel.toExponential(2)})`);
  }
  await initBackend('wasm');
});

test('reviewkd\'s fusion (upsampling inside) has the same gradients on cpu and wasm, batch 3', async () => {
  // Student stages 4×4×3 and 2×2×5, teacher stages 8×8×4 and 4×4×6: the deeper stage is upsampled
  // 2×2 into the shallower, and each fused stage 2×2 to its teacher's size.
  const student = [[null, 4, 4, 3], [null, 2, 2, 5]];
  const teacher = [[null, 8, 8, 4], [null, 4, 4, 6]];
  const xs = [values(3 * 4 * 4 * 3, 21), values(3 * 2 * 2 * 5, 22)];
  const ws = [values(3 * 8 * 8 * 4, 23), values(3 * 4 * 4 * 6, 24)];
  let weights: Float32Array[] | undefined;
  const grads: Record<string, Float32Array[]> = {};
  for (const b of ['wasm', 'cpu'] as const) {
    await initBackend(b);
    const fusion = buildReviewFusion(`abf_${b}`, student, teacher, 4);
    weights ??= fusion.getWeights().map((w) => w.dataSync() as Float32Array);
    const init = weights.map((v, i) => tf.tensor(v, fusion.getWeights()[i].shape));
    fusion.setWeights(init);
    tf.dispose(init);
    grads[b] = tf.tidy(() => {
      const inputs = xs.map((v, i) => tf.tensor(v, [3, ...(student[i].slice(1) as number[])]));
      const lossOf = (ins: tf.Tensor[]): tf.Scalar => tf.addN((fusion.apply(ins) as tf.Tensor[])
        .map((o, i) => tf.sum(tf.mul(o.reshape([-1]), tf.tensor(ws[i]))))) as tf.Scalar;
      const vars = fusion.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const { grads: g } = tf.variableGrads(() => lossOf(inputs), vars);
      const byWeight = vars.map((v) => g[v.name].dataSync() as Float32Array);
      const byInput = tf.grads((a: tf.Tensor, c: tf.Tensor) => lossOf([a, c]))(inputs).map((t) => t.dataSync() as Float32Array);
      return [...byWeight, ...byInput];
    });
    fusion.dispose();
  }
  assert.equal(grads.cpu.length, grads.wasm.length);
  grads.wasm.forEach((w, i) => {
    let scale = 0;
    for (const v of w) scale = Math.max(scale, Math.abs(v));
    const err = maxAbsDiff(grads.cpu[i], w);
    assert.ok(err <= 1e-4 * Math.max(1, scale), `gradient ${i}: max |cpu − wasm| = ${err} (scale ${scale})`);
  });
  await initBackend('wasm');
});

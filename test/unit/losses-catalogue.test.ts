/**
 * The distillation loss catalogue against independent computations: for every method a naive
 * float64 reference written from the formula (plain loops, no tf), its central finite differences
 * for the gradient w.r.t. the student, the zero when the student equals the teacher, no tensor
 * leaks, and the exact shape errors.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../src/engine/training/random';
import { kdLoss } from '../../src/engine/losses/response/kd';
import { dkdLoss } from '../../src/engine/losses/response/dkd';
import { multiTeacherKdLoss } from '../../src/engine/losses/response/multiTeacher';
import { fitnetLoss } from '../../src/engine/losses/feature/fitnet';
import { attentionMap, atLoss } from '../../src/engine/losses/feature/at';
import { nstLoss } from '../../src/engine/losses/feature/nst';
import { rkdAngleLoss, rkdDistanceLoss } from '../../src/engine/losses/relation/rkd';
import { spLoss } from '../../src/engine/losses/relation/sp';
import { fspLoss, fspMatrix } from '../../src/engine/losses/relation/fsp';
import { pktLoss } from '../../src/engine/losses/relation/pkt';
import { ccLoss } from '../../src/engine/losses/relation/cc';
import { METHOD_INFO, pairShapeError } from '../../src/methods/catalogue';

before(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Helpers: flat float64 arrays with a shape, finite differences, comparisons.

type Shape = number[];
const size = (shape: Shape): number => shape.reduce((a, d) => a * d, 1);

function randomArray(rng: () => number, shape: Shape, scale = 1): number[] {
  return Array.from({ length: size(shape) }, () => (rng() * 2 - 1) * scale);
}

/** Rows of a batch-first flat array: [B, D] with D = everything after the batch. */
function rowsOf(x: number[], batch: number): number[][] {
  const d = x.length / batch;
  return Array.from({ length: batch }, (_, b) => x.slice(b * d, (b + 1) * d));
}

function assertRel(actual: number, expected: number, tol: number, what: string): void {
  const scale = Math.max(Math.abs(expected), 1e-3);
  assert.ok(Number.isFinite(actual), `${what}: not finite: ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tol * scale, `${what}: ${actual} vs ${expected}`);
}

/** Central finite differences of f at x (float64). */
function numericGrad(f: (x: number[]) => number, x: number[], eps: number): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += eps;
    minus[i] -= eps;
    return (f(plus) - f(minus)) / (2 * eps);
  });
}

/** Each component within tol of the reference, relative to max(|ref_i|, 10% of the largest |ref|). */
function assertGradClose(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const largest = Math.max(...expected.map(Math.abs));
  assert.ok(largest > 1e-6, `${what}: reference gradient is ~0, the check would be vacuous`);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(Math.abs(expected[i]), 0.1 * largest);
    assert.ok(Number.isFinite(actual[i]), `${what}[${i}]: not finite: ${actual[i]}`);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** tf.grad of `loss` w.r.t. a student tensor built from x, against finite differences of `naive`. */
function checkGrad(what: string, loss: (x: tf.Tensor) => tf.Scalar, naive: (x: number[]) => number,
  x: number[], shape: Shape, eps = 1e-5, tol = 1e-3): void {
  const g = tf.tidy(() => tf.grad(loss)(tf.tensor(x, shape)).dataSync());
  assertGradClose(g, numericGrad(naive, x, eps), tol, what);
}

function value(loss: () => tf.Scalar): number {
  const t = loss();
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

function softmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

function kl(p: number[], q: number[]): number {
  return p.reduce((a, pi, i) => a + (pi > 0 ? pi * Math.log(pi / q[i]) : 0), 0);
}

function normalise(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return n > 0 ? v.map((x) => x / n) : v.map(() => 0);
}

const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i], 0);
const sqDist = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
const huber = (d: number): number => (Math.abs(d) < 1 ? 0.5 * d * d : Math.abs(d) - 0.5);

// ---------------------------------------------------------------------------------------------
// Naive float64 references, straight from the formulas.

function naiveKd(zs: number[][], zt: number[][], T: number): number {
  let total = 0;
  for (let b = 0; b < zs.length; b++) total += kl(softmax(zt[b].map((v) => v / T)), softmax(zs[b].map((v) => v / T)));
  return (T * T * total) / zs.length;
}

/** DKD with the non-target softmax taken over the classes c ≠ y only (exact, no masking). */
function naiveDkd(zs: number[][], zt: number[][], y: number[], alpha: number, beta: number, T: number): number {
  let total = 0;
  for (let b = 0; b < zs.length; b++) {
    const ps = softmax(zs[b].map((v) => v / T));
    const pt = softmax(zt[b].map((v) => v / T));
    const others = (p: number[]) => p.reduce((a, v, c) => (c === y[b] ? a : a + v), 0);
    const tckd = kl([pt[y[b]], others(pt)], [ps[y[b]], others(ps)]);
    const drop = (z: number[]) => z.filter((_, c) => c !== y[b]).map((v) => v / T);
    const nckd = kl(softmax(drop(zt[b])), softmax(drop(zs[b])));
    total += alpha * tckd + beta * nckd;
  }
  return (T * T * total) / zs.length;
}

function naiveMultiKd(zs: number[][], zts: number[][][], w: number[], T: number): number {
  const sum = w.reduce((a, v) => a + v, 0);
  let total = 0;
  for (let b = 0; b < zs.length; b++) {
    const mix = new Array<number>(zs[b].length).fill(0);
    zts.forEach((zt, i) => softmax(zt[b].map((v) => v / T)).forEach((p, c) => { mix[c] += (w[i] / sum) * p; }));
    total += kl(mix, softmax(zs[b].map((v) => v / T)));
  }
  return (T * T * total) / zs.length;
}

function naiveFitnet(s: number[], t: number[]): number {
  return s.reduce((a, v, i) => a + (v - t[i]) ** 2, 0) / s.length;
}

/** [B,H,W,C] → [B][H·W]: Σ_c |f|^p, L2-normalised per sample. */
function naiveAttention(f: number[], [B, H, W, C]: Shape, p: number): number[][] {
  const maps: number[][] = [];
  for (let b = 0; b < B; b++) {
    const q: number[] = [];
    for (let hw = 0; hw < H * W; hw++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.abs(f[(b * H * W + hw) * C + c]) ** p;
      q.push(s);
    }
    maps.push(normalise(q));
  }
  return maps;
}

function naiveAt(s: number[], sShape: Shape, t: number[], tShape: Shape, p: number): number {
  const as = naiveAttention(s, sShape, p);
  const at = naiveAttention(t, tShape, p);
  let total = 0;
  let n = 0;
  for (let b = 0; b < as.length; b++) {
    for (let i = 0; i < as[b].length; i++) { total += (as[b][i] - at[b][i]) ** 2; n++; }
  }
  return total / n;
}

/** Sample b of an NHWC array as C channel maps of length H·W, each L2-normalised. */
function channelMaps(f: number[], [, H, W, C]: Shape, b: number): number[][] {
  return Array.from({ length: C }, (_, c) =>
    normalise(Array.from({ length: H * W }, (_, hw) => f[(b * H * W + hw) * C + c])));
}

function naiveNst(s: number[], sShape: Shape, t: number[], tShape: Shape): number {
  const B = sShape[0];
  const meanKernel = (a: number[][], c: number[][]) => {
    let total = 0;
    for (const x of a) for (const y of c) total += dot(x, y) ** 2;
    return total / (a.length * c.length);
  };
  let total = 0;
  for (let b = 0; b < B; b++) {
    const ms = channelMaps(s, sShape, b);
    const mt = channelMaps(t, tShape, b);
    total += meanKernel(mt, mt) + meanKernel(ms, ms) - 2 * meanKernel(mt, ms);
  }
  return total / B;
}

function naiveRkdDistance(s: number[][], t: number[][]): number {
  const B = s.length;
  const psi = (x: number[][]) => {
    const d = x.map((xi, i) => x.map((xj, j) => (i === j ? 0 : Math.sqrt(sqDist(xi, xj)))));
    let mean = 0;
    for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) if (i !== j) mean += d[i][j];
    mean /= B * (B - 1);
    return d.map((row) => row.map((v) => v / mean));
  };
  const ds = psi(s);
  const dt = psi(t);
  let total = 0;
  for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) total += huber(ds[i][j] - dt[i][j]);
  return total / (B * B);
}

function naiveRkdAngle(s: number[][], t: number[][]): number {
  const B = s.length;
  const e = (x: number[][], i: number, j: number) => normalise(x[i].map((v, d) => v - x[j][d]));
  let total = 0;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      for (let k = 0; k < B; k++) {
        total += huber(dot(e(s, i, j), e(s, k, j)) - dot(e(t, i, j), e(t, k, j)));
      }
    }
  }
  return total / (B * B * B);
}

function naiveSp(s: number[][], t: number[][]): number {
  const B = s.length;
  const g = (x: number[][]) => x.map((xi) => normalise(x.map((xj) => dot(xi, xj))));
  const gs = g(s);
  const gt = g(t);
  let total = 0;
  for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) total += (gs[i][j] - gt[i][j]) ** 2;
  return total / (B * B);
}

/** [B][C1][C2] = Σ_hw F1(hw, i)·F2(hw, j) / (H·W). */
function naiveFspMatrix(f1: number[], [B, H, W, C1]: Shape, f2: number[], c2: number): number[][][] {
  const hw = H * W;
  return Array.from({ length: B }, (_, b) => Array.from({ length: C1 }, (_, i) => Array.from({ length: c2 }, (_, j) => {
    let s = 0;
    for (let p = 0; p < hw; p++) s += f1[(b * hw + p) * C1 + i] * f2[(b * hw + p) * c2 + j];
    return s / hw;
  })));
}

function naivePkt(s: number[][], t: number[][], eps: number): number {
  const cond = (x: number[][]) => {
    const xn = x.map(normalise);
    return xn.map((xi) => {
      const k = xn.map((xj) => (dot(xi, xj) + 1) / 2);
      const sum = k.reduce((a, v) => a + v, 0);
      return k.map((v) => v / sum);
    });
  };
  const ps = cond(s);
  const pt = cond(t);
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    for (let j = 0; j < s.length; j++) total += pt[i][j] * Math.log((pt[i][j] + eps) / (ps[i][j] + eps));
  }
  return total / s.length;
}

function naiveCc(s: number[][], t: number[][], gamma: number): number {
  const c = (x: number[][]) => {
    const xn = x.map(normalise);
    return xn.map((xi) => xn.map((xj) => Math.exp(-gamma * sqDist(xi, xj))));
  };
  const cs = c(s);
  const ct = c(t);
  let total = 0;
  for (let i = 0; i < s.length; i++) for (let j = 0; j < s.length; j++) total += (cs[i][j] - ct[i][j]) ** 2;
  return total / (s.length * s.length);
}

// ---------------------------------------------------------------------------------------------
// Shared fixtures: B = 4 NHWC maps 3×3 (student C = 2, teacher C = 3); relation features
// student [4,5], teacher [4,3,2] (flattened to D = 6); logits [4,5].

const B = 4;
const S4: Shape = [B, 3, 3, 2];
const T4: Shape = [B, 3, 3, 3];
const SR: Shape = [B, 5];
const TR: Shape = [B, 3, 2];

interface RelationCase {
  method: string;
  loss: (s: tf.Tensor, t: tf.Tensor) => tf.Scalar;
  naive: (s: number[][], t: number[][]) => number;
}

const RELATIONS: RelationCase[] = [
  { method: 'rkd-distance', loss: rkdDistanceLoss, naive: naiveRkdDistance },
  { method: 'rkd-angle', loss: rkdAngleLoss, naive: naiveRkdAngle },
  { method: 'sp', loss: spLoss, naive: naiveSp },
  { method: 'pkt', loss: (s, t) => pktLoss(s, t), naive: (s, t) => naivePkt(s, t, 1e-7) },
  { method: 'cc', loss: (s, t) => ccLoss(s, t), naive: (s, t) => naiveCc(s, t, 0.4) },
  { method: 'cc γ=2', loss: (s, t) => ccLoss(s, t, 2), naive: (s, t) => naiveCc(s, t, 2) },
];

// ---------------------------------------------------------------------------------------------
// Response-based.

test('DKD equals the naive float64 reference (exact non-target softmax) for several T, α, β', () => {
  const rng = mulberry32(11);
  for (const [T, alpha, beta] of [[1, 1, 8], [4, 1, 8], [2, 0.5, 2], [10, 1, 0]]) {
    const zs = rowsOf(randomArray(rng, [B, 5], 3), B);
    const zt = rowsOf(randomArray(rng, [B, 5], 5), B);
    const y = [0, 4, 2, 2];
    const got = value(() => dkdLoss(tf.tensor2d(zs), tf.tensor2d(zt), tf.tensor1d(y, 'int32'), { alpha, beta, temperature: T }));
    assertRel(got, naiveDkd(zs, zt, y, alpha, beta, T), 1e-4, `T=${T} α=${alpha} β=${beta}`);
  }
});

test('DKD hand-computed cases: 2 classes (NCKD vanishes) and 3 classes', () => {
  // 2 classes, label 0: b_t = [3/4, 1/4], b_s = [1/2, 1/2]; the single non-target class gives NCKD = 0.
  const tckd2 = 0.75 * Math.log(1.5) + 0.25 * Math.log(0.5);
  const two = (T: number) => value(() => dkdLoss(tf.tensor2d([[0, 0]]), tf.tensor2d([[T * Math.log(3), 0]]),
    tf.tensor1d([0], 'int32'), { alpha: 1, beta: 8, temperature: T }));
  assertRel(two(1), tckd2, 1e-5, '2 classes, T=1');
  assertRel(two(2), 4 * tckd2, 1e-5, '2 classes, T=2 (×T²)');
  // 3 classes, label 0, T = 1: p_t = [1/4, 1/2, 1/4], p_s = [1/3, 1/3, 1/3].
  // TCKD = KL([1/4, 3/4] ‖ [1/3, 2/3]); NCKD = KL([2/3, 1/3] ‖ [1/2, 1/2]).
  const tckd3 = 0.25 * Math.log(0.75) + 0.75 * Math.log(9 / 8);
  const nckd3 = (2 / 3) * Math.log(4 / 3) + (1 / 3) * Math.log(2 / 3);
  const three = value(() => dkdLoss(tf.tensor2d([[0, 0, 0]]), tf.tensor2d([[0, Math.log(2), 0]]),
    tf.tensor1d([0], 'int32'), { alpha: 2, beta: 3, temperature: 1 }));
  assertRel(three, 2 * tckd3 + 3 * nckd3, 1e-5, '3 classes');
});

test('DKD with α = 1, β = 1 − p_t(target) is classic KD (the paper\'s decomposition)', () => {
  const rng = mulberry32(12);
  for (const T of [1, 4]) {
    const zs = [randomArray(rng, [6], 3)];
    const zt = [randomArray(rng, [6], 3)];
    const y = 3;
    const ptTarget = softmax(zt[0].map((v) => v / T))[y];
    const dkd = value(() => dkdLoss(tf.tensor2d(zs), tf.tensor2d(zt), tf.tensor1d([y], 'int32'), { alpha: 1, beta: 1 - ptTarget, temperature: T }));
    const kd = value(() => kdLoss(tf.tensor2d(zs), tf.tensor2d(zt), T));
    assertRel(dkd, kd, 1e-4, `T=${T}`);
  }
});

test('DKD gradient matches finite differences; zero when the student equals the teacher', () => {
  const rng = mulberry32(13);
  const y = [1, 0, 3, 3];
  for (const T of [1, 4]) {
    const zs = randomArray(rng, [B, 5], 3);
    const zt = rowsOf(randomArray(rng, [B, 5], 3), B);
    const opts = { alpha: 1, beta: 8, temperature: T };
    checkGrad(`dkd T=${T}`, (x) => dkdLoss(x, tf.tensor2d(zt), tf.tensor1d(y, 'int32'), opts),
      (x) => naiveDkd(rowsOf(x, B), zt, y, 1, 8, T), zs, [B, 5]);
    const same = value(() => dkdLoss(tf.tensor2d(zt), tf.tensor2d(zt), tf.tensor1d(y, 'int32'), opts));
    assert.ok(Math.abs(same) < 1e-5, `dkd(t, t) = ${same}`);
  }
});

test('DKD stays finite when the target probability is ~1 (log-space binary probabilities)', () => {
  const zs = tf.tensor2d([[40, 0, 0], [0, 0, 0]]);
  const zt = tf.tensor2d([[60, 1, 0], [0, 50, 0]]);
  const y = tf.tensor1d([0, 1], 'int32');
  const opts = { alpha: 1, beta: 8, temperature: 1 };
  const v = value(() => dkdLoss(zs, zt, y, opts));
  assertRel(v, naiveDkd(zs.arraySync(), zt.arraySync(), [0, 1], 1, 8, 1), 1e-4, 'confident');
  const g = tf.tidy(() => tf.grad((x: tf.Tensor) => dkdLoss(x, zt, y, opts))(zs).dataSync());
  assert.ok(Array.from(g).every(Number.isFinite), `gradient ${Array.from(g)}`);
});

test('multi-teacher KD equals the naive reference, gradient matches finite differences', () => {
  const rng = mulberry32(14);
  const zs = randomArray(rng, [B, 5], 3);
  const zts = [0, 1, 2].map(() => rowsOf(randomArray(rng, [B, 5], 4), B));
  const w = [1, 2, 0.5];
  for (const T of [1, 3]) {
    const got = value(() => multiTeacherKdLoss(tf.tensor2d(rowsOf(zs, B)), zts.map((z) => tf.tensor2d(z)), w, T));
    assertRel(got, naiveMultiKd(rowsOf(zs, B), zts, w, T), 1e-4, `T=${T}`);
    checkGrad(`multi-kd T=${T}`, (x) => multiTeacherKdLoss(x, zts.map((z) => tf.tensor2d(z)), w, T),
      (x) => naiveMultiKd(rowsOf(x, B), zts, w, T), zs, [B, 5]);
  }
  // A zero weight drops that teacher.
  const dropped = value(() => multiTeacherKdLoss(tf.tensor2d(rowsOf(zs, B)), zts.map((z) => tf.tensor2d(z)), [1, 0, 1], 2));
  assertRel(dropped, naiveMultiKd(rowsOf(zs, B), [zts[0], zts[2]], [1, 1], 2), 1e-4, 'zero weight');
});

test('multi-teacher KD with one teacher (any weight) is KD; zero when every teacher equals the student', () => {
  const rng = mulberry32(15);
  const zs = tf.tensor2d(rowsOf(randomArray(rng, [B, 7], 3), B));
  const zt = tf.tensor2d(rowsOf(randomArray(rng, [B, 7], 3), B));
  for (const T of [1, 4]) {
    const kd = value(() => kdLoss(zs, zt, T));
    assertRel(kd, naiveKd(zs.arraySync(), zt.arraySync(), T), 1e-5, `kd T=${T}`);
    assertRel(value(() => multiTeacherKdLoss(zs, [zt], [1], T)), kd, 1e-5, `T=${T}`);
    assertRel(value(() => multiTeacherKdLoss(zs, [zt], [3.5], T)), kd, 1e-5, `T=${T} w=3.5`);
    assertRel(value(() => multiTeacherKdLoss(zs, [zt, zt], [1, 2], T)), kd, 1e-5, `T=${T} twice`);
  }
  assert.ok(Math.abs(value(() => multiTeacherKdLoss(zs, [zs, zs], [1, 1], 2))) < 1e-5);
});

// ---------------------------------------------------------------------------------------------
// Feature-based.

test('FitNets equals the naive mean squared error, gradient matches, zero at equality', () => {
  const rng = mulberry32(21);
  const shape = [B, 3, 3, 2];
  const s = randomArray(rng, shape);
  const t = randomArray(rng, shape);
  assertRel(value(() => fitnetLoss(tf.tensor(s, shape), tf.tensor(t, shape))), naiveFitnet(s, t), 1e-5, 'value');
  checkGrad('fitnet', (x) => fitnetLoss(x, tf.tensor(t, shape)), (x) => naiveFitnet(x, t), s, shape);
  assert.equal(value(() => fitnetLoss(tf.tensor(t, shape), tf.tensor(t, shape))), 0);
  // Any rank: dense features too.
  const s2 = randomArray(rng, [B, 6]);
  const t2 = randomArray(rng, [B, 6]);
  assertRel(value(() => fitnetLoss(tf.tensor(s2, [B, 6]), tf.tensor(t2, [B, 6]))), naiveFitnet(s2, t2), 1e-5, 'rank 2');
});

test('attention maps and AT loss equal the naive reference (channels differ), for p = 2 and p = 3', () => {
  const rng = mulberry32(22);
  const s = randomArray(rng, S4);
  const t = randomArray(rng, T4);
  for (const p of [2, 3]) {
    const map = tf.tidy(() => attentionMap(tf.tensor(s, S4), p).arraySync());
    const ref = naiveAttention(s, S4, p);
    map.forEach((row, b) => row.forEach((v, i) => assertRel(v, ref[b][i], 1e-5, `map p=${p} [${b},${i}]`)));
    assertRel(value(() => atLoss(tf.tensor(s, S4), tf.tensor(t, T4), p)), naiveAt(s, S4, t, T4, p), 1e-4, `loss p=${p}`);
  }
});

test('AT gradient matches finite differences; zero at equality', () => {
  const rng = mulberry32(23);
  const s = randomArray(rng, S4);
  const t = randomArray(rng, T4);
  for (const p of [2, 3]) {
    checkGrad(`at p=${p}`, (x) => atLoss(x, tf.tensor(t, T4), p), (x) => naiveAt(x, S4, t, T4, p), s, S4);
  }
  assert.ok(value(() => atLoss(tf.tensor(t, T4), tf.tensor(t, T4))) < 1e-10);
});

test('NST equals the naive MMD² reference (channels differ), gradient matches, zero at equality', () => {
  const rng = mulberry32(24);
  const s = randomArray(rng, S4);
  const t = randomArray(rng, T4);
  assertRel(value(() => nstLoss(tf.tensor(s, S4), tf.tensor(t, T4))), naiveNst(s, S4, t, T4), 1e-4, 'value');
  checkGrad('nst', (x) => nstLoss(x, tf.tensor(t, T4)), (x) => naiveNst(x, S4, t, T4), s, S4);
  assert.ok(Math.abs(value(() => nstLoss(tf.tensor(t, T4), tf.tensor(t, T4)))) < 1e-6);
});

// ---------------------------------------------------------------------------------------------
// Relation-based.

test('relation losses equal their naive references (D differs, teacher of rank 3)', () => {
  const rng = mulberry32(31);
  for (const c of RELATIONS) {
    for (let trial = 0; trial < 3; trial++) {
      const s = randomArray(rng, SR);
      const t = randomArray(rng, TR, 2);
      assertRel(value(() => c.loss(tf.tensor(s, SR), tf.tensor(t, TR))), c.naive(rowsOf(s, B), rowsOf(t, B)), 1e-4, `${c.method} #${trial}`);
    }
  }
});

test('relation loss gradients match finite differences of the naive references', () => {
  const rng = mulberry32(32);
  for (const c of RELATIONS) {
    const s = randomArray(rng, SR);
    const t = randomArray(rng, TR, 2);
    checkGrad(c.method, (x) => c.loss(x, tf.tensor(t, TR)), (x) => c.naive(rowsOf(x, B), rowsOf(t, B)), s, SR);
  }
});

test('relation losses are zero when the student equals the teacher, and for equal relations at other scales', () => {
  const rng = mulberry32(33);
  const t = randomArray(rng, SR);
  for (const c of RELATIONS) {
    const v = value(() => c.loss(tf.tensor(t, SR), tf.tensor(t, SR)));
    assert.ok(Math.abs(v) < 1e-6, `${c.method}(t, t) = ${v}`);
  }
  // Every one of them compares scale-free relations: a rescaled student has the teacher's relations.
  for (const c of RELATIONS) {
    const v = value(() => c.loss(tf.mul(tf.tensor(t, SR), 3), tf.tensor(t, SR)));
    assert.ok(Math.abs(v) < 1e-5, `${c.method}(3t, t) = ${v}`);
  }
});

test('RKD gradients stay finite with duplicate samples (zero distances off the diagonal)', () => {
  const s = tf.tensor2d([[1, 2, 3], [1, 2, 3], [0, 1, 0], [2, 0, 1]]);
  const t = tf.tensor2d([[0, 1], [1, 0], [1, 1], [0, 0]]);
  for (const loss of [rkdDistanceLoss, rkdAngleLoss]) {
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => loss(x, t))(s).dataSync());
    assert.ok(Array.from(g).every(Number.isFinite), `${loss.name}: ${Array.from(g)}`);
  }
});

test('relation losses with a batch of one are 0, not NaN', () => {
  for (const c of RELATIONS) {
    const v = value(() => c.loss(tf.ones([1, 5]), tf.ones([1, 3])));
    assert.ok(Math.abs(v) < 1e-7, `${c.method}: ${v}`);
  }
});

test('FSP matrix and loss equal the naive reference; gradients w.r.t. both student layers match', () => {
  const rng = mulberry32(34);
  const s1Shape = [B, 3, 3, 2];
  const s2Shape = [B, 3, 3, 3];
  const t1Shape = [B, 2, 2, 2]; // the teacher's spatial size may differ from the student's
  const t2Shape = [B, 2, 2, 3];
  const s1 = randomArray(rng, s1Shape);
  const s2 = randomArray(rng, s2Shape);
  const t1 = randomArray(rng, t1Shape);
  const t2 = randomArray(rng, t2Shape);
  const g = tf.tidy(() => fspMatrix(tf.tensor(s1, s1Shape), tf.tensor(s2, s2Shape)).arraySync());
  const ref = naiveFspMatrix(s1, s1Shape, s2, 3);
  assert.deepEqual([g.length, g[0].length, g[0][0].length], [B, 2, 3]);
  ref.forEach((m, b) => m.forEach((row, i) => row.forEach((v, j) => assertRel(g[b][i][j], v, 1e-5, `G[${b},${i},${j}]`))));

  const naive = (x1: number[], x2: number[]) => {
    const gs = naiveFspMatrix(x1, s1Shape, x2, 3).flat(2);
    const gt = naiveFspMatrix(t1, t1Shape, t2, 3).flat(2);
    return gs.reduce((a, v, i) => a + (v - gt[i]) ** 2, 0) / gs.length;
  };
  const teacher = () => [tf.tensor(t1, t1Shape), tf.tensor(t2, t2Shape)] as const;
  assertRel(value(() => fspLoss(tf.tensor(s1, s1Shape), tf.tensor(s2, s2Shape), ...teacher())), naive(s1, s2), 1e-4, 'loss');
  checkGrad('fsp ∂/∂fs1', (x) => fspLoss(x, tf.tensor(s2, s2Shape), ...teacher()), (x) => naive(x, s2), s1, s1Shape);
  checkGrad('fsp ∂/∂fs2', (x) => fspLoss(tf.tensor(s1, s1Shape), x, ...teacher()), (x) => naive(s1, x), s2, s2Shape);
  const same = value(() => fspLoss(tf.tensor(s1, s1Shape), tf.tensor(s2, s2Shape), tf.tensor(s1, s1Shape), tf.tensor(s2, s2Shape)));
  assert.equal(same, 0);
});

// ---------------------------------------------------------------------------------------------
// Leaks, errors, catalogue.

test('no loss leaks tensors, forward or through tf.grad', () => {
  const s4 = tf.randomNormal(S4);
  const t4 = tf.randomNormal(T4);
  const s2 = tf.randomNormal([B, 3, 3, 3]);
  const s4r = tf.randomNormal(S4);
  const sr = tf.randomNormal(SR);
  const tr = tf.randomNormal(TR);
  const zs = tf.randomNormal([B, 5]);
  const zt = tf.randomNormal([B, 5]);
  const y = tf.tensor1d([0, 1, 2, 3], 'int32');
  const calls: Array<[string, (x: tf.Tensor) => tf.Scalar, tf.Tensor]> = [
    ['dkd', (x) => dkdLoss(x, zt, y, { alpha: 1, beta: 8, temperature: 4 }), zs],
    ['multi-kd', (x) => multiTeacherKdLoss(x, [zt, zs], [1, 1], 4), zs],
    ['fitnet', (x) => fitnetLoss(x, s4), s4],
    ['at', (x) => atLoss(x, t4), s4],
    ['nst', (x) => nstLoss(x, t4), s4],
    ['fsp', (x) => fspLoss(x, s2, s4r, t4), s4],
    ...RELATIONS.map((c): [string, (x: tf.Tensor) => tf.Scalar, tf.Tensor] => [c.method, (x) => c.loss(x, tr), sr]),
  ];
  for (const [method, loss, x] of calls) {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose([loss(x), tf.grad(loss)(x)]);
    tf.dispose(tf.tidy(() => attentionMap(s4)));
    tf.dispose(fspMatrix(s4, s2));
    assert.equal(tf.memory().numTensors, before, method);
  }
  tf.dispose([s4, t4, s2, s4r, sr, tr, zs, zt, y]);
});

test('shape and rank errors name the method and the shapes', () => {
  const z = (shape: number[]) => tf.zeros(shape);
  const cases: Array<[() => unknown, string]> = [
    [() => attentionMap(z([8, 32])), 'at: expected feature maps of rank 4 [B,H,W,C], found rank 2 [8,32]'],
    [() => atLoss(z([8, 32]), z([8, 4, 4, 3])), 'at: expected feature maps of rank 4 [B,H,W,C], found rank 2 [8,32]'],
    [() => atLoss(z([2, 14, 14, 3]), z([2, 7, 7, 3])), 'at: spatial sizes differ: student 14×14, teacher 7×7'],
    [() => atLoss(z([2, 7, 7, 3]), z([3, 7, 7, 3])), 'at: batch sizes differ: student 2, teacher 3'],
    [() => attentionMap(z([2, 3, 3, 1]), 0), 'at: p must be a positive number, found 0'],
    [() => nstLoss(z([2, 4, 4, 3]), z([2, 4, 2, 3])), 'nst: spatial sizes differ: student 4×4, teacher 4×2'],
    [() => nstLoss(z([2, 4, 4]), z([2, 4, 4, 3])), 'nst: expected feature maps of rank 4 [B,H,W,C], found rank 3 [2,4,4]'],
    [() => fitnetLoss(z([8, 32]), z([8, 64])),
      'fitnet: shapes differ: student [8,32], teacher [8,64] (the student\'s adapter must map its features to the teacher\'s shape)'],
    [() => spLoss(z([8]), z([8, 4])), 'sp: expected features of rank ≥ 2 [B,…], found rank 1 [8]'],
    [() => rkdDistanceLoss(z([8, 4]), z([4, 4])), 'rkd-distance: batch sizes differ: student 8, teacher 4'],
    [() => rkdAngleLoss(z([8, 4]), z([8])), 'rkd-angle: expected features of rank ≥ 2 [B,…], found rank 1 [8]'],
    [() => pktLoss(z([8, 4]), z([6, 4])), 'pkt: batch sizes differ: student 8, teacher 6'],
    [() => ccLoss(z([8, 4]), z([8, 4]), -1), 'cc: gamma must be a finite number ≥ 0, found -1'],
    [() => fspMatrix(z([2, 14, 14, 3]), z([2, 7, 7, 4])), 'fsp: spatial sizes of the two layers differ: first 14×14, second 7×7'],
    [() => fspLoss(z([2, 14, 14, 3]), z([2, 7, 7, 4]), z([2, 7, 7, 3]), z([2, 7, 7, 4])),
      'fsp: spatial sizes of the student\'s two layers differ: first 14×14, second 7×7'],
    [() => fspLoss(z([2, 7, 7, 3]), z([2, 7, 7, 4]), z([2, 7, 7, 3]), z([2, 4, 4, 4])),
      'fsp: spatial sizes of the teacher\'s two layers differ: first 7×7, second 4×4'],
    [() => fspLoss(z([2, 7, 7, 3]), z([2, 7, 7, 4]), z([2, 7, 7, 3]), z([2, 7, 7, 8])),
      'fsp: channel counts differ: student C1×C2 = 3×4, teacher 3×8 (student [2,7,7,3] [2,7,7,4], teacher [2,7,7,3] [2,7,7,8])'],
    [() => fspLoss(z([2, 7, 7]), z([2, 7, 7, 4]), z([2, 7, 7, 3]), z([2, 7, 7, 4])),
      'fsp: expected feature maps of rank 4 [B,H,W,C], found rank 3 [2,7,7]'],
    [() => fspLoss(z([2, 7, 7, 3]), z([2, 7, 7, 4]), z([4, 7, 7, 3]), z([4, 7, 7, 4])), 'fsp: batch sizes differ: student 2, teacher 4'],
    [() => dkdLoss(z([4, 5, 1]), z([4, 5]), tf.tensor1d([0, 0, 0, 0], 'int32'), { alpha: 1, beta: 8, temperature: 4 }),
      'dkd: expected logits of rank 2 [B,K], found rank 3 [4,5,1]'],
    [() => dkdLoss(z([4, 5]), z([4, 10]), tf.tensor1d([0, 0, 0, 0], 'int32'), { alpha: 1, beta: 8, temperature: 4 }),
      'dkd: shapes differ: student [4,5], teacher [4,10]'],
    [() => dkdLoss(z([4, 5]), z([4, 5]), tf.tensor2d([[0], [0], [0], [0]], [4, 1], 'int32'), { alpha: 1, beta: 8, temperature: 4 }),
      'dkd: expected labels of shape [4], found [4,1]'],
    [() => dkdLoss(z([2, 5]), z([2, 5]), tf.tensor1d([0, 5], 'int32'), { alpha: 1, beta: 8, temperature: 4 }),
      'dkd: label 5 is not a class index in 0..4'],
    [() => dkdLoss(z([2, 1]), z([2, 1]), tf.tensor1d([0, 0], 'int32'), { alpha: 1, beta: 8, temperature: 4 }),
      'dkd: needs at least 2 classes, found 1 [2,1]'],
    [() => dkdLoss(z([2, 3]), z([2, 3]), tf.tensor1d([0, 0], 'int32'), { alpha: 1, beta: 8, temperature: 0 }),
      'dkd: temperature must be a positive number, found 0'],
    [() => multiTeacherKdLoss(z([4, 5]), [], [], 4), 'multi-kd: needs at least one teacher, found none'],
    [() => multiTeacherKdLoss(z([4, 5]), [z([4, 5]), z([4, 5])], [1], 4), 'multi-kd: expected 2 weights (one per teacher), found 1'],
    [() => multiTeacherKdLoss(z([4, 5]), [z([4, 5]), z([4, 6])], [1, 1], 4), 'multi-kd: shapes differ: student [4,5], teacher 2 [4,6]'],
    [() => multiTeacherKdLoss(z([4, 5]), [z([4, 5])], [-1], 4), 'multi-kd: teacher weights must be finite and ≥ 0, found [-1]'],
    [() => multiTeacherKdLoss(z([4, 5]), [z([4, 5]), z([4, 5])], [0, 0], 4), 'multi-kd: teacher weights must not all be 0, found [0, 0]'],
  ];
  const before = tf.memory().numTensors;
  for (const [fn, message] of cases) assert.throws(() => tf.tidy(() => { fn(); }), { message });
  assert.equal(tf.memory().numTensors, before);
});

test('the catalogue covers every method once, with shape rules the validator can apply to inspected shapes', () => {
  const methods = METHOD_INFO.map((m) => m.method);
  assert.deepEqual([...methods].sort(), ['adversarial', 'at', 'cc', 'crd', 'ctkd', 'dist', 'dkd', 'fitnet', 'fsp', 'kd', 'multi-kd', 'nst', 'pkt', 'reviewkd', 'rkd-angle', 'rkd-distance', 'sp']);
  for (const m of METHOD_INFO) {
    assert.ok(m.title && m.paper && m.formula, m.method);
    assert.equal(m.layerPairs, m.method === 'fsp', m.method);
  }
  assert.deepEqual(METHOD_INFO.filter((m) => m.kind === 'response').map((m) => m.method).sort(), ['ctkd', 'dist', 'dkd', 'kd', 'multi-kd']);
  // Shapes from inspection have an unknown batch: only the known dimensions are compared.
  assert.equal(pairShapeError('at', [null, 14, 14, 64], [null, 14, 14, 256]), null);
  assert.equal(pairShapeError('at', [null, 14, 14, 64], [null, 7, 7, 256]), 'at: spatial sizes differ: student 14×14, teacher 7×7');
  assert.equal(pairShapeError('rkd-angle', [null, 128], [null, 4, 4, 512]), null);
  assert.equal(pairShapeError('fitnet', [null, 128], [null, 256]),
    'fitnet: shapes differ: student [?,128], teacher [?,256] (the student\'s adapter must map its features to the teacher\'s shape)');
  assert.equal(pairShapeError('kd', [null, 10], [null, 10]), null);
  assert.throws(() => pairShapeError('nope', [1], [1]), { message: 'unknown knowledge method "nope"' });
});

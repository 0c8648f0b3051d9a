/**
 * The methods of issue 17 against independent computations, as test/unit/losses-catalogue.test.ts
 * does for the older ones: a naive float64 reference written from each paper's formula (plain
 * loops, no tf), central finite differences of that reference for the gradient w.r.t. the student,
 * the zero at equality, the exact error messages, and no tensor leak.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../src/engine/training/random';
import { kdLoss } from '../../src/engine/losses/response/kd';
import { dkdLoss } from '../../src/engine/losses/response/dkd';
import { multiTeacherKdLoss } from '../../src/engine/losses/response/multiTeacher';
import { standardizeLogits } from '../../src/engine/losses/response/standardize';
import { distLoss } from '../../src/engine/losses/response/dist';
import { ctkdLoss, ctkdTemperature, initialTheta, reversalWeight } from '../../src/engine/losses/response/ctkd';
import { crdLoss, crdNormalisers, gatherMemory, initialMemory, memoryBytes, sampleContrast, updateMemory } from '../../src/engine/losses/relation/crd';
import { AttentionMix, adaptiveAvgPool, hclLoss, reviewLoss } from '../../src/engine/losses/feature/reviewkd';
import { buildReviewFusion, reviewStageProblems } from '../../src/engine/knowledge/reviewkd';

before(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Helpers (float64).

function randomRows(rng: () => number, rows: number, cols: number, scale = 1): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => (rng() * 2 - 1) * scale));
}

const flat = (x: number[][]): number[] => x.flat();
const rowsOf = (x: number[], cols: number): number[][] => Array.from({ length: x.length / cols }, (_, b) => x.slice(b * cols, (b + 1) * cols));

function assertRel(actual: number, expected: number, tol: number, what: string): void {
  const scale = Math.max(Math.abs(expected), 1e-3);
  assert.ok(Number.isFinite(actual), `${what}: not finite: ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tol * scale, `${what}: ${actual} vs ${expected}`);
}

function numericGrad(f: (x: number[]) => number, x: number[], eps: number): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += eps;
    minus[i] -= eps;
    return (f(plus) - f(minus)) / (2 * eps);
  });
}

export function assertGradClose(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const largest = Math.max(...expected.map(Math.abs));
  assert.ok(largest > 1e-6, `${what}: reference gradient is ~0, the check would be vacuous`);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(Math.abs(expected[i]), 0.1 * largest);
    assert.ok(Number.isFinite(actual[i]), `${what}[${i}]: not finite: ${actual[i]}`);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** tf.grad of `loss` at the student rows `zs` against finite differences of `naive`. */
function checkGrad(what: string, loss: (x: tf.Tensor) => tf.Scalar, naive: (zs: number[][]) => number, zs: number[][], tol = 1e-3): void {
  const cols = zs[0].length;
  const g = tf.tidy(() => tf.grad(loss)(tf.tensor2d(zs)).dataSync());
  assertGradClose(g, numericGrad((x) => naive(rowsOf(x, cols)), flat(zs), 1e-5), tol, what);
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

/** z-score with the population standard deviation, + 1e-7 (Sun et al. 2024). */
function zscore(row: number[]): number[] {
  const mean = row.reduce((a, v) => a + v, 0) / row.length;
  const sd = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length);
  return row.map((v) => (v - mean) / (sd + 1e-7));
}

function naiveKd(zs: number[][], zt: number[][], T: number, standardize = false): number {
  const prep = (r: number[]) => (standardize ? zscore(r) : r).map((v) => v / T);
  let total = 0;
  for (let b = 0; b < zs.length; b++) total += kl(softmax(prep(zt[b])), softmax(prep(zs[b])));
  return (T * T * total) / zs.length;
}

function naiveDkd(zs: number[][], zt: number[][], y: number[], alpha: number, beta: number, T: number): number {
  let total = 0;
  for (let b = 0; b < zs.length; b++) {
    const ps = softmax(zs[b].map((v) => v / T));
    const pt = softmax(zt[b].map((v) => v / T));
    const others = (p: number[]) => p.reduce((a, v, c) => (c === y[b] ? a : a + v), 0);
    const tckd = kl([pt[y[b]], others(pt)], [ps[y[b]], others(ps)]);
    const drop = (z: number[]) => z.filter((_, c) => c !== y[b]).map((v) => v / T);
    total += alpha * tckd + beta * kl(softmax(drop(zt[b])), softmax(drop(zs[b])));
  }
  return (T * T * total) / zs.length;
}

function pearson(u: number[], v: number[]): number {
  const mu = u.reduce((a, x) => a + x, 0) / u.length;
  const mv = v.reduce((a, x) => a + x, 0) / v.length;
  let dot = 0;
  let nu = 0;
  let nv = 0;
  for (let i = 0; i < u.length; i++) {
    dot += (u[i] - mu) * (v[i] - mv);
    nu += (u[i] - mu) ** 2;
    nv += (v[i] - mv) ** 2;
  }
  return dot / (Math.sqrt(nu) * Math.sqrt(nv) + 1e-8);
}

/** DIST straight from the paper: Pearson over each sample's classes (inter) and each class's samples (intra). */
function naiveDist(zs: number[][], zt: number[][], beta: number, gamma: number, T: number, standardize = false): number {
  const prep = (r: number[]) => softmax((standardize ? zscore(r) : r).map((v) => v / T));
  const ys = zs.map(prep);
  const yt = zt.map(prep);
  const B = ys.length;
  const K = ys[0].length;
  let inter = 0;
  for (let b = 0; b < B; b++) inter += pearson(ys[b], yt[b]);
  let intra = 0;
  for (let k = 0; k < K; k++) intra += pearson(ys.map((r) => r[k]), yt.map((r) => r[k]));
  return T * T * (beta * (1 - inter / B) + gamma * (1 - intra / K));
}

const B = 6;
const K = 5;

// ---------------------------------------------------------------------------------------------
// Logit standardisation.

test('standardized logits have zero mean and unit (population) standard deviation per sample', () => {
  const rng = mulberry32(101);
  const z = randomRows(rng, B, K, 4);
  const got = tf.tidy(() => standardizeLogits(tf.tensor2d(z)).arraySync()) as number[][];
  z.forEach((row, b) => zscore(row).forEach((v, k) => assertRel(got[b][k], v, 1e-5, `[${b},${k}]`)));
  // constant logits stay finite (the ε): all zeros
  const flatRow = tf.tidy(() => standardizeLogits(tf.tensor2d([[3, 3, 3]])).dataSync());
  assert.deepEqual(Array.from(flatRow), [0, 0, 0]);
});

test('KD, DKD and multi-KD with standardize equal their naive references on z-scored logits; gradients match', () => {
  const rng = mulberry32(102);
  const y = [0, 4, 2, 2, 1, 3];
  for (const T of [1, 2, 4]) {
    const zs = randomRows(rng, B, K, 3);
    const zt = randomRows(rng, B, K, 8);
    assertRel(value(() => kdLoss(tf.tensor2d(zs), tf.tensor2d(zt), T, true)), naiveKd(zs, zt, T, true), 1e-4, `kd T=${T}`);
    checkGrad(`kd standardize T=${T}`, (x) => kdLoss(x, tf.tensor2d(zt), T, true), (s) => naiveKd(s, zt, T, true), zs);
    const dkdOpts = { alpha: 1, beta: 8, temperature: T, standardize: true };
    const naiveStdDkd = (s: number[][]) => naiveDkd(s.map(zscore), zt.map(zscore), y, 1, 8, T);
    assertRel(value(() => dkdLoss(tf.tensor2d(zs), tf.tensor2d(zt), tf.tensor1d(y, 'int32'), dkdOpts)), naiveStdDkd(zs), 1e-4, `dkd T=${T}`);
    checkGrad(`dkd standardize T=${T}`, (x) => dkdLoss(x, tf.tensor2d(zt), tf.tensor1d(y, 'int32'), dkdOpts), naiveStdDkd, zs);
    // multi-kd with two identical teachers is KD on the same standardized logits
    assertRel(value(() => multiTeacherKdLoss(tf.tensor2d(zs), [tf.tensor2d(zt), tf.tensor2d(zt)], [1, 2], T, true)), naiveKd(zs, zt, T, true), 1e-4, `multi-kd T=${T}`);
  }
});

test('standardized KD ignores the student\'s logit shift and scale (what the paper is for); plain KD does not', () => {
  const rng = mulberry32(103);
  const zs = randomRows(rng, B, K, 2);
  const zt = randomRows(rng, B, K, 10);
  const moved = zs.map((row, b) => row.map((v) => 7 * v + b - 3)); // ×7, shifted per sample
  const std = (s: number[][]) => value(() => kdLoss(tf.tensor2d(s), tf.tensor2d(zt), 2, true));
  const plain = (s: number[][]) => value(() => kdLoss(tf.tensor2d(s), tf.tensor2d(zt), 2));
  assertRel(std(moved), std(zs), 1e-4, 'standardized: same loss');
  assert.ok(Math.abs(plain(moved) - plain(zs)) > 0.1, `plain KD changes: ${plain(zs)} → ${plain(moved)}`);
  // and a student that matches the teacher up to scale and shift has (almost) zero standardized loss
  const scaled = zt.map((row) => row.map((v) => 0.1 * v + 1));
  assert.ok(std(scaled) < 1e-6, `scaled teacher: ${std(scaled)}`);
});

// ---------------------------------------------------------------------------------------------
// DIST.

test('DIST equals the naive Pearson reference for several β, γ, T (with and without standardize)', () => {
  const rng = mulberry32(104);
  for (const [beta, gamma, T, standardize] of [[1, 1, 1, false], [2, 2, 4, false], [1, 0, 2, false], [0, 1, 1, false], [1, 1, 2, true]] as const) {
    const zs = randomRows(rng, B, K, 3);
    const zt = randomRows(rng, B, K, 6);
    const got = value(() => distLoss(tf.tensor2d(zs), tf.tensor2d(zt), { beta, gamma, temperature: T, standardize }));
    assertRel(got, naiveDist(zs, zt, beta, gamma, T, standardize), 1e-4, `β=${beta} γ=${gamma} T=${T} std=${standardize}`);
  }
});

test('DIST hand-computed case: correlated and anti-correlated rows of two classes', () => {
  // T = 1, 2 classes: softmax rows [p, 1−p]. Two such rows are perfectly correlated, ρ = +1, when
  // p and q lie on the same side of ½, and ρ = −1 otherwise; the same holds for the columns here.
  const logit = (p: number) => [Math.log(p), Math.log(1 - p)];
  const zs = [logit(0.7), logit(0.4)];
  const opts = { beta: 1, gamma: 1, temperature: 1 };
  // teacher (0.9, 0.2): rows ρ = +1, +1 → L_inter = 0; columns (0.7, 0.4) vs (0.9, 0.2): ρ = +1 → L_intra = 0
  const v = value(() => distLoss(tf.tensor2d(zs), tf.tensor2d([logit(0.9), logit(0.2)]), opts));
  assert.ok(Math.abs(v) < 1e-5, `all correlated: ${v}`);
  // teacher (0.9, 0.8): rows ρ = +1, −1 → L_inter = 1; columns still ordered alike, ρ = +1 → L_intra = 0
  const v2 = value(() => distLoss(tf.tensor2d(zs), tf.tensor2d([logit(0.9), logit(0.8)]), opts));
  assertRel(v2, 1, 1e-5, 'one row anti-correlated');
  // teacher (0.2, 0.9): rows ρ = −1, −1 → L_inter = 2; columns reversed, ρ = −1 → L_intra = 2; β = 1, γ = 0.5
  const v3 = value(() => distLoss(tf.tensor2d(zs), tf.tensor2d([logit(0.2), logit(0.9)]), { ...opts, gamma: 0.5 }));
  assertRel(v3, 2 + 0.5 * 2, 1e-5, 'everything anti-correlated');
});

test('DIST gradient matches finite differences; zero when the student equals the teacher or a shift of it', () => {
  const rng = mulberry32(105);
  for (const [T, standardize] of [[1, false], [4, false], [2, true]] as const) {
    const zs = randomRows(rng, B, K, 3);
    const zt = randomRows(rng, B, K, 3);
    const opts = { beta: 2, gamma: 1, temperature: T, standardize };
    checkGrad(`dist T=${T} std=${standardize}`, (x) => distLoss(x, tf.tensor2d(zt), opts), (s) => naiveDist(s, zt, 2, 1, T, standardize), zs);
    const same = value(() => distLoss(tf.tensor2d(zt), tf.tensor2d(zt), opts));
    assert.ok(Math.abs(same) < 1e-4, `dist(t, t) = ${same}`);
    // the relations ignore a constant shift of every logit of a sample
    const shifted = value(() => distLoss(tf.tensor2d(zt.map((r, b) => r.map((v) => v + b))), tf.tensor2d(zt), opts));
    assert.ok(Math.abs(shifted) < 1e-4, `dist(t + shift, t) = ${shifted}`);
  }
});

test('DIST with a batch of one: the intra-class relation is constant (ρ = 0), value and gradient finite', () => {
  const zs = tf.tensor2d([[1, 2, 0.5]]);
  const zt = tf.tensor2d([[3, 0, 1]]);
  const opts = { beta: 1, gamma: 1, temperature: 1 };
  assertRel(value(() => distLoss(zs, zt, opts)), naiveDist(zs.arraySync(), zt.arraySync(), 1, 1, 1), 1e-5, 'B=1');
  const g = tf.tidy(() => tf.grad((x: tf.Tensor) => distLoss(x, zt, opts))(zs).dataSync());
  assert.ok(Array.from(g).every(Number.isFinite), `gradient ${Array.from(g)}`);
  tf.dispose([zs, zt]);
});

test('DIST and standardized losses: errors name the method and the shapes; no tensor leaks', () => {
  const z = (shape: number[]) => tf.zeros(shape);
  assert.throws(() => distLoss(z([4, 5]), z([4, 6]), { beta: 1, gamma: 1, temperature: 1 }), { message: 'dist: shapes differ: student [4,5], teacher [4,6]' });
  assert.throws(() => distLoss(z([4, 5, 1]), z([4, 5]), { beta: 1, gamma: 1, temperature: 1 }), { message: 'dist: expected logits of rank 2 [B,K], found rank 3 [4,5,1]' });
  assert.throws(() => distLoss(z([4, 5]), z([4, 5]), { beta: 1, gamma: 1, temperature: 0 }), { message: 'dist: temperature must be a positive number, found 0' });
  const zs = tf.randomNormal([B, K]);
  const zt = tf.randomNormal([B, K]);
  const y = tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32');
  const before = tf.memory().numTensors;
  const calls: ((x: tf.Tensor) => tf.Scalar)[] = [
    (x) => distLoss(x, zt, { beta: 1, gamma: 1, temperature: 2, standardize: true }),
    (x) => kdLoss(x, zt, 2, true),
    (x) => dkdLoss(x, zt, y, { alpha: 1, beta: 8, temperature: 2, standardize: true }),
    (x) => multiTeacherKdLoss(x, [zt], [1], 2, true),
  ];
  for (const loss of calls) for (let i = 0; i < 3; i++) tf.dispose([loss(zs), tf.grad(loss)(zs)]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([zs, zt, y]);
});

// ---------------------------------------------------------------------------------------------
// CTKD.

const CTKD = { minTemperature: 1, temperatureRange: 20 };
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

test('CTKD forward is KD at τ = τ_min + τ_range·sigmoid(θ); the student\'s gradient is KD\'s at that τ', () => {
  const rng = mulberry32(106);
  for (const theta of [-1, 0, 1, 2.5]) {
    const zs = randomRows(rng, B, K, 3);
    const zt = randomRows(rng, B, K, 6);
    const tau = 1 + 20 * sigmoid(theta);
    assertRel(ctkdTemperature(theta, CTKD), tau, 1e-12, 'ctkdTemperature');
    const th = tf.scalar(theta);
    const out = ctkdLoss(tf.tensor2d(zs), tf.tensor2d(zt), th, 0.7, CTKD);
    assertRel(out.loss.dataSync()[0], naiveKd(zs, zt, tau), 1e-4, `θ=${theta}`);
    assertRel(out.temperature.dataSync()[0], tau, 1e-5, `τ θ=${theta}`);
    tf.dispose([out.loss, out.temperature]);
    checkGrad(`ctkd ∂/∂z_s θ=${theta}`, (x) => ctkdLoss(x, tf.tensor2d(zt), th, 0.7, CTKD).loss, (s) => naiveKd(s, zt, tau), zs);
    th.dispose();
  }
});

test('CTKD gradient reversal: ∂L/∂θ is −λ times the finite difference of KD at τ(θ)', () => {
  const rng = mulberry32(107);
  const zs = randomRows(rng, B, K, 3);
  const zt = randomRows(rng, B, K, 6);
  const naiveOfTheta = (theta: number) => naiveKd(zs, zt, 1 + 20 * sigmoid(theta));
  for (const [theta, lambda] of [[0.3, 1], [1, 0.25], [-0.5, 0]]) {
    const fd = (naiveOfTheta(theta + 1e-5) - naiveOfTheta(theta - 1e-5)) / 2e-5;
    const g = tf.tidy(() => tf.grad((t: tf.Tensor) => ctkdLoss(tf.tensor2d(zs), tf.tensor2d(zt), t, lambda, CTKD).loss)(tf.scalar(theta)).dataSync()[0]);
    assert.ok(Math.abs(fd) > 1e-4, `the reference derivative is not ~0 (${fd})`);
    assert.ok(Math.abs(g - -lambda * fd) <= 1e-3 * Math.abs(fd) + 1e-7, `θ=${theta} λ=${lambda}: ${g} vs ${-lambda * fd}`);
  }
});

test('CTKD: a descent step on θ (through the reversal) raises the KD loss — the temperature plays against the student', () => {
  const rng = mulberry32(108);
  const zs = randomRows(rng, B, K, 3);
  const zt = randomRows(rng, B, K, 6);
  const theta = tf.variable(tf.scalar(0));
  const opt = tf.train.sgd(0.5);
  const before = naiveKd(zs, zt, ctkdTemperature(0, CTKD));
  opt.minimize(() => ctkdLoss(tf.tensor2d(zs), tf.tensor2d(zt), theta, 1, CTKD).loss, false, [theta]);
  const after = naiveKd(zs, zt, ctkdTemperature(theta.dataSync()[0], CTKD));
  assert.ok(after > before, `KD at the new temperature ${after} > ${before}`);
  theta.dispose();
  opt.dispose();
});

test('CTKD reversal curriculum: λ rises along a half cosine from 0 to λ_max over E epochs, then stays', () => {
  const o = { maxReversal: 2, reversalEpochs: 10 };
  assert.equal(reversalWeight(0, o), 0);
  assertRel(reversalWeight(5, o), 1, 1e-12, 'half way');
  assertRel(reversalWeight(10, o), 2, 1e-12, 'end');
  assert.equal(reversalWeight(25, o), 2);
  assertRel(reversalWeight(2, o), 2 * (1 - Math.cos(Math.PI * 0.2)) / 2, 1e-12, 'e=2');
  for (let e = 1; e <= 12; e++) assert.ok(reversalWeight(e, o) >= reversalWeight(e - 1, o), `monotone at ${e}`);
  assert.equal(reversalWeight(3, { maxReversal: 0.5, reversalEpochs: 0 }), 0.5);
});

test('CTKD initial temperature: θ₀ maps back to it; outside the span is an error naming both bounds', () => {
  const theta = initialTheta({ ...CTKD, initialTemperature: 4 });
  assertRel(ctkdTemperature(theta, CTKD), 4, 1e-12, 'round trip');
  assert.equal(initialTheta(CTKD), 1);
  assert.throws(() => initialTheta({ ...CTKD, initialTemperature: 30 }),
    { message: 'ctkd: initialTemperature 30 must lie strictly between minTemperature 1 and minTemperature + temperatureRange 21' });
  assert.throws(() => ctkdLoss(tf.zeros([2, 3]), tf.zeros([2, 4]), tf.scalar(0), 1, CTKD), { message: 'ctkd: shapes differ: student [2,3], teacher [2,4]' });
});

// ---------------------------------------------------------------------------------------------
// CRD.

const norm2 = (v: number[]): number[] => {
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return v.map((x) => x / n);
};
const dotp = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i], 0);

/** CRD from the paper's NCE (both directions), memory rows given per sample: [B][K+1][D]. */
function naiveCrd(es: number[][], et: number[][], memS: number[][][], memT: number[][][], tau: number, n: number, zs: number, zt: number): number {
  const side = (e: number[][], mem: number[][][], z: number) => {
    let total = 0;
    for (let b = 0; b < e.length; b++) {
      const v = norm2(e[b]);
      const k = mem[b].length - 1;
      const p = mem[b].map((m) => Math.exp(dotp(m, v) / tau) / z);
      total += Math.log(p[0] / (p[0] + k / n + 1e-7));
      for (let j = 1; j <= k; j++) total += Math.log((k / n) / (p[j] + k / n + 1e-7));
    }
    return -total / e.length;
  };
  return side(es, memT, zs) + side(et, memS, zt);
}

test('CRD equals the naive NCE reference; gradients w.r.t. both heads\' outputs match finite differences', () => {
  const rng = mulberry32(109);
  const b = 4;
  const d = 3;
  const k = 5;
  const n = 50;
  const rowsOfMem = () => Array.from({ length: b }, () => randomRows(rng, k + 1, d, 1).map(norm2));
  const memS = rowsOfMem();
  const memT = rowsOfMem();
  const es = randomRows(rng, b, d, 2);
  const et = randomRows(rng, b, d, 2);
  for (const tau of [0.07, 0.5]) {
    const mS = tf.tensor3d(memS);
    const mT = tf.tensor3d(memT);
    const z = crdNormalisers(tf.tensor2d(es), tf.tensor2d(et), mS, mT, tau, n);
    // Z = mean(exp(score)) · N, from the reference
    const meanExp = (e: number[][], mem: number[][][]) => mem.flatMap((rows, i) => rows.map((m) => Math.exp(dotp(m, norm2(e[i])) / tau))).reduce((a, x) => a + x, 0) / (b * (k + 1));
    assertRel(z.zs, meanExp(es, memT) * n, 1e-4, `Z_s τ=${tau}`);
    assertRel(z.zt, meanExp(et, memS) * n, 1e-4, `Z_t τ=${tau}`);
    const o = { temperature: tau, n, zs: z.zs, zt: z.zt };
    assertRel(value(() => crdLoss(tf.tensor2d(es), tf.tensor2d(et), mS, mT, o)), naiveCrd(es, et, memS, memT, tau, n, z.zs, z.zt), 1e-4, `τ=${tau}`);
    checkGrad(`crd ∂/∂e_s τ=${tau}`, (x) => crdLoss(x, tf.tensor2d(et), mS, mT, o), (s) => naiveCrd(s, et, memS, memT, tau, n, z.zs, z.zt), es, 2e-3);
    checkGrad(`crd ∂/∂e_t τ=${tau}`, (x) => crdLoss(tf.tensor2d(es), x, mS, mT, o), (t) => naiveCrd(es, t, memS, memT, tau, n, z.zs, z.zt), et, 2e-3);
    tf.dispose([mS, mT]);
  }
});

test('CRD: a student embedding closer to its positive than to the negatives has a lower loss', () => {
  const d = 4;
  const pos = [1, 0, 0, 0];
  const negs = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  const mem = tf.tensor3d([[pos, ...negs]]);
  const o = { temperature: 0.1, n: 100, zs: 1, zt: 1 };
  const near = value(() => crdLoss(tf.tensor2d([[1, 0.1, 0, 0]]), tf.tensor2d([[1, 0, 0, 0]]), mem, mem, o));
  const far = value(() => crdLoss(tf.tensor2d([[0.1, 1, 0, 0]]), tf.tensor2d([[1, 0, 0, 0]]), mem, mem, o));
  assert.ok(near < far, `near ${near} < far ${far}`);
  mem.dispose();
  assert.equal(d, 4);
});

test('CRD negatives: other classes only, the positive first, deterministic per batch, within the split', () => {
  const labels = Int32Array.from({ length: 200 }, (_, i) => i % 4);
  const idx = Int32Array.from([3, 17, 42, 199, 0]);
  const k = 30;
  const rows = sampleContrast(idx, labels, k);
  assert.equal(rows.length, idx.length * (k + 1));
  idx.forEach((i, b) => {
    assert.equal(rows[b * (k + 1)], i, 'the positive is the sample itself');
    for (let j = 1; j <= k; j++) {
      const c = rows[b * (k + 1) + j];
      assert.ok(c >= 0 && c < 200);
      assert.notEqual(labels[c], labels[i], `negative ${c} of sample ${i} is of another class`);
    }
  });
  assert.deepEqual(sampleContrast(idx, labels, k), rows, 'the same batch draws the same negatives');
  assert.notDeepEqual(sampleContrast(Int32Array.from([3, 17, 42, 199, 1]), labels, k).slice(k + 1, 2 * (k + 1)), rows.slice(k + 1, 2 * (k + 1)), 'another batch draws others');
  // every other-class sample can be drawn: over many batches the negatives of class 0 cover classes 1..3 evenly
  const counts = [0, 0, 0, 0];
  for (let t = 0; t < 200; t++) for (const c of sampleContrast(Int32Array.from([t * 4 % 200]), labels, 20).slice(1)) counts[labels[c]]++;
  assert.equal(counts[0], 0);
  for (const c of counts.slice(1)) assert.ok(Math.abs(c - 4000 / 3) < 200, `class share ${counts}`);
});

test('CRD memory: update is normalise(m·M + (1 − m)·e) on the batch\'s rows only; gather; initial range; size', () => {
  const d = 3;
  const bank = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.6, 0.8, 0]);
  const e = Float32Array.from([0, 1, 0, 0, 0, 1]);
  updateMemory(bank, d, [0, 3], e, 0.5);
  const r0 = norm2([0.5, 0.5, 0]);
  const r3 = norm2([0.3, 0.4, 0.5]);
  [...r0, 0, 1, 0, 0, 0, 1, ...r3].forEach((v, i) => assertRel(bank[i], v, 1e-6, `bank[${i}]`));
  assert.deepEqual(Array.from(gatherMemory(bank, d, Int32Array.from([2, 1]))), [0, 0, 1, 0, 1, 0]);
  const init = initialMemory(10, 12, 7);
  const bound = 1 / Math.sqrt(12 / 3);
  assert.ok(init.every((v) => Math.abs(v) <= bound) && init.some((v) => Math.abs(v) > bound / 2));
  assert.deepEqual(initialMemory(10, 12, 7), init, 'seeded');
  assert.equal(memoryBytes(60000, 128), 61_440_000);
});

// ---------------------------------------------------------------------------------------------
// ReviewKD.

/** PyTorch's adaptive_avg_pool2d on one NHWC array, with loops: cell (i, j) averages rows ⌊iH/l⌋…⌈(i+1)H/l⌉−1 and the same for columns. */
function naiveAdaptivePool(x: number[], [b, h, w, c]: number[], l: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < l; i++) {
      for (let j = 0; j < l; j++) {
        for (let ch = 0; ch < c; ch++) {
          const [h0, h1] = [Math.floor((i * h) / l), Math.ceil(((i + 1) * h) / l)];
          const [w0, w1] = [Math.floor((j * w) / l), Math.ceil(((j + 1) * w) / l)];
          let s = 0;
          for (let y = h0; y < h1; y++) for (let xx = w0; xx < w1; xx++) s += x[((n * h + y) * w + xx) * c + ch];
          out.push(s / ((h1 - h0) * (w1 - w0)));
        }
      }
    }
  }
  return out;
}

const mse = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length;

/** The paper's hcl(), one stage: mse at full size, then 4×4, 2×2, 1×1 (those smaller than H) with weights ½, ¼, ⅛, normalised. */
function naiveHcl(fs: number[], ft: number[], shape: number[]): number {
  let loss = mse(fs, ft);
  let cnt = 1;
  let tot = 1;
  for (const l of [4, 2, 1]) {
    if (l >= shape[1]) continue;
    cnt /= 2;
    loss += mse(naiveAdaptivePool(fs, shape, l), naiveAdaptivePool(ft, shape, l)) * cnt;
    tot += cnt;
  }
  return loss / tot;
}

test('adaptive average pooling equals PyTorch\'s windows (divisible and not: 7×5 → 4×4, 2×2, 1×1)', () => {
  const rng = mulberry32(110);
  for (const shape of [[2, 7, 5, 3], [1, 8, 8, 2], [1, 4, 6, 1]]) {
    const x = Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng() * 2 - 1);
    for (const l of [4, 2, 1]) {
      const got = tf.tidy(() => Array.from(adaptiveAvgPool(tf.tensor4d(x, shape as [number, number, number, number]), l).dataSync()));
      naiveAdaptivePool(x, shape, l).forEach((v, i) => assertRel(got[i], v, 1e-5, `${shape} → ${l}: [${i}]`));
    }
  }
});

test('HCL equals the naive reference (sizes 8, 3, 1: every pyramid level, some, none); gradient matches finite differences', () => {
  const rng = mulberry32(111);
  for (const shape of [[2, 8, 8, 2], [2, 3, 5, 2], [3, 1, 1, 4]]) {
    const size = shape.reduce((a, d) => a * d, 1);
    const fs = Array.from({ length: size }, () => rng() * 2 - 1);
    const ft = Array.from({ length: size }, () => rng() * 2 - 1);
    const sh = shape as [number, number, number, number];
    assertRel(value(() => hclLoss(tf.tensor4d(fs, sh), tf.tensor4d(ft, sh))), naiveHcl(fs, ft, shape), 1e-4, `${shape}`);
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => hclLoss(x, tf.tensor4d(ft, sh)))(tf.tensor4d(fs, sh)).dataSync());
    assertGradClose(g, numericGrad((x) => naiveHcl(x, ft, shape), fs, 1e-5), 1e-3, `hcl ${shape}`);
    assert.ok(value(() => hclLoss(tf.tensor4d(ft, sh), tf.tensor4d(ft, sh))) === 0);
  }
  // the review loss is the sum over the stages
  const a = tf.randomNormal([2, 4, 4, 3]);
  const b = tf.randomNormal([2, 4, 4, 3]);
  const c = tf.randomNormal([2, 2, 2, 5]);
  const d = tf.randomNormal([2, 2, 2, 5]);
  assertRel(value(() => reviewLoss([a, c], [b, d])), value(() => hclLoss(a, b)) + value(() => hclLoss(c, d)), 1e-5, 'sum');
  assert.throws(() => reviewLoss([a], [b, d]), { message: 'reviewkd: expected as many fused student stages as teacher stages (at least one), found 1 and 2' });
  assert.throws(() => hclLoss(a, c), { message: 'reviewkd: the fused student stage [2,4,4,3] and the teacher stage [2,2,2,5] differ' });
  tf.dispose([a, b, c, d]);
});

test('ReviewKD attention mix is x·z₀ + y·z₁ per position; the fusion maps every student stage to its teacher stage\'s shape', () => {
  const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 1, 2]);
  const y = tf.tensor4d([10, 20, 30, 40], [1, 2, 1, 2]);
  const z = tf.tensor4d([0.5, 0.1, 1, 0], [1, 2, 1, 2]);
  const mixed = new AttentionMix({}).apply([x, y, z]) as tf.Tensor;
  assert.deepEqual(Array.from(mixed.dataSync()).map((v) => Math.round(v * 1e4) / 1e4), [1.5, 3, 3, 4]);
  tf.dispose([x, y, z, mixed]);
  // stages 8×8×4 → 4×4×6 (student) against 16×16×3 → 4×4×8 (teacher: larger first stage, pooled/upsampled as needed)
  const fusion = buildReviewFusion('t_review', [[null, 8, 8, 4], [null, 4, 4, 6]], [[null, 16, 16, 3], [null, 2, 2, 8]], 5);
  const outs = fusion.apply([tf.randomNormal([2, 8, 8, 4]), tf.randomNormal([2, 4, 4, 6])]) as tf.Tensor[];
  assert.deepEqual(outs.map((o) => o.shape), [[2, 16, 16, 3], [2, 2, 2, 8]]);
  // the shallow output depends on the deep input (the review path); the deep one does not depend on the shallow input
  const deepOnly = (deep: tf.Tensor) => (fusion.apply([tf.zeros([1, 8, 8, 4]), deep]) as tf.Tensor[]);
  const [s1, d1] = deepOnly(tf.zeros([1, 4, 4, 6]));
  const [s2, d2] = deepOnly(tf.ones([1, 4, 4, 6]));
  assert.ok(tf.max(tf.abs(tf.sub(s1, s2))).dataSync()[0] > 1e-4, 'the deeper stage reaches the shallow output');
  const [, d3] = fusion.apply([tf.ones([1, 8, 8, 4]), tf.zeros([1, 4, 4, 6])]) as tf.Tensor[];
  assert.ok(tf.max(tf.abs(tf.sub(d1, d3))).dataSync()[0] < 1e-6, 'the shallow stage does not reach the deepest output');
  assert.ok(d2.shape.join() === '1,2,2,8');
  fusion.dispose();
});

test('ReviewKD stage problems: vectors, stages out of order, sizes that are not whole multiples — each at its pair', () => {
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => ({ teacher: `t${i}`, student: `s${i}`, adapter: 'auto' as const }));
  assert.deepEqual(reviewStageProblems(pairs(2), [[null, 8, 8, 4], [null, 4, 4, 6]], [[null, 8, 8, 4], [null, 4, 4, 6]], 0), []);
  assert.deepEqual(reviewStageProblems(pairs(1), [[null, 32]], [[null, 8, 8, 4]], 2).map((p) => [p.path.join('.'), p.message]), [
    ['knowledge.2.pairs.0', 'reviewkd: teacher "t0" [?,8,8,4] ↔ student "s0" [?,32]: reviewkd fuses feature maps of rank 4 [B,H,W,C]; pair convolutional stages (or use "fitnet" for vectors)'],
  ]);
  assert.deepEqual(reviewStageProblems(pairs(2), [[null, 4, 4, 6], [null, 8, 8, 4]], [[null, 4, 4, 6], [null, 8, 8, 4]], 0).map((p) => [p.path.join('.'), p.message]), [
    ['knowledge.0.pairs.1', 'reviewkd: stages go from shallow to deep, each as large as the next or a whole multiple of it; the student\'s "s0" is 4×4, the next "s1" 8×8: list the pairs from the shallowest stage to the deepest'],
  ]);
  assert.deepEqual(reviewStageProblems(pairs(1), [[null, 7, 7, 4]], [[null, 5, 5, 4]], 0).map((p) => p.message), [
    'reviewkd: the student stage "s0" is 7×7, the teacher stage "t0" 5×5: one must be a whole multiple of the other',
  ]);
});

/**
 * Adversarial distillation (issue 18) against independent computations: the student's term, D's
 * loss and accuracy on a case computed by hand (a linear D, numbers worked out in the test) and on
 * an MLP D through a naive float64 forward pass; the student term's gradient w.r.t. the logits by
 * central finite differences of that reference; D's Adam step against Adam written out in plain
 * numbers; the term in the registry (D apart from the student's optimizer, trained after the step,
 * its state carried by the adapters a checkpoint saves); the config's defaults and refusals; the
 * `discriminator-wins` warning on a constructed metrics history.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../src/engine/training/random';
import {
  adversarialStudentLoss, discriminatorAccuracy, discriminatorInput, discriminatorLogits, discriminatorLoss, discriminatorStep,
} from '../../src/engine/losses/adversarial';
import type { DiscriminatorState } from '../../src/engine/losses/adversarial';
import { adapterVariables, buildTerms, KnowledgeError } from '../../src/engine/knowledge/terms';
import type { Term } from '../../src/engine/knowledge/terms';
import type { ExperimentConfig } from '../../src/config/types';
import { formatConfigError, parseExperimentText } from '../../src/config/parse';
import { discriminatorWinsWarning } from '../../src/engine/results/adversarialHealth';
import type { MetricRecord } from '../../src/runs/store';

before(async () => {
  await tf.setBackend('cpu');
});

const softplus = (x: number): number => Math.log(1 + Math.exp(x));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Number.isFinite(actual), `${what}: not finite: ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

// ---------------------------------------------------------------------------------------------
// A naive float64 reference (plain loops, no tf), written from the formulas.

interface NaiveD { w: number[][][]; b: number[][] }

function naiveLogits(x: number[][], d: NaiveD): number[] {
  return x.map((row) => {
    let h = row;
    d.w.forEach((w, l) => {
      const out = w[0].map((_, j) => h.reduce((s, v, i) => s + v * w[i][j], 0) + d.b[l][j]);
      h = l + 1 < d.w.length ? out.map((v) => (v > 0 ? v : 0.2 * v)) : out;
    });
    return h[0];
  });
}

function naiveSoftmax(z: number[], t: number): number[] {
  const m = Math.max(...z.map((v) => v / t));
  const e = z.map((v) => Math.exp(v / t - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const oneHot = (y: number, k: number): number[] => Array.from({ length: k }, (_, i) => (i === y ? 1 : 0));

function randomD(rng: () => number, sizes: number[]): NaiveD {
  const w: number[][][] = [];
  const b: number[][] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    w.push(Array.from({ length: sizes[l] }, () => Array.from({ length: sizes[l + 1] }, () => rng() * 2 - 1)));
    b.push(Array.from({ length: sizes[l + 1] }, () => (rng() * 2 - 1) * 0.3));
  }
  return { w, b };
}

function dParams(d: NaiveD): tf.Tensor[] {
  return d.w.flatMap((w, l) => [tf.tensor2d(w), tf.tensor1d(d.b[l])]);
}

// ---------------------------------------------------------------------------------------------

test('a linear D on two samples: the student term, D\'s loss and accuracy as computed by hand', () => {
  // D(x) = x·[1, −2] + 0.5
  const params = [tf.tensor2d([[1], [-2]]), tf.tensor1d([0.5])];
  const xs = tf.tensor2d([[0.5, 0.25], [0, 1]]); // D: 0.5 − 0.5 + 0.5 = 0.5;  0 − 2 + 0.5 = −1.5
  const xt = tf.tensor2d([[1, 0], [0.25, 0.5]]); // D: 1 + 0.5 = 1.5;  0.25 − 1 + 0.5 = −0.25
  const ds = discriminatorLogits(xs, params);
  const dt = discriminatorLogits(xt, params);
  assert.deepEqual(Array.from(ds.dataSync()), [0.5, -1.5]);
  assert.deepEqual(Array.from(dt.dataSync()), [1.5, -0.25]);
  // −mean log σ(d_s) = (ln(1 + e^−0.5) + ln(1 + e^1.5)) / 2
  assertClose(adversarialStudentLoss(ds).dataSync()[0], (Math.log(1 + Math.exp(-0.5)) + Math.log(1 + Math.exp(1.5))) / 2, 1e-6, 'student term');
  // −mean [log σ(d_t) + log(1 − σ(d_s))]
  const want = -((Math.log(sigmoid(1.5)) + Math.log(1 - sigmoid(0.5))) + (Math.log(sigmoid(-0.25)) + Math.log(1 - sigmoid(-1.5)))) / 2;
  assertClose(discriminatorLoss(dt, ds).dataSync()[0], want, 1e-6, 'D loss');
  // right: d_t = 1.5 > 0, d_s = −1.5 < 0; wrong: d_t = −0.25, d_s = 0.5 → 2 of 4
  assert.equal(discriminatorAccuracy(dt.dataSync(), ds.dataSync()), 0.5);
  // a logit of exactly 0 is on neither side: wrong for both networks
  assert.equal(discriminatorAccuracy([0, 1], [0, -1]), 0.5);
  // D that cannot tell (all logits 0): the student term is ln 2, D's loss 2 ln 2
  assertClose(adversarialStudentLoss(tf.zeros([3])).dataSync()[0], Math.LN2, 1e-6, 'chance student term');
  assertClose(discriminatorLoss(tf.zeros([3]), tf.zeros([3])).dataSync()[0], 2 * Math.LN2, 1e-6, 'chance D loss');
  tf.dispose([...params, xs, xt, ds, dt]);
});

test('an MLP D (LeakyReLU 0.2) on the softened logits with the labels: the term, D\'s loss and accuracy match a naive float64 reference', () => {
  const rng = mulberry32(7);
  const [B, K, T] = [5, 4, 3];
  const zs = Array.from({ length: B }, () => Array.from({ length: K }, () => (rng() * 2 - 1) * 3));
  const zt = Array.from({ length: B }, () => Array.from({ length: K }, () => (rng() * 2 - 1) * 3));
  const y = Array.from({ length: B }, () => Math.floor(rng() * K));
  const d = randomD(rng, [2 * K, 6, 3, 1]);
  const view = (z: number[][]) => z.map((row, b) => [...naiveSoftmax(row, T), ...oneHot(y[b], K)]);
  const ds = naiveLogits(view(zs), d);
  const dt = naiveLogits(view(zt), d);
  const labels = tf.tensor1d(y, 'int32');
  const xs = discriminatorInput(tf.tensor2d(zs), { temperature: T, labels, numClasses: K });
  const xt = discriminatorInput(tf.tensor2d(zt), { temperature: T, labels, numClasses: K });
  assert.deepEqual(xs.shape, [B, 2 * K]);
  const params = dParams(d);
  const dsT = discriminatorLogits(xs, params).dataSync();
  const dtT = discriminatorLogits(xt, params).dataSync();
  ds.forEach((v, i) => assertClose(dsT[i], v, 1e-5, `D(s_${i})`));
  assertClose(adversarialStudentLoss(tf.tensor1d(dsT)).dataSync()[0], ds.reduce((s, v) => s + softplus(-v), 0) / B, 1e-5, 'student term');
  const wantD = dt.reduce((s, v) => s - Math.log(sigmoid(v)), 0) / B + ds.reduce((s, v) => s - Math.log(1 - sigmoid(v)), 0) / B;
  assertClose(discriminatorLoss(tf.tensor1d(dtT), tf.tensor1d(dsT)).dataSync()[0], wantD, 1e-5, 'D loss');
  const right = dt.filter((v) => v > 0).length + ds.filter((v) => v < 0).length;
  assert.equal(discriminatorAccuracy(dtT, dsT), right / (2 * B));
  // features of rank 4 are flattened row-major: [B,2,2,1] → [B,4]
  const maps = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]);
  assert.deepEqual(discriminatorInput(maps, {}).arraySync(), [[1, 2, 3, 4], [5, 6, 7, 8]]);
  tf.dispose([labels, xs, xt, ...params, maps]);
});

test('the student term\'s gradient w.r.t. the student\'s logits matches central finite differences of the naive reference', () => {
  const rng = mulberry32(11);
  const [B, K, T] = [4, 5, 2];
  const zs = Array.from({ length: B * K }, () => (rng() * 2 - 1) * 2);
  const d = randomD(rng, [K, 7, 1]);
  const naive = (z: number[]): number => {
    const rows = Array.from({ length: B }, (_, b) => naiveSoftmax(z.slice(b * K, (b + 1) * K), T));
    return naiveLogits(rows, d).reduce((s, v) => s + softplus(-v), 0) / B;
  };
  const params = dParams(d);
  const g = tf.grad((z: tf.Tensor) => adversarialStudentLoss(discriminatorLogits(discriminatorInput(z, { temperature: T }), params)))(tf.tensor2d(zs, [B, K])).dataSync();
  const eps = 1e-5;
  zs.forEach((_, i) => {
    const up = zs.slice();
    const down = zs.slice();
    up[i] += eps;
    down[i] -= eps;
    const fd = (naive(up) - naive(down)) / (2 * eps);
    assert.ok(Math.abs(g[i] - fd) <= 1e-4 + 1e-3 * Math.abs(fd), `∂/∂z[${i}]: ${g[i]} vs ${fd}`);
  });
  assert.ok(Array.from(g).some((v) => Math.abs(v) > 1e-3), 'a gradient that is not zero');
  tf.dispose(params);
});

test('D\'s step is Adam (β₁ 0.5, β₂ 0.999, ε 1e-8) on D\'s loss: two steps against Adam written out with finite-difference gradients', () => {
  const rng = mulberry32(3);
  const [B, F] = [6, 3];
  const xs = Array.from({ length: B }, () => Array.from({ length: F }, () => rng() * 2 - 1));
  const xt = Array.from({ length: B }, () => Array.from({ length: F }, () => rng() * 2 - 1));
  const d = randomD(rng, [F, 4, 1]);
  const lr = 0.01;
  const flatOf = (n: NaiveD): number[] => n.w.flatMap((w, l) => [...w.flat(), ...n.b[l]]);
  const shapes = d.w.map((w, l) => ({ rows: w.length, cols: w[0].length, bias: d.b[l].length }));
  const fromFlat = (v: number[]): NaiveD => {
    let k = 0;
    const take = (n: number) => v.slice(k, (k += n));
    const out: NaiveD = { w: [], b: [] };
    for (const sh of shapes) {
      out.w.push(Array.from({ length: sh.rows }, () => take(sh.cols)));
      out.b.push(take(sh.bias));
    }
    return out;
  };
  const loss = (v: number[]): number => {
    const nd = fromFlat(v);
    return naiveLogits(xt, nd).reduce((s, z) => s + softplus(-z), 0) / B + naiveLogits(xs, nd).reduce((s, z) => s + softplus(z), 0) / B;
  };
  const grad = (v: number[]): number[] => v.map((_, i) => {
    const up = v.slice();
    const down = v.slice();
    up[i] += 1e-6;
    down[i] -= 1e-6;
    return (loss(up) - loss(down)) / 2e-6;
  });
  const state: DiscriminatorState = {
    params: dParams(d).map((t) => tf.variable(t)),
    m: dParams(d).map((t) => tf.variable(tf.zerosLike(t))),
    v: dParams(d).map((t) => tf.variable(tf.zerosLike(t))),
    step: 0,
  };
  let p = flatOf(d);
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const txs = tf.tensor2d(xs);
  const txt = tf.tensor2d(xt);
  for (let t = 1; t <= 2; t++) {
    const before = loss(p);
    const r = discriminatorStep(state, txt, txs, lr);
    assert.equal(r.step, t);
    assertClose(r.loss, before, 1e-5, `step ${t}: the loss reported is the loss before the step`);
    const g = grad(p);
    p = p.map((x, i) => {
      m[i] = 0.5 * m[i] + 0.5 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      return x - lr * (m[i] / (1 - 0.5 ** t)) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
    });
    const got = state.params.flatMap((q) => Array.from(q.dataSync()));
    got.forEach((x, i) => assert.ok(Math.abs(x - p[i]) <= 2e-5, `step ${t}, parameter ${i}: ${x} vs ${p[i]}`));
    if (t === 1) {
      // Adam's first step is −lr·g/(|g| + ε): every parameter with a gradient moves by lr
      const start = flatOf(d);
      got.forEach((x, i) => { if (Math.abs(g[i]) > 1e-3) assert.ok(Math.abs(Math.abs(x - start[i]) - lr) < 1e-5, `first step of parameter ${i}: ${x - start[i]}`); });
    }
  }
  assert.ok(loss(p) < loss(flatOf(d)), 'D\'s loss went down');
  tf.dispose([...state.params, ...state.m, ...state.v, txs, txt]);
});

// ---------------------------------------------------------------------------------------------
// The term in the registry.

function models(): { teacher: tf.LayersModel; student: tf.LayersModel } {
  const teacher = tf.sequential({ name: 'teacher' });
  teacher.add(tf.layers.dense({ inputShape: [6], units: 16, activation: 'relu', name: 't_hidden' }));
  teacher.add(tf.layers.dense({ units: 3, name: 't_logits' }));
  const student = tf.sequential({ name: 'student' });
  student.add(tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu', name: 's_hidden' }));
  student.add(tf.layers.dense({ units: 3, name: 's_logits' }));
  return { teacher, student };
}

function configWith(knowledge: unknown[]): ExperimentConfig {
  return { knowledge, labels: { weight: 0 } } as unknown as ExperimentConfig;
}

const ADV = { kind: 'adversarial', method: 'adversarial', temperature: 2, hidden: [5], learningRate: 0.01, conditional: true, weight: 1, schedule: { kind: 'constant' } };

const SGD = tf.train.sgd(0.1);

/** One step of the term as the distill learner runs it: compute in the student's tape, the student's update, then afterStep. */
function step(term: Term, m: { teacher: tf.LayersModel; student: tf.LayersModel }, x: tf.Tensor, y: tf.Tensor, vars: tf.Variable[]): number {
  const zt = m.teacher.predict(x) as tf.Tensor;
  const ht = (tf.model({ inputs: m.teacher.inputs, outputs: m.teacher.getLayer('t_hidden').output as tf.SymbolicTensor })).predict(x) as tf.Tensor;
  const value = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const hs = (tf.model({ inputs: m.student.inputs, outputs: m.student.getLayer('s_hidden').output as tf.SymbolicTensor })).apply(x) as tf.Tensor;
      const zs = m.student.apply(x) as tf.Tensor;
      return term.compute({ zs, zt, labels: y, extraTeacherLogits: [], student: new Map([['s_hidden', hs]]), teacher: new Map([['t_hidden', ht]]) }).value;
    }, vars);
    SGD.applyGradients(grads);
    return value.dataSync()[0];
  });
  term.afterStep!();
  tf.dispose([zt, ht]);
  return value;
}

const discVars = (term: Term): tf.Variable[] => term.adapters.filter((a) => a.name.endsWith('_discriminator')).flatMap((a) => a.weights.map((w) => w.read() as tf.Variable));
const values = (vs: tf.Variable[]): number[] => vs.flatMap((v) => Array.from(v.dataSync()));

test('the term: D stays out of the student\'s optimizer, trains after the step on the step\'s outputs, logs its loss and accuracy, and resumes from its checkpointed state', () => {
  const m = models();
  const rng = mulberry32(5);
  const x = tf.tensor2d(Array.from({ length: 8 * 6 }, () => rng() * 2 - 1), [8, 6]);
  const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
  const terms = buildTerms(configWith([ADV, { ...ADV, conditional: false, pairs: [{ teacher: 't_hidden', student: 's_hidden', adapter: 'auto' }] }]), 'distill', m, { adapterPrefix: 'a' });
  assert.deepEqual(terms.map((t) => t.name), ['adversarial', 'adversarial#2']);
  const [term, paired] = terms;
  // the pair: a dense adapter 8 → 16 (as fitnet's), D 16 → 5 → 1 on the teacher's features
  assert.deepEqual(paired.pairLabels, ['t_hidden→s_hidden']);
  assert.equal(paired.pairAdapters[0], 'dense 8→16; discriminator 16→5→1');
  assert.deepEqual([paired.teacherLayers, paired.studentLayers], [['t_hidden'], ['s_hidden']]);
  const studentVars = [...m.student.trainableWeights.map((w) => w.read() as tf.Variable), ...adapterVariables(terms)];
  const dv = discVars(term);
  assert.equal(dv.length, 4); // D: [3+3 → 5] and [5 → 1], conditional: the one-hot appended
  assert.deepEqual(dv[0].shape, [6, 5]);
  for (const v of [...dv, ...discVars(paired)]) assert.ok(!studentVars.includes(v), 'a D variable among the student\'s optimizer variables');
  assert.equal(adapterVariables([paired]).length, 2, 'the pair\'s adapter is trained with the student');

  // the first step: the term is −mean log σ(D(s)) of the D before its step; D's loss and accuracy are of that D
  const d0 = dv.map((v) => v.clone());
  const studentBefore = values(m.student.trainableWeights.map((w) => w.read() as tf.Variable));
  const expected = tf.tidy(() => {
    const xs = discriminatorInput(m.student.predict(x) as tf.Tensor, { temperature: 2, labels: y, numClasses: 3 });
    const xt = discriminatorInput(m.teacher.predict(x) as tf.Tensor, { temperature: 2, labels: y, numClasses: 3 });
    const ds = discriminatorLogits(xs, d0);
    const dt = discriminatorLogits(xt, d0);
    return { term: adversarialStudentLoss(ds).dataSync()[0], loss: discriminatorLoss(dt, ds).dataSync()[0], acc: discriminatorAccuracy(dt.dataSync(), ds.dataSync()) };
  });
  const value = step(term, m, x, y, studentVars);
  assertClose(value, expected.term, 1e-5, 'the term');
  const p1 = term.params!();
  assertClose(p1.discLoss, expected.loss, 1e-5, 'discLoss');
  assert.equal(p1.discAcc, expected.acc);
  assert.notDeepEqual(values(dv), values(d0 as tf.Variable[]), 'D moved in its own step');
  assert.notDeepEqual(values(m.student.trainableWeights.map((w) => w.read() as tf.Variable)), studentBefore, 'the student moved');
  step(paired, m, x, y, studentVars);
  assert.ok(Number.isFinite(paired.params!().discLoss));

  // a checkpoint after step 1: the adapters carry D, its Adam moments, its step counter and the epoch sums
  term.beforeCheckpoint!();
  const saved = term.adapters.map((ad) => ad.getWeights().map((w) => w.clone()));
  const studentAt1 = m.student.getWeights().map((w) => w.clone());
  step(term, m, x, y, studentVars);
  const p2 = term.params!();
  const dAfter2 = values(dv);

  // a fresh term and student restored from it (as restoreExtras and restoreModelWeights do) take the same step 2
  const m2 = models();
  m2.teacher.setWeights(m.teacher.getWeights());
  m2.student.setWeights(studentAt1);
  const [fresh] = buildTerms(configWith([ADV]), 'distill', m2, { adapterPrefix: 'a' });
  fresh.adapters.forEach((ad, i) => ad.setWeights(saved[i]));
  step(fresh, m2, x, y, [...m2.student.trainableWeights.map((w) => w.read() as tf.Variable), ...adapterVariables([fresh])]);
  assert.deepEqual(values(discVars(fresh)), dAfter2, 'D after the resumed step 2 is D after the uninterrupted step 2');
  assert.deepEqual(fresh.params!(), p2);
  // the epoch means: of both steps, in either case (the sums of step 1 came with the checkpoint)
  const extras = term.epochExtras!();
  assertClose(extras.discLoss, (p1.discLoss + p2.discLoss) / 2, 1e-6, 'epoch mean of discLoss');
  assertClose(extras.discAcc, (p1.discAcc + p2.discAcc) / 2, 1e-9, 'epoch mean of discAcc');
  assert.deepEqual(fresh.epochExtras!(), extras);
  assert.deepEqual(term.epochExtras!(), {}, 'the means start again after an epoch');
  // without the checkpointed Adam state (t = 0, zero moments) step 2 would differ
  const [blank] = buildTerms(configWith([ADV]), 'distill', m2, { adapterPrefix: 'a' });
  blank.adapters[0].setWeights(saved[0]);
  m2.student.setWeights(studentAt1);
  step(blank, m2, x, y, [...m2.student.trainableWeights.map((w) => w.read() as tf.Variable)]);
  assert.notDeepEqual(values(discVars(blank)), dAfter2);
  tf.dispose([x, y, ...d0, ...saved.flat(), ...studentAt1]);
});

test('an adversarial pair with an unknown layer or an impossible adapter is refused, located at the pair', () => {
  const m = models();
  assert.throws(() => buildTerms(configWith([{ ...ADV, pairs: [{ teacher: 'nope', student: 's_hidden', adapter: 'auto' }] }]), 'distill', m),
    (e: unknown) => e instanceof KnowledgeError && e.problems[0].path.join('.') === 'knowledge.0.pairs.0.teacher' && /nope/.test(e.problems[0].message));
  assert.throws(() => buildTerms(configWith([{ ...ADV, pairs: [{ teacher: 't_hidden', student: 's_hidden', adapter: 'conv1x1' }] }]), 'distill', m),
    (e: unknown) => e instanceof KnowledgeError && e.problems[0].path.join('.') === 'knowledge.0.pairs.0'
      && e.problems[0].message === 'adversarial: teacher "t_hidden" [?,16] ↔ student "s_hidden" [?,8]: a "conv1x1" adapter is for feature maps; use "dense" for vectors');
});

// ---------------------------------------------------------------------------------------------
// The config.

function experiment(entry: string, scheme = ''): string {
  return [
    '{',
    '  "name": "demo",',
    '  "data": { "train": { "format": "mnist", "split": "train" }, "test": { "format": "mnist", "split": "test" } },',
    '  "teacher": { "module": "models.ts", "export": "teacher" },',
    '  "student": { "module": "models.ts", "export": "student" },',
    `  "labels": { "weight": 0.1 },${scheme}`,
    '  "training": { "epochs": 3, "batchSize": 32, "optimizer": { "kind": "adam", "learningRate": 0.001 } },',
    '  "knowledge": [',
    `    ${entry}`,
    '  ]',
    '}',
  ].join('\n');
}

function parsed(text: string) {
  const { config, errors } = parseExperimentText(text, 'exp.distill.json');
  return { config, messages: errors.map(formatConfigError) };
}

test('config: an adversarial entry needs only kind and weight (method and the rest default); at most one pair', () => {
  const r = parsed(experiment('{ "kind": "adversarial", "weight": 0.1 }'));
  assert.deepEqual(r.messages, []);
  assert.deepEqual(r.config?.knowledge[0], {
    kind: 'adversarial', weight: 0.1, method: 'adversarial', temperature: 1, hidden: [64], learningRate: 0.0002, conditional: false, schedule: { kind: 'constant' },
  });
  const two = parsed(experiment('{ "kind": "adversarial", "weight": 1, "pairs": [{ "teacher": "a", "student": "b" }, { "teacher": "c", "student": "d" }] }'));
  assert.equal(two.config, undefined);
  assert.ok(two.messages.some((m) => m.includes('knowledge[0].pairs')), two.messages.join('\n'));
  const noWeight = parsed(experiment('{ "kind": "adversarial" }'));
  assert.ok(noWeight.messages.some((m) => m.includes('"weight"')), noWeight.messages.join('\n'));
  const wrongMethod = parsed(experiment('{ "kind": "adversarial", "method": "gan", "weight": 1 }'));
  assert.ok(wrongMethod.messages.some((m) => m.includes('knowledge[0].method') && m.includes('"adversarial"')), wrongMethod.messages.join('\n'));
  // the other kinds still need their method
  const kd = parsed(experiment('{ "kind": "response", "temperature": 4, "weight": 1 }'));
  assert.ok(kd.messages.some((m) => m.includes('missing required field "method"')), kd.messages.join('\n'));
  const withPair = parsed(experiment('{ "kind": "adversarial", "weight": 1, "temperature": 4, "pairs": [{ "teacher": "a", "student": "b" }] }'));
  assert.ok(withPair.config);
  assert.ok(withPair.messages.some((m) => m.includes('warning: knowledge[0].temperature') && m.includes('not used')), withPair.messages.join('\n'));
});

test('config: schemes online and self refuse an adversarial entry, located at the entry', () => {
  const online = parsed(experiment('{ "kind": "adversarial", "weight": 1 }', ' "scheme": { "kind": "online", "peers": 2, "temperature": 1 },'));
  assert.ok(online.messages.some((m) => /:9:5  knowledge\[0\]: adversarial: scheme "online" .* use scheme "offline"/.test(m)), online.messages.join('\n'));
  assert.equal(online.config, undefined);
  const self = parsed(experiment('{ "kind": "adversarial", "weight": 1 }', ' "scheme": { "kind": "self", "heads": [{ "layer": "x" }] },'));
  assert.ok(self.messages.some((m) => /:9:5  knowledge\[0\]: adversarial: scheme "self" has no teacher/.test(m)), self.messages.join('\n'));
  const born = parsed(experiment('{ "kind": "adversarial", "weight": 1 }', ' "scheme": { "kind": "born-again", "generations": 2 },'));
  assert.ok(!born.messages.some((m) => m.includes('knowledge[0]')), born.messages.join('\n'));
});

// ---------------------------------------------------------------------------------------------
// The report's warning.

function epoch(job: string, e: number, extras?: Record<string, number>): MetricRecord {
  return { type: 'epoch', job, epoch: e, losses: {}, trainAcc: 0.5, testAcc: 0.5, testErrors: 1, seconds: 1, t: '', ...(extras ? { extras } : {}) } as MetricRecord;
}

test('discriminator-wins: fires on an epoch mean ≥ 0.99 naming the job, term, epoch and value; not below, not on other extras', () => {
  const calm = [epoch('distill-s1', 1, { 'adversarial.discAcc': 0.7, 'adversarial.discLoss': 1.2 }), epoch('distill-s1', 2, { 'adversarial.discAcc': 0.989 }),
    epoch('scratch-s1', 1), epoch('distill-s2', 1, { 'aux.acc': 0.999 })];
  assert.equal(discriminatorWinsWarning(calm), undefined);
  const w = discriminatorWinsWarning([...calm, epoch('distill-s2', 3, { 'adversarial#2.discAcc': 0.995, 'adversarial.discAcc': 0.6 }), epoch('distill-s3', 1, { 'adversarial.discAcc': 0.99 })]);
  assert.ok(w);
  assert.equal(w.kind, 'discriminator-wins');
  assert.match(w.message, /distill-s2 epoch 3 \(adversarial#2\): 99\.5%; distill-s3 epoch 1 \(adversarial\): 99\.0%/);
  assert.ok(!w.message.includes('distill-s1'));
  assert.ok(w.causes.some((c) => c.includes('learningRate')));
});

test('the term leaks no tensor over its steps (the captured outputs are disposed by D\'s step)', () => {
  const m = models();
  const x = tf.tensor2d(Array.from({ length: 4 * 6 }, (_, i) => Math.sin(i)), [4, 6]);
  const y = tf.tensor1d([0, 1, 2, 0], 'int32');
  const terms = buildTerms(configWith([ADV, { ...ADV, pairs: [{ teacher: 't_hidden', student: 's_hidden', adapter: 'auto' }] }]), 'distill', m, { adapterPrefix: 'a' });
  const vars = [...m.student.trainableWeights.map((w) => w.read() as tf.Variable), ...adapterVariables(terms)];
  for (const t of terms) step(t, m, x, y, vars);
  const before = tf.memory().numTensors;
  for (let k = 0; k < 3; k++) for (const t of terms) step(t, m, x, y, vars);
  for (const t of terms) t.beforeCheckpoint!();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
});

/**
 * The cross-engine conformance fixture (test/fixtures/conformance/losses.json): fixed, seeded input
 * tensors for every method of the catalogue (src/methods/catalogue.ts), with the TF.js engine's loss
 * value and its gradients w.r.t. the student-side inputs, computed by the engine's own loss
 * functions, adapters and modules on the wasm backend (float32) as the engine initialises it
 * (src/engine/backend: its custom kernels included) — the backend `auto` picks without tfjs-node.
 *
 * The wasm backend is the one `auto` picks here (the stock cpu kernel of the upsampling gradient was
 * wrong for batches > 1; src/engine/backend/cpu/ResizeNearestNeighborGrad.ts replaces it). The PyTorch engine's losses are held
 * to it by python/tests/test_conformance.py; test/unit/conformance.test.ts holds the file to this
 * generator (a change of a TF.js loss without regenerating the fixture fails there).
 *
 * Regenerate: `node --import tsx test/helpers/write-conformance-fixture.ts`.
 *
 * The schemes whose loss lives in a learner have a case each: `dml` (scheme online, 3 peers) and
 * `byot` (scheme self, a head on an NHWC map and one on a vector; its heads read features flattened
 * in NHWC order, as the PyTorch engine must too); their `extra.terms` are the unweighted terms.
 *
 * Layout: every tensor is stored as the TF.js engine holds it — feature maps NHWC [B,H,W,C], dense
 * kernels [in,out], conv kernels [kh,kw,in,out] — under its TF.js weight name; the Python side
 * permutes to NCHW / torch's [out,in,kh,kw] itself. Inputs are float32 values (exact in JSON).
 */
import * as tf from '@tensorflow/tfjs';
import { METHOD_INFO, pairShapeError } from '../../src/methods/catalogue';
import type { ShapeLike } from '../../src/methods/catalogue';
import { closestNames } from '../../src/config/names';
import { mulberry32 } from '../../src/engine/training/random';
import { crossEntropy } from '../../src/engine/losses/labels';
import { standardizeLogits } from '../../src/engine/losses/response/standardize';
import { kdLoss } from '../../src/engine/losses/response/kd';
import { dkdLoss } from '../../src/engine/losses/response/dkd';
import { multiTeacherKdLoss } from '../../src/engine/losses/response/multiTeacher';
import { distLoss } from '../../src/engine/losses/response/dist';
import { ctkdLoss, initialTheta, reversalWeight } from '../../src/engine/losses/response/ctkd';
import { fitnetLoss } from '../../src/engine/losses/feature/fitnet';
import { atLoss } from '../../src/engine/losses/feature/at';
import { nstLoss } from '../../src/engine/losses/feature/nst';
import { hclLoss, reviewLoss } from '../../src/engine/losses/feature/reviewkd';
import { rkdAngleLoss, rkdDistanceLoss } from '../../src/engine/losses/relation/rkd';
import { spLoss } from '../../src/engine/losses/relation/sp';
import { fspLoss } from '../../src/engine/losses/relation/fsp';
import { pktLoss } from '../../src/engine/losses/relation/pkt';
import { ccLoss } from '../../src/engine/losses/relation/cc';
import { crdLoss, crdNormalisers, gatherMemory, initialMemory, l2Rows, sampleContrast, updateMemory } from '../../src/engine/losses/relation/crd';
import { PairError, planAdapter } from '../../src/engine/knowledge/pairs';
import { buildReviewFusion, reviewStageProblems } from '../../src/engine/knowledge/reviewkd';
import { adversarialStudentLoss, discriminatorInput, discriminatorLogits, discriminatorLoss, discriminatorStep } from '../../src/engine/losses/adversarial';
import { buildDiscriminator } from '../../src/engine/knowledge/adversarial';
import { dmlLosses } from '../../src/engine/schemes/online';
import { byotHead, byotLosses } from '../../src/engine/schemes/self';

export const FIXTURE_PATH = 'test/fixtures/conformance/losses.json';

/** A tensor in the fixture: its shape and its values, row-major. */
export interface FixtureTensor { shape: number[]; data: number[] }

export interface ConformanceCase {
  /** Unique case name (`kd`, `kd/standardize`, `fitnet/maps-pool`, …). */
  name: string;
  /** The catalogue method the case covers, or `labels` / `standardize`, or the scheme (`online`: dml, `self`: byot). */
  method: string;
  options: Record<string, unknown>;
  inputs: Record<string, FixtureTensor>;
  /** Learned parts (adapters, heads, θ, fusion), by TF.js weight name. */
  params: Record<string, FixtureTensor>;
  /** The TF.js engine's loss value. */
  value: number;
  /** Gradients of the loss w.r.t. these inputs (and params: ctkd's θ, byot's head and adapter weights by TF.js name). */
  grads: Record<string, FixtureTensor>;
  /** Further outputs worth holding the other engine to (ctkd's τ, crd's negatives and banks). */
  extra: Record<string, unknown>;
}

export interface ConformanceFixture {
  generator: string;
  backend: string;
  dtype: 'float32';
  layout: string;
  /** The catalogue's shape rules, so the Python table is held to the TypeScript one. */
  catalogue: { method: string; kind: string; ranks: readonly number[] | 'any'; sameShape: boolean; sameSpatial: boolean; layerPairs: boolean }[];
  cases: ConformanceCase[];
  /** catalogue.pairShapeError of TF-ordered shapes (maps NHWC, batch null = unknown): the wording both engines use. */
  shapeMessages: { method: string; student: (number | null)[]; teacher: (number | null)[]; teacherName?: string; message: string | null }[];
  /** pairs.ts planAdapter of TF-ordered shapes: the adapter's description and output shape, or the refusal. */
  adapterPlans: { method: string; adapter: string; student: (number | null)[]; teacher: (number | null)[]; description?: string; outputShape?: (number | null)[]; error?: string }[];
  /** reviewkd.ts reviewStageProblems of TF-ordered stage shapes (entry 0): each problem's path and message. */
  reviewStages: { student: (number | null)[][]; teacher: (number | null)[][]; problems: { path: (string | number)[]; message: string }[] }[];
  /** The refusals the loss functions themselves throw for bad tensors or options (name → message). */
  errorMessages: { name: string; message: string }[];
  /** names.ts closestNames: the "closest:" list of an unknown layer's message. */
  closestNames: { name: string; names: string[]; closest: string[] }[];
}

function store(t: tf.Tensor): FixtureTensor {
  return { shape: [...t.shape], data: Array.from(t.dataSync()) };
}

/** Seeded uniform values in [−scale, scale), rounded to float32. */
function random(rng: () => number, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale), shape);
}

/** Sets every weight of `model` to seeded values (layer order) and returns them by weight name. */
function seedWeights(model: tf.LayersModel, rng: () => number, scale = 0.5): Record<string, FixtureTensor> {
  const out: Record<string, FixtureTensor> = {};
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (ws.length === 0) continue;
    const values = ws.map((w) => random(rng, [...w.shape] as number[], scale));
    layer.setWeights(values);
    ws.forEach((w, i) => {
      out[w.originalName] = store(values[i]);
    });
    tf.dispose(values);
  }
  return out;
}

/** Loss value and gradients w.r.t. `wrt` (a subset of `inputs`) of `f` on the current backend. */
function evaluate(inputs: Record<string, tf.Tensor>, wrt: string[], f: (x: Record<string, tf.Tensor>) => tf.Scalar): { value: number; grads: Record<string, FixtureTensor> } {
  const names = wrt;
  const g = tf.grads((...xs: tf.Tensor[]) => {
    const all = { ...inputs };
    names.forEach((n, i) => {
      all[n] = xs[i];
    });
    return f(all);
  });
  const grads = g(names.map((n) => inputs[n]));
  const value = f(inputs).dataSync()[0];
  const out: Record<string, FixtureTensor> = {};
  names.forEach((n, i) => {
    out[n] = store(grads[i]);
  });
  tf.dispose(grads);
  return { value, grads: out };
}

function storeAll(inputs: Record<string, tf.Tensor>): Record<string, FixtureTensor> {
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, store(v)]));
}

/**
 * Builds the fixture. Deterministic: the same seeds, the same TF.js code → the same numbers.
 * Call after `initBackend('wasm')` (src/engine/backend).
 */
export function buildConformanceFixture(): ConformanceFixture {
  if (tf.getBackend() !== 'wasm') throw new Error(`conformance fixture: expected the wasm backend, found ${tf.getBackend()}`);
  const rng = mulberry32(20261202);
  const cases: ConformanceCase[] = [];
  const add = (name: string, method: string, options: Record<string, unknown>, inputs: Record<string, tf.Tensor>, wrt: string[],
    f: (x: Record<string, tf.Tensor>) => tf.Scalar, params: Record<string, FixtureTensor> = {}, extra: Record<string, unknown> = {}) => {
    const { value, grads } = evaluate(inputs, wrt, f);
    cases.push({ name, method, options, inputs: storeAll(inputs), params, value, grads, extra });
    tf.dispose(Object.values(inputs));
  };

  // --- labels, standardisation, response methods: logits [6, 5], labels of every class.
  const B = 6;
  const K = 5;
  const labels = () => tf.tensor1d([0, 1, 2, 3, 4, 2], 'int32');
  const logits = (scale = 3) => random(rng, [B, K], scale);
  add('labels', 'labels', {}, { zs: logits(), y: labels() }, ['zs'], (x) => crossEntropy(x.zs, x.y));
  add('standardize', 'standardize', {}, { z: logits(), w: random(rng, [B, K]) }, ['z'],
    (x) => tf.sum(tf.mul(standardizeLogits(x.z), x.w)) as tf.Scalar);
  add('kd', 'kd', { temperature: 4 }, { zs: logits(), zt: logits(5) }, ['zs'], (x) => kdLoss(x.zs, x.zt, 4));
  add('kd/standardize', 'kd', { temperature: 2, standardize: true }, { zs: logits(), zt: logits(5) }, ['zs'], (x) => kdLoss(x.zs, x.zt, 2, true));
  const dkd = { alpha: 1, beta: 8, temperature: 4 };
  add('dkd', 'dkd', dkd, { zs: logits(), zt: logits(5), y: labels() }, ['zs'], (x) => dkdLoss(x.zs, x.zt, x.y, dkd));
  const dkdStd = { alpha: 0.5, beta: 2, temperature: 2, standardize: true };
  add('dkd/standardize', 'dkd', dkdStd, { zs: logits(), zt: logits(5), y: labels() }, ['zs'], (x) => dkdLoss(x.zs, x.zt, x.y, dkdStd));
  add('multi-kd', 'multi-kd', { temperature: 3, weights: [1, 0.5, 0] }, { zs: logits(), zt0: logits(5), zt1: logits(5), zt2: logits(5) }, ['zs'],
    (x) => multiTeacherKdLoss(x.zs, [x.zt0, x.zt1, x.zt2], [1, 0.5, 0], 3));
  const dist = { beta: 1, gamma: 2, temperature: 4 };
  add('dist', 'dist', dist, { zs: logits(), zt: logits(5) }, ['zs'], (x) => distLoss(x.zs, x.zt, dist));
  const distStd = { beta: 2, gamma: 1, temperature: 1, standardize: true };
  add('dist/standardize', 'dist', distStd, { zs: logits(), zt: logits(5) }, ['zs'], (x) => distLoss(x.zs, x.zt, distStd));
  {
    const o = { minTemperature: 1, temperatureRange: 20, maxReversal: 1, reversalEpochs: 10, initialTemperature: 6 };
    const epoch = 4;
    const lambda = reversalWeight(epoch, o);
    const theta0 = initialTheta(o);
    let temperature = Number.NaN;
    add('ctkd', 'ctkd', { ...o, epoch }, { zs: logits(), zt: logits(5), theta: tf.tensor1d([theta0]) }, ['zs', 'theta'], (x) => {
      const r = ctkdLoss(x.zs, x.zt, x.theta, lambda, o);
      temperature = r.temperature.dataSync()[0];
      return r.loss;
    });
    const last = cases[cases.length - 1];
    last.extra = { lambda, theta0, temperature };
  }

  // --- feature methods.
  {
    // fitnet on vectors through the `dense` adapter the engine plans.
    const plan = planAdapter('fitnet', { teacher: 't', student: 's', adapter: 'auto' }, [null, 6], [null, 8]);
    const adapter = plan.build('fit_vec')!;
    const params = seedWeights(adapter, rng);
    add('fitnet/vectors-dense', 'fitnet', { adapter: plan.description }, { fs: random(rng, [4, 6]), ft: random(rng, [4, 8]) }, ['fs'],
      (x) => fitnetLoss(adapter.apply(x.fs) as tf.Tensor, x.ft), params);
    adapter.dispose();
  }
  for (const [label, sShape, tShape] of [
    ['maps-pool', [2, 8, 8, 3], [2, 4, 4, 4]],
    ['maps-upsample', [2, 2, 2, 3], [2, 4, 4, 4]],
  ] as const) {
    const plan = planAdapter('fitnet', { teacher: 't', student: 's', adapter: 'auto' }, [null, ...sShape.slice(1)], [null, ...tShape.slice(1)]);
    const adapter = plan.build(`fit_${label.replace('-', '_')}`)!;
    const params = seedWeights(adapter, rng);
    add(`fitnet/${label}`, 'fitnet', { adapter: plan.description }, { fs: random(rng, [...sShape]), ft: random(rng, [...tShape]) }, ['fs'],
      (x) => fitnetLoss(adapter.apply(x.fs) as tf.Tensor, x.ft), params);
    adapter.dispose();
  }
  add('at', 'at', { p: 2 }, { fs: random(rng, [2, 6, 6, 3]), ft: random(rng, [2, 6, 6, 5]) }, ['fs'], (x) => atLoss(x.fs, x.ft, 2));
  add('at/p3', 'at', { p: 3 }, { fs: random(rng, [2, 6, 6, 3]), ft: random(rng, [2, 6, 6, 5]) }, ['fs'], (x) => atLoss(x.fs, x.ft, 3));
  add('nst', 'nst', {}, { fs: random(rng, [2, 5, 5, 3]), ft: random(rng, [2, 5, 5, 4]) }, ['fs'], (x) => nstLoss(x.fs, x.ft));
  add('reviewkd/hcl', 'reviewkd', {}, { fs: random(rng, [2, 6, 6, 3]), ft: random(rng, [2, 6, 6, 3]) }, ['fs'], (x) => hclLoss(x.fs, x.ft));
  {
    // Two stages, shallow → deep: stage 0 upsampled to its teacher stage, stage 1 pooled to it.
    const student = [[2, 4, 4, 3], [2, 2, 2, 5]];
    const teacher = [[2, 8, 8, 4], [2, 1, 1, 6]];
    const mid = 3;
    const fusion = buildReviewFusion('review', student.map((s) => [null, ...s.slice(1)]), teacher.map((s) => [null, ...s.slice(1)]), mid);
    const params = seedWeights(fusion, rng);
    add('reviewkd', 'reviewkd', { midChannels: mid, name: 'review' },
      { fs0: random(rng, student[0]), fs1: random(rng, student[1]), ft0: random(rng, teacher[0]), ft1: random(rng, teacher[1]) }, ['fs0', 'fs1'],
      (x) => {
        const fused = fusion.apply([x.fs0, x.fs1]) as tf.Tensor[];
        return tf.add(hclLoss(fused[0], x.ft0), hclLoss(fused[1], x.ft1)) as tf.Scalar;
      }, params);
    fusion.dispose();
  }

  // --- relation methods: vectors with different D, and maps (flattened).
  const relation: [string, (fs: tf.Tensor, ft: tf.Tensor) => tf.Scalar][] = [
    ['rkd-distance', rkdDistanceLoss], ['rkd-angle', rkdAngleLoss], ['sp', spLoss], ['pkt', (a, b) => pktLoss(a, b)], ['cc', (a, b) => ccLoss(a, b)],
  ];
  for (const [method, loss] of relation) {
    add(method, method, {}, { fs: random(rng, [5, 7]), ft: random(rng, [5, 9]) }, ['fs'], (x) => loss(x.fs, x.ft));
    add(`${method}/maps`, method, {}, { fs: random(rng, [4, 3, 3, 2]), ft: random(rng, [4, 2, 2, 5]) }, ['fs'], (x) => loss(x.fs, x.ft));
  }
  add('fsp', 'fsp', {}, { fs1: random(rng, [2, 4, 4, 3]), fs2: random(rng, [2, 4, 4, 5]), ft1: random(rng, [2, 6, 6, 3]), ft2: random(rng, [2, 6, 6, 5]) },
    ['fs1', 'fs2'], (x) => fspLoss(x.fs1, x.fs2, x.ft1, x.ft2));
  {
    // crd: dense heads, banks from the engine's seeded start, negatives from the engine's sampler.
    const n = 12;
    const d = 5;
    const k = 4;
    const temperature = 0.5;
    const momentum = 0.5;
    const trainLabels = Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    const idx = Int32Array.from([3, 7, 10, 0]);
    const b = idx.length;
    const seedS = 1234567;
    const seedT = seedS ^ 0x5bd1e995;
    const bankS = initialMemory(n, d, seedS);
    const bankT = initialMemory(n, d, seedT >>> 0);
    const headOf = (name: string, inDim: number) => {
      const m = tf.sequential({ name });
      m.add(tf.layers.dense({ inputShape: [inDim], units: d, name: `${name}_dense` }));
      return m;
    };
    const headS = headOf('crd_student', 6);
    const headT = headOf('crd_teacher', 7);
    const params = { ...seedWeights(headS, rng), ...seedWeights(headT, rng) };
    const rows = sampleContrast(idx, trainLabels, k);
    const memS = tf.tensor3d(gatherMemory(bankS, d, rows), [b, k + 1, d]);
    const memT = tf.tensor3d(gatherMemory(bankT, d, rows), [b, k + 1, d]);
    const fs = random(rng, [b, 6]);
    const ft = random(rng, [b, 7]);
    const es0 = headS.apply(fs) as tf.Tensor2D;
    const et0 = headT.apply(ft) as tf.Tensor2D;
    const z = crdNormalisers(es0, et0, memS, memT, temperature, n);
    const vs = l2Rows(es0).dataSync() as Float32Array;
    const vt = l2Rows(et0).dataSync() as Float32Array;
    const bankSAfter = bankS.slice();
    const bankTAfter = bankT.slice();
    updateMemory(bankSAfter, d, idx, vs, momentum);
    updateMemory(bankTAfter, d, idx, vt, momentum);
    tf.dispose([es0, et0]);
    add('crd', 'crd', { temperature, n, k, d, momentum, zs: z.zs, zt: z.zt, seedS, seedT: seedT >>> 0 },
      { fs, ft }, ['fs'],
      (x) => crdLoss(headS.apply(x.fs) as tf.Tensor, headT.apply(x.ft) as tf.Tensor, memS, memT, { temperature, n, zs: z.zs, zt: z.zt }), params,
      {
        trainLabels: Array.from(trainLabels), idx: Array.from(idx), rows: Array.from(rows),
        // a larger draw (many rejections, past the torch side's chunk of 256 draws): 500 samples of 5 classes, 16 × 40 negatives
        large: (() => {
          const labelsLarge = Int32Array.from({ length: 500 }, (_, i) => (i * 7) % 5);
          const idxLarge = Int32Array.from({ length: 16 }, (_, i) => (i * 31) % 500);
          return { trainLabels: Array.from(labelsLarge), idx: Array.from(idxLarge), k: 40, rows: Array.from(sampleContrast(idxLarge, labelsLarge, 40)) };
        })(),
        bankS: Array.from(bankS), bankT: Array.from(bankT), bankSAfter: Array.from(bankSAfter), bankTAfter: Array.from(bankTAfter),
      });
    tf.dispose([memS, memT]);
    headS.dispose();
    headT.dispose();
  }

  // --- adversarial (issue 18): D with seeded weights (dense kernels [in,out]); the case's value and
  // grads are the student's term −mean log σ(D(x_s)) w.r.t. the student-side input; `extra` holds D's
  // logits, loss and accuracy on that batch, and D's parameters, loss and accuracy over two Adam
  // steps (β₁ 0.5, β₂ 0.999, ε 1e-8, from zero moments) on the same detached inputs.
  {
    const advCase = (name: string, o: { temperature?: number; hidden: number[]; conditional: boolean; learningRate: number; classes: number },
      inputs: Record<string, tf.Tensor>, features: number, view: (x: Record<string, tf.Tensor>, who: 's' | 't') => tf.Tensor, adapterParams: Record<string, FixtureTensor> = {}) => {
      const dName = `${name.replace(/[^a-z]/g, '_')}_d`;
      const disc = buildDiscriminator(dName, features + (o.conditional ? o.classes : 0), o.hidden);
      const params = { ...adapterParams, ...seedWeights(disc, rng) };
      const weights = disc.layers.flatMap((l) => l.weights.map((w) => w.read()));
      const names = disc.layers.flatMap((l) => l.weights.map((w) => w.originalName));
      const xs = view(inputs, 's');
      const xt = view(inputs, 't');
      const ds = discriminatorLogits(xs, weights);
      const dt = discriminatorLogits(xt, weights);
      const dLoss = discriminatorLoss(dt, ds).dataSync()[0];
      const right = Array.from(dt.dataSync()).filter((v) => v > 0).length + Array.from(ds.dataSync()).filter((v) => v < 0).length;
      const state = { params: weights.map((w) => tf.variable(w.clone())), m: weights.map((w) => tf.variable(tf.zerosLike(w))), v: weights.map((w) => tf.variable(tf.zerosLike(w))), step: 0 };
      const steps = [1, 2].map(() => {
        const r = discriminatorStep(state, xt, xs, o.learningRate);
        return { loss: r.loss, acc: r.acc, params: Object.fromEntries(names.map((n, i) => [n, store(state.params[i])])) };
      });
      const extra = {
        discriminator: { layers: names, leakySlope: 0.2, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 },
        dStudent: Array.from(ds.dataSync()), dTeacher: Array.from(dt.dataSync()), discLoss: dLoss, discAcc: right / (2 * ds.shape[0]),
        adamSteps: steps,
      };
      tf.dispose([xs, xt, ds, dt, ...state.params, ...state.m, ...state.v]);
      add(name, 'adversarial', { ...o, flatten: 'NHWC (the TF.js layout: permute NCHW features to NHWC before flattening)' }, inputs, [Object.keys(inputs)[0]],
        (x) => adversarialStudentLoss(discriminatorLogits(view(x, 's'), weights)), params, extra);
      disc.dispose();
    };
    const K2 = 4;
    const soft = (o: { temperature: number; conditional: boolean }) => (x: Record<string, tf.Tensor>, who: 's' | 't') =>
      discriminatorInput(who === 's' ? x.zs : x.zt, { temperature: o.temperature, labels: o.conditional ? x.y : undefined, numClasses: K2 });
    const o1 = { temperature: 2, hidden: [6], conditional: false, learningRate: 0.01, classes: K2 };
    advCase('adversarial', o1, { zs: random(rng, [6, K2], 3), zt: random(rng, [6, K2], 5) }, K2, soft(o1));
    const o2 = { temperature: 1, hidden: [5, 3], conditional: true, learningRate: 0.05, classes: K2 };
    advCase('adversarial/conditional', o2, { zs: random(rng, [6, K2], 3), zt: random(rng, [6, K2], 5), y: tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32') }, K2, soft(o2));
    // a pair of feature maps: the student's through the conv1x1 adapter the engine plans (3 → 5 channels), D on 4·4·5 values
    const plan = planAdapter('adversarial', { teacher: 't', student: 's', adapter: 'auto' }, [null, 4, 4, 3], [null, 4, 4, 5]);
    const adapter = plan.build('adv_pair')!;
    const adapterParams = seedWeights(adapter, rng);
    const o3 = { hidden: [6], conditional: false, learningRate: 0.01, classes: K2, adapter: plan.description };
    advCase('adversarial/pair-maps', o3, { fs: random(rng, [3, 4, 4, 3]), ft: random(rng, [3, 4, 4, 5]) }, 4 * 4 * 5,
      (x, who) => discriminatorInput(who === 's' ? adapter.apply(x.fs) as tf.Tensor : x.ft, {}), adapterParams);
    adapter.dispose();
  }

  // --- schemes whose loss lives in a learner (src/engine/schemes): online (DML, 3 peers) and self
  // (BYOT, 2 heads). `extra.terms` holds every unweighted term in the learner's order; the value is the total.
  {
    const Bs = 5;
    const Kc = 4;
    const ys = () => tf.tensor1d([0, 1, 2, 3, 1], 'int32');
    const dml = { labelsWeight: 0.7, temperature: 3, peers: ['teacher', 'student', 'student2'] };
    let dmlTerms: number[] = [];
    // the gradient w.r.t. z_k is peer k's own CE and KD only: the other peers' logits are detached targets
    add('dml', 'online', dml, { z0: random(rng, [Bs, Kc], 3), z1: random(rng, [Bs, Kc], 3), z2: random(rng, [Bs, Kc], 3), y: ys() }, ['z0', 'z1', 'z2'],
      (x) => {
        const r = dmlLosses([x.z0, x.z1, x.z2], x.y, dml.labelsWeight, dml.temperature);
        dmlTerms = r.terms.map((t) => t.dataSync()[0]);
        return r.total;
      });
    cases[cases.length - 1].extra = { terms: dmlTerms, termNames: dml.peers.flatMap((p) => [`${p}.labels`, `${p}.dml`]) };

    // BYOT: head 'block1' on a map [B,3,2,4] (H ≠ W: the NHWC flattening order shows), head 'dense1'
    // on a vector [B,6]; F a map [B,2,2,3] (flattened NHWC to 12 values). Gradients w.r.t. z (its CE
    // only: z is a detached target of the KD terms), the head features and every head/adapter weight.
    const byot = { temperature: 3, alpha: 0.3, beta: 0.5, layers: ['block1', 'dense1'] };
    const mapShape = [Bs, 3, 2, 4];
    const vecShape = [Bs, 6];
    const deepShape = [Bs, 2, 2, 3];
    const heads = [byotHead('block1', 3 * 2 * 4, Kc, 2 * 2 * 3), byotHead('dense1', 6, Kc, 2 * 2 * 3)];
    const params: Record<string, FixtureTensor> = {};
    for (const h of heads) Object.assign(params, seedWeights(h.head, rng), seedWeights(h.adapter, rng));
    const inputs: Record<string, tf.Tensor> = { z: random(rng, [Bs, Kc], 3), deep: random(rng, deepShape), f0: random(rng, mapShape), f1: random(rng, vecShape), y: ys() };
    const wrt = ['z', 'f0', 'f1'];
    const inVars = wrt.map((n) => tf.variable(inputs[n].clone(), true, `byot_input_${n}`));
    const weights = heads.flatMap((h) => [...h.head.trainableWeights, ...h.adapter.trainableWeights]);
    let byotTerms: number[] = [];
    const r = tf.variableGrads(() => {
      const out = byotLosses(inVars[0], inputs.deep, [inVars[1], inVars[2]], inputs.y, heads, byot);
      byotTerms = out.terms.map((t) => t.dataSync()[0]);
      return out.total;
    }, [...inVars, ...weights.map((w) => w.read() as tf.Variable)]);
    const grads: Record<string, FixtureTensor> = {};
    wrt.forEach((n, i) => {
      grads[n] = store(r.grads[inVars[i].name]);
    });
    weights.forEach((w) => {
      grads[w.originalName] = store(r.grads[(w.read() as tf.Variable).name]);
    });
    cases.push({
      name: 'byot', method: 'self', options: byot, inputs: storeAll(inputs), params, value: r.value.dataSync()[0], grads,
      extra: { terms: byotTerms, termNames: ['labels', ...byot.layers.flatMap((l) => [`head:${l}.labels`, `head:${l}.kd`, `head:${l}.hint`])] },
    });
    tf.dispose([r.value, ...Object.values(r.grads), ...inVars, ...Object.values(inputs)]);
    heads.forEach((h) => {
      h.head.dispose();
      h.adapter.dispose();
    });
  }

  const shapePairs: [ShapeLike, ShapeLike, string?][] = [
    [[8, 10], [8, 10]], [[8, 10], [8, 12]], [[8, 10], [4, 10]], [[8, 10], [8, 10], 'teacher 2'], [[8, 10], [4, 10], 'teacher 2'],
    [[8, 6, 6, 3], [8, 6, 6, 5]], [[8, 6, 6, 3], [8, 3, 3, 3]], [[null, 6, 6, 3], [null, 6, 6, 3]], [[null, 6, 4, 3], [null, 6, 6, 3]],
    [[8], [8]], [[8, 4, 4], [8, 4, 4]], [[8, 10], [8, 6, 6, 3]], [[8, 6, 6, 3], [8, 10]], [[null, 10], [null, 12]],
  ];
  const shapeMessages = METHOD_INFO.flatMap((m) => shapePairs.map(([st, te, who]) => ({
    method: m.method, student: [...st], teacher: [...te], ...(who ? { teacherName: who } : {}), message: pairShapeError(m.method, st, te, who),
  })));
  const planShapes: [ShapeLike, ShapeLike][] = [
    [[null, 6], [null, 8]], [[null, 8], [null, 8]], [[null, 8, 8, 3], [null, 4, 4, 4]], [[null, 2, 2, 3], [null, 4, 4, 4]], [[null, 6, 6, 3], [null, 4, 4, 3]],
    [[null, 4, 4, 3], [null, 4, 4, 3]], [[null, 4, 4, 3], [null, 4, 4, 5]], [[null, 8, 4, 3], [null, 4, 4, 3]], [[null, 4, 4, 3], [null, 8]],
    [[null, 3, 4], [null, 3, 4]], [[null, 3, 4], [null, 3, 5]],
  ];
  const adapterPlans: ConformanceFixture['adapterPlans'] = [];
  for (const method of ['fitnet', 'at', 'nst', 'sp', 'rkd-distance', 'cc', 'adversarial']) {
    for (const adapter of ['auto', 'none', 'dense', 'conv1x1'] as const) {
      for (const [st, te] of planShapes) {
        const row = { method, adapter, student: [...st], teacher: [...te] };
        try {
          const plan = planAdapter(method, { teacher: 'block3', student: 'conv2', adapter }, [...st], [...te]);
          adapterPlans.push({ ...row, description: plan.description, outputShape: [...plan.outputShape] });
        } catch (e) {
          if (!(e instanceof PairError)) throw e;
          adapterPlans.push({ ...row, error: e.message });
        }
      }
    }
  }
  const layerList = ['features.0', 'features.1', 'features.3', 'layer1.0.conv1', 'layer1.0.bn1', 'layer2.1.conv2', 'fc', 'classifier.1', 'head'];
  const closest = ['featurs.3', 'layer2.1.conv1', 'Layer1.0.Conv1', 'fc1', 'classifier', 'zzz', 'heads', 'features.10'].map((name) => ({
    name, names: layerList, closest: closestNames(name, layerList),
  }));

  // Each call below must throw; Python's test_conformance.py makes the same call (by name) on NCHW tensors.
  const z = (...shape: number[]) => tf.zeros(shape);
  const ids = (...v: number[]) => tf.tensor1d(v, 'int32');
  const calls: [string, () => unknown][] = [
    ['dkd/label', () => dkdLoss(z(4, 3), z(4, 3), ids(0, 1, 5, 2), { alpha: 1, beta: 8, temperature: 4 })],
    ['dkd/labels-shape', () => dkdLoss(z(4, 3), z(4, 3), ids(0, 1, 2), { alpha: 1, beta: 8, temperature: 4 })],
    ['dkd/one-class', () => dkdLoss(z(4, 1), z(4, 1), ids(0, 0, 0, 0), { alpha: 1, beta: 8, temperature: 4 })],
    ['dkd/temperature', () => dkdLoss(z(4, 3), z(4, 3), ids(0, 1, 2, 0), { alpha: 1, beta: 8, temperature: 0 })],
    ['dkd/shapes', () => dkdLoss(z(4, 3), z(4, 5), ids(0, 1, 2, 0), { alpha: 1, beta: 8, temperature: 4 })],
    ['multi-kd/none', () => multiTeacherKdLoss(z(4, 3), [], [], 4)],
    ['multi-kd/weights-count', () => multiTeacherKdLoss(z(4, 3), [z(4, 3), z(4, 3)], [1], 4)],
    ['multi-kd/negative-weight', () => multiTeacherKdLoss(z(4, 3), [z(4, 3), z(4, 3)], [1, -0.5], 4)],
    ['multi-kd/zero-weights', () => multiTeacherKdLoss(z(4, 3), [z(4, 3), z(4, 3)], [0, 0], 4)],
    ['multi-kd/teacher-2-shape', () => multiTeacherKdLoss(z(4, 3), [z(4, 3), z(4, 5)], [1, 1], 4)],
    ['multi-kd/temperature', () => multiTeacherKdLoss(z(4, 3), [z(4, 3)], [1], -1)],
    ['dist/temperature', () => distLoss(z(4, 3), z(4, 3), { beta: 1, gamma: 1, temperature: -0.00001 })],
    ['dist/rank', () => distLoss(z(4, 3, 2), z(4, 3, 2), { beta: 1, gamma: 1, temperature: 1 })],
    ['ctkd/min-temperature', () => ctkdLoss(z(4, 3), z(4, 3), tf.tensor1d([1]), 0, { minTemperature: 0, temperatureRange: 20 })],
    ['ctkd/range', () => ctkdLoss(z(4, 3), z(4, 3), tf.tensor1d([1]), 0, { minTemperature: 1, temperatureRange: -2.5 })],
    ['ctkd/initial-temperature', () => initialTheta({ minTemperature: 1, temperatureRange: 20, initialTemperature: 21.5 })],
    ['fitnet/shapes', () => fitnetLoss(z(2, 4, 4, 3), z(2, 4, 4, 5))],
    ['at/spatial', () => atLoss(z(2, 6, 6, 3), z(2, 3, 3, 3))],
    ['at/rank', () => atLoss(z(2, 10), z(2, 10))],
    ['at/p', () => atLoss(z(2, 4, 4, 3), z(2, 4, 4, 3), 0)],
    ['nst/batch', () => nstLoss(z(2, 4, 4, 3), z(3, 4, 4, 3))],
    ['reviewkd/differ', () => hclLoss(z(2, 4, 4, 3), z(2, 4, 4, 5))],
    ['reviewkd/rank', () => hclLoss(z(2, 12), z(2, 12))],
    ['reviewkd/stages', () => reviewLoss([z(2, 4, 4, 3)], [z(2, 4, 4, 3), z(2, 2, 2, 3)])],
    ['rkd-distance/rank', () => rkdDistanceLoss(z(8), z(8))],
    ['rkd-angle/batch', () => rkdAngleLoss(z(8, 3), z(6, 3))],
    ['sp/batch', () => spLoss(z(8, 3), z(6, 3))],
    ['pkt/rank', () => pktLoss(z(8), z(8, 2))],
    ['cc/gamma', () => ccLoss(z(4, 3), z(4, 3), -0.4)],
    ['fsp/student-spatial', () => fspLoss(z(2, 4, 4, 3), z(2, 2, 2, 5), z(2, 4, 4, 3), z(2, 4, 4, 5))],
    ['fsp/teacher-batch', () => fspLoss(z(2, 4, 4, 3), z(2, 4, 4, 5), z(2, 4, 4, 3), z(3, 4, 4, 5))],
    ['fsp/channels', () => fspLoss(z(2, 4, 4, 3), z(2, 4, 4, 5), z(2, 6, 6, 3), z(2, 6, 6, 4))],
    ['fsp/batch', () => fspLoss(z(2, 4, 4, 3), z(2, 4, 4, 5), z(3, 6, 6, 3), z(3, 6, 6, 5))],
    ['fsp/rank', () => fspLoss(z(2, 16), z(2, 4, 4, 5), z(2, 6, 6, 3), z(2, 6, 6, 5))],
    ['crd/embeddings', () => crdLoss(z(4, 5), z(4, 6), z(4, 3, 5), z(4, 3, 5), { temperature: 0.07, n: 10, zs: 1, zt: 1 })],
    ['crd/memory', () => crdLoss(z(4, 5), z(4, 5), z(4, 1, 5), z(4, 3, 5), { temperature: 0.07, n: 10, zs: 1, zt: 1 })],
    ['crd/temperature', () => crdLoss(z(4, 5), z(4, 5), z(4, 3, 5), z(4, 3, 5), { temperature: 0, n: 10, zs: 1, zt: 1 })],
  ];
  const errorMessages = calls.map(([name, call]) => {
    try {
      tf.tidy(() => {
        call();
      });
    } catch (e) {
      return { name, message: (e as Error).message };
    }
    throw new Error(`conformance fixture: ${name} was expected to throw`);
  });

  const stageSets: [number[][], number[][]][] = [
    [[[8, 8, 3], [4, 4, 5]], [[16, 16, 4], [2, 2, 6]]],
    [[[4, 4, 5], [8, 8, 3]], [[2, 2, 6], [16, 16, 4]]],
    [[[6, 6, 3], [4, 4, 5]], [[6, 6, 3], [4, 4, 5]]],
    [[[8, 8, 3], [10]], [[8, 8, 3], [10]]],
    [[[8, 8, 3]], [[3, 3, 2]]],
  ];
  const reviewStages = stageSets.map(([st, te]) => {
    const student = st.map((x) => [null, ...x]);
    const teacher = te.map((x) => [null, ...x]);
    const pairs = st.map((_, i) => ({ teacher: `t${i}`, student: `s${i}`, adapter: 'auto' as const }));
    return { student, teacher, problems: reviewStageProblems(pairs, student, teacher, 0) };
  });

  return {
    reviewStages,
    errorMessages,
    shapeMessages,
    adapterPlans,
    closestNames: closest,
    generator: 'test/helpers/conformance.ts (node --import tsx test/helpers/write-conformance-fixture.ts)',
    backend: tf.getBackend(),
    dtype: 'float32',
    layout: 'TF.js layout: feature maps NHWC [B,H,W,C]; dense kernels [in,out]; conv kernels [kh,kw,in,out]; weights under their TF.js names',
    catalogue: METHOD_INFO.map((m) => ({ method: m.method, kind: m.kind, ranks: m.ranks, sameShape: m.sameShape, sameSpatial: m.sameSpatial, layerPairs: m.layerPairs })),
    cases,
  };
}

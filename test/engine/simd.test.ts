/**
 * The project's WebAssembly SIMD kernels (src/engine/backend/wasm/simd): the committed binary is
 * the compilation of kernels.wat; Transpose against a naive index loop; the fused Adam against a
 * float64 re-derivation of Adam and against tfjs's own optimizer, checkpoints interchangeable;
 * the bias Add against float32 addition, the leading-axes Sum against a float64 sum, and ReLU's
 * gradient bit for bit against tfjs's formula and the cpu backend.
 *
 *   node --import tsx --test test/engine/simd.test.ts
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { FusedAdamOptimizer, initBackend, registerWasmKernels } from '../../src/engine/backend';
import { collapsePermutation, simdKernels } from '../../src/engine/backend/wasm/simd';
import { randomData as data } from '../helpers/data';

const ROOT = path.join(__dirname, '..', '..');

/** Naive transpose by index arithmetic. */
function naiveTranspose(x: ArrayLike<number>, shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const n = shape.reduce((a, b) => a * b, 1);
  const out: number[] = new Array(n);
  const idx = new Array(outShape.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += idx[k] * strides[perm[k]];
    out[o] = x[src];
    for (let k = outShape.length - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

before(async () => {
  tf.env().set('PROD', true);
  assert.equal((await initBackend('wasm')).name, 'wasm');
  registerWasmKernels({ speed: true });
});

test('kernels.generated.ts is the compilation of kernels.wat (npm run build:wasm)', async () => {
  const build = (await import(path.join(ROOT, 'scripts', 'build-wasm.mjs'))) as {
    compileKernels(): Promise<Buffer>;
    generatedSource(b: Buffer): string;
  };
  const expected = build.generatedSource(await build.compileKernels());
  const committed = fs.readFileSync(path.join(ROOT, 'src', 'engine', 'backend', 'wasm', 'simd', 'kernels.generated.ts'), 'utf8');
  assert.equal(committed, expected, 'stale: run npm run build:wasm');
  assert.ok(simdKernels(tf.backend()), 'SIMD kernels instantiate on the wasm backend memory');
});

test('collapsePermutation merges axes that stay adjacent and drops size-1 axes', () => {
  assert.deepEqual(collapsePermutation([2, 3, 4, 5], [0, 3, 1, 2]), { shape: [2, 12, 5], perm: [0, 2, 1] });
  assert.deepEqual(collapsePermutation([7, 9], [1, 0]), { shape: [7, 9], perm: [1, 0] });
  assert.deepEqual(collapsePermutation([1, 7, 9], [2, 0, 1]), { shape: [7, 9], perm: [1, 0] });
  assert.deepEqual(collapsePermutation([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
  assert.deepEqual(collapsePermutation([2, 3, 4, 5], [3, 1, 2, 0]), { shape: [2, 12, 5], perm: [2, 1, 0] });
});

test('Transpose (SIMD 4×4 blocks and edges) equals a naive index loop over shapes, perms and dtypes', () => {
  const cases: Array<[number[], number[]]> = [];
  for (const r of [1, 3, 4, 5, 8, 13, 64]) for (const c of [1, 2, 4, 7, 12, 33]) cases.push([[r, c], [1, 0]]);
  cases.push([[3, 5, 9], [0, 2, 1]], [[2, 8, 8], [0, 2, 1]], [[4, 6, 7, 3], [0, 3, 1, 2]], [[4, 6, 7, 3], [0, 2, 3, 1]],
    [[5, 4, 3, 2], [3, 1, 2, 0]], [[2, 3, 4, 5], [1, 0, 2, 3]], [[800, 800], [1, 0]], [[64, 784], [1, 0]]);
  const before = tf.memory().numTensors;
  let seed = 1;
  for (const [shape, perm] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = dtype === 'float32' ? data(n, seed++) : Int32Array.from(data(n, seed++), (v) => Math.round(v * 1e6));
      const x = tf.tensor(values, shape, dtype);
      const y = tf.transpose(x, perm);
      assert.deepEqual(y.shape, perm.map((p) => shape[p]));
      assert.equal(y.dtype, dtype);
      assert.deepEqual(Array.from(y.dataSync()), naiveTranspose(values, shape, perm), `[${shape}] perm [${perm}] ${dtype}`);
      tf.dispose([x, y]);
    }
  }
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
});

/** Adam in float64, written from the paper's update with tfjs's epsilon placement. */
function referenceAdam(w0: Float32Array, grads: Float32Array[], lr: number, b1: number, b2: number, eps: number): Float64Array {
  const w = Float64Array.from(w0);
  const m = new Float64Array(w.length);
  const v = new Float64Array(w.length);
  grads.forEach((g, t) => {
    for (let i = 0; i < w.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mh = m[i] / (1 - b1 ** (t + 1));
      const vh = v[i] / (1 - b2 ** (t + 1));
      w[i] -= (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  return w;
}

test('fused Adam equals a float64 Adam and tfjs’s own optimizer (odd sizes, 6 steps, sparse gradient list)', () => {
  const shapes = [[37, 11], [5], [3, 3, 2, 4]];
  const steps = 6;
  const grads = shapes.map((s, i) => Array.from({ length: steps }, (_, t) => data(s.reduce((a, b) => a * b, 1), 100 * i + t + 1)));
  const init = shapes.map((s, i) => data(s.reduce((a, b) => a * b, 1), 50 + i));
  const run = (opt: tf.Optimizer) => {
    const vars = shapes.map((s, i) => tf.tidy(() => tf.variable(tf.tensor(init[i], s), true, `simd_adam_${opt.constructor.name}_${i}_${Math.random()}`)));
    for (let t = 0; t < steps; t++) {
      const g = Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(grads[i][t], shapes[i])]));
      opt.applyGradients(g);
      tf.dispose(Object.values(g));
    }
    const out = vars.map((v) => v.dataSync().slice() as Float32Array);
    tf.dispose(vars);
    return out;
  };
  const before = tf.memory().numTensors;
  const fused = new FusedAdamOptimizer(0.01, 0.9, 0.999);
  const ours = run(fused);
  fused.dispose();
  registerWasmKernels({ speed: false }); // stock tfjs Adam on wasm
  const stockOpt = tf.train.adam(0.01);
  const stock = run(stockOpt);
  stockOpt.dispose();
  registerWasmKernels({ speed: true });
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
  const eps = tf.backend().epsilon();
  shapes.forEach((_, i) => {
    const ref = referenceAdam(init[i], grads[i], 0.01, 0.9, 0.999, eps);
    for (let k = 0; k < ref.length; k++) {
      assert.ok(Math.abs(ours[i][k] - ref[k]) <= 1e-5 * Math.max(1, Math.abs(ref[k])), `var ${i}[${k}]: ${ours[i][k]} vs float64 ${ref[k]}`);
      assert.ok(Math.abs(ours[i][k] - stock[i][k]) <= 1e-6 * Math.max(1, Math.abs(stock[i][k])), `var ${i}[${k}]: ${ours[i][k]} vs tfjs ${stock[i][k]}`);
    }
  });
});

test('fused Adam trains a Dense model like tfjs Adam, and checkpoints move between the two', async () => {
  // Dense weights feed XNNPACK, which caches packed weights per buffer: an in-place update would
  // make the second step use stale weights and the two runs would diverge.
  const x = tf.tensor(data(32 * 20, 3), [32, 20]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 4), 'int32'), 4);
  const train = (opt: tf.Optimizer, steps: number, model?: tf.LayersModel) => {
    const m = model ?? tf.sequential({ layers: [tf.layers.dense({ inputShape: [20], units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
    const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const l = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, m.apply(x) as tf.Tensor) as tf.Scalar, true, vars)!;
      losses.push(l.dataSync()[0]);
      l.dispose();
    }
    return { m, losses };
  };
  const fused = new FusedAdamOptimizer(0.05, 0.9, 0.999);
  const a = train(fused, 8);
  registerWasmKernels({ speed: false });
  const stockOpt = tf.train.adam(0.05);
  const b = train(stockOpt, 8);
  registerWasmKernels({ speed: true });
  a.losses.forEach((l, i) => assert.ok(Math.abs(l - b.losses[i]) < 1e-5, `step ${i}: ${l} vs ${b.losses[i]}`));
  assert.ok(a.losses[7] < a.losses[0] * 0.8, 'the loss goes down');
  // Checkpoint interchange: stock state → fused optimizer, continue, compare with stock continuing.
  const state = await stockOpt.getWeights();
  const resumed = new FusedAdamOptimizer(0.05, 0.9, 0.999);
  assert.equal(resumed.getClassName(), stockOpt.getClassName());
  await resumed.setWeights(state.map((s) => ({ name: s.name, tensor: tf.clone(s.tensor) })));
  const copy = tf.sequential({ layers: [tf.layers.dense({ inputShape: [20], units: 16, activation: 'relu' }), tf.layers.dense({ units: 4 })] });
  copy.setWeights(b.m.getWeights());
  const c = train(resumed, 3, copy);
  registerWasmKernels({ speed: false });
  const d = train(stockOpt, 3, b.m);
  registerWasmKernels({ speed: true });
  c.losses.forEach((l, i) => assert.ok(Math.abs(l - d.losses[i]) < 1e-5, `resumed step ${i}: ${l} vs ${d.losses[i]}`));
  tf.dispose([x, y]);
  for (const o of [fused, stockOpt, resumed]) o.dispose();
  for (const m of [a.m, b.m, copy]) m.dispose();
});

/** dW by the definition, in float64. */
function naiveFilterGrad(x: Float32Array, xs: number[], dy: Float32Array, ys: number[], k: [number, number],
  s: [number, number], d: [number, number], pad: [number, number]): Float64Array {
  const [B, H, W, Ci] = xs;
  const [, OH, OW, Co] = ys;
  const out = new Float64Array(k[0] * k[1] * Ci * Co);
  for (let b = 0; b < B; b++) {for (let oh = 0; oh < OH; oh++) {for (let ow = 0; ow < OW; ow++) {
    for (let i = 0; i < k[0]; i++) {for (let j = 0; j < k[1]; j++) {
      const ih = oh * s[0] + i * d[0] - pad[0];
      const iw = ow * s[1] + j * d[1] - pad[1];
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      for (let c = 0; c < Ci; c++) {for (let o = 0; o < Co; o++) {
        out[((i * k[1] + j) * Ci + c) * Co + o] += x[((b * H + ih) * W + iw) * Ci + c] * dy[((b * OH + oh) * OW + ow) * Co + o];
      }}
    }}
  }}}
  return out;
}

test('Conv2DBackpropFilter, direct SIMD path: equals the definition over strides, dilations, paddings and channel counts', async () => {
  const { tuning } = await import('../../src/engine/backend/wasm/Conv2DBackpropFilter');
  const saved = tuning.directMaxCiCo;
  tuning.directMaxCiCo = Infinity;
  try {
    const cases: Array<{ x: number[]; k: [number, number]; co: number; s: [number, number]; d: [number, number]; pad: 'same' | 'valid' | number }> = [
      { x: [2, 9, 9, 1], k: [3, 3], co: 8, s: [1, 1], d: [1, 1], pad: 'same' },
      { x: [3, 7, 8, 3], k: [3, 3], co: 21, s: [1, 1], d: [1, 1], pad: 'valid' },
      { x: [2, 11, 10, 2], k: [5, 3], co: 5, s: [2, 2], d: [1, 1], pad: 'same' },
      { x: [1, 12, 12, 4], k: [3, 3], co: 16, s: [1, 1], d: [2, 2], pad: 'same' },
      { x: [2, 9, 9, 3], k: [2, 2], co: 3, s: [2, 1], d: [1, 1], pad: 'valid' },
      { x: [2, 8, 8, 2], k: [3, 3], co: 7, s: [1, 1], d: [1, 1], pad: 2 },
      { x: [1, 4, 4, 2], k: [1, 1], co: 36, s: [3, 3], d: [1, 1], pad: 'same' },
    ];
    let seed = 11;
    for (const c of cases) {
      const filterShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.co];
      const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], filterShape, c.s, c.d, c.pad);
      const ys = [c.x[0], info.outHeight, info.outWidth, c.co];
      const xv = data(c.x.reduce((a, b) => a * b, 1), seed++);
      const dyv = data(ys.reduce((a, b) => a * b, 1), seed++);
      const x = tf.tensor(xv, c.x);
      const dy = tf.tensor(dyv, ys);
      const g = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape, dilations: c.d }) as tf.Tensor;
      const got = g.dataSync();
      const ref = naiveFilterGrad(xv, c.x, dyv, ys, c.k, c.s, c.d, [info.padInfo.top, info.padInfo.left]);
      assert.deepEqual(g.shape, filterShape);
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(got[i] - ref[i]) <= 1e-4 * Math.max(1, Math.abs(ref[i])), `${JSON.stringify(c)} [${i}]: ${got[i]} vs ${ref[i]}`);
      }
      tf.dispose([x, dy, g]);
    }
  } finally {
    tuning.directMaxCiCo = saved;
  }
});

test('MaxPoolGrad (SIMD module) equals the cpu backend’s gradient, ties and padding included', async () => {
  const cases: Array<{ x: [number, number, number, number]; f: number; s: number; pad: 'same' | 'valid' }> = [
    { x: [2, 8, 8, 3], f: 2, s: 2, pad: 'valid' },
    { x: [2, 9, 7, 5], f: 3, s: 2, pad: 'same' },
    { x: [1, 6, 6, 4], f: 3, s: 1, pad: 'same' },
    { x: [3, 5, 5, 2], f: 2, s: 2, pad: 'same' },
    // channels a multiple of 4: the 4-lane path
    { x: [2, 8, 8, 8], f: 2, s: 2, pad: 'valid' },
    { x: [2, 9, 7, 12], f: 3, s: 2, pad: 'same' },
    { x: [1, 7, 7, 4], f: 3, s: 1, pad: 'same' },
  ];
  let seed = 31;
  for (const c of cases) {
    const n = c.x.reduce((a, b) => a * b, 1);
    // ReLU-like data: many exact zeros, so windows tie.
    const xv = data(n, seed++).map((v) => Math.max(0, v));
    const dyShape = tf.tidy(() => tf.maxPool(tf.zeros(c.x) as tf.Tensor4D, c.f, c.s, c.pad).shape);
    const dyv = data(dyShape.reduce((a, b) => a * b, 1), seed++);
    const grad = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(xv, c.x) as tf.Tensor4D;
      const dy = tf.tensor(dyv, dyShape);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, c.f, c.s, c.pad), dy)))(x);
      const out = g.dataSync().slice();
      tf.dispose([x, dy, g]);
      return out;
    };
    const ours = await grad('wasm');
    const ref = await grad('cpu');
    await tf.setBackend('wasm');
    // Same positions get the gradient; overlapping windows sum in float32 here, float64 on cpu.
    ref.forEach((r, i) => assert.ok(Math.abs(ours[i] - r) <= 1e-6 * Math.max(1, Math.abs(r)) && (r === 0) === (ours[i] === 0),
      `${JSON.stringify(c)} [${i}]: ${ours[i]} vs ${r}`));
  }
});

test('Identity (clone) shares the buffer: values survive the original, and no buffer is left behind', () => {
  const backend = tf.engine().backend;
  const before = backend.numDataIds();
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const c = tf.clone(x);
  x.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3, 4]);
  // Gradients through saved (cloned) inputs are unchanged.
  const v = tf.tidy(() => tf.variable(tf.tensor([[0.5, -1], [2, 3]]), true, `simd_identity_${Math.random()}`));
  const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.matMul(t, v), t)))(tf.tensor([[1, 2], [3, 4]])));
  // d/dt Σ (t·v)∘t = (t·v) + t·vᵀ … computed by hand for t = [[1,2],[3,4]].
  const t = [[1, 2], [3, 4]];
  const w = [[0.5, -1], [2, 3]];
  const expect = t.map((row, i) => row.map((_, j) => {
    let tv = 0;
    let tvT = 0;
    for (let k = 0; k < 2; k++) {
      tv += t[i][k] * w[k][j];
      tvT += t[i][k] * w[j][k];
    }
    return tv + tvT;
  }));
  assert.deepEqual(Array.from(g.dataSync()), expect.flat());
  tf.dispose([c, v, g]);
  assert.equal(backend.numDataIds(), before, 'no wasm buffer leaked');
});

test('fused Adam flushes subnormal moments to zero (they would slow every later step) and still matches Adam', async () => {
  // g = 1e-20: g² = 1e-40 and (1 − β2)·g² = 1e-43 are subnormal in float32; 1e-19 gives normal m, subnormal v.
  const g0 = Float32Array.of(1e-20, -1e-20, 1e-19, 0.5, 3e-39, 0);
  const v = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3, 4, 5, 6]), true, `simd_subnormal_${Math.random()}`));
  const opt = new FusedAdamOptimizer(0.01, 0.9, 0.999);
  for (let t = 0; t < 3; t++) {
    const g = tf.tensor1d(g0);
    opt.applyGradients([{ name: v.name, tensor: g }]);
    g.dispose();
  }
  const state = await opt.getWeights();
  for (const s of state.slice(1)) {
    for (const x of s.tensor.dataSync()) assert.ok(x === 0 || Math.abs(x) >= 2 ** -126, `${s.name}: subnormal ${x}`);
  }
  const ref = referenceAdam(Float32Array.of(1, 2, 3, 4, 5, 6), [g0, g0, g0], 0.01, 0.9, 0.999, tf.backend().epsilon());
  const got = v.dataSync();
  ref.forEach((r, i) => assert.ok(Math.abs(got[i] - r) <= 1e-6 * Math.max(1, Math.abs(r)), `[${i}] ${got[i]} vs ${r}`));
  tf.dispose([v, state[0].tensor]); // the rest are the optimizer's own variables
  opt.dispose();
});

test('Add with a vector broadcast over rows (SIMD addRows) equals float32 addition element by element, either side', () => {
  const cases: Array<[number[], number[]]> = [
    [[64, 28, 28, 8], [8]], [[5, 3], [3]], [[7, 5], [1, 5]], [[2, 3, 4, 17], [1, 1, 17]], [[9, 1], [1]], [[4, 4], [4]],
    [[3, 6, 6, 16], [16]], [[2, 801], [801]],
  ];
  let seed = 71;
  for (const [ms, vs] of cases) {
    const mv = data(ms.reduce((a, b) => a * b, 1), seed++);
    const vv = data(vs.reduce((a, b) => a * b, 1), seed++);
    const c = vs[vs.length - 1];
    const expect = Float32Array.from(mv, (x, i) => Math.fround(x + vv[i % c]));
    for (const swap of [false, true]) {
      const m = tf.tensor(mv, ms);
      const v = tf.tensor(vv, vs);
      const y = swap ? tf.add(v, m) : tf.add(m, v);
      assert.deepEqual(y.shape, ms, `[${ms}] + [${vs}]`);
      assert.deepEqual(y.dataSync(), expect, `[${ms}] + [${vs}]${swap ? ' (vector first)' : ''}`);
      tf.dispose([m, v, y]);
    }
  }
  // Shapes the kernel leaves to the stock one still add right: same shapes, a column broadcast, int32.
  const a = tf.tensor([[1, 2], [3, 4]]);
  assert.deepEqual(Array.from(tf.add(a, tf.tensor([[10], [20]])).dataSync()), [11, 12, 23, 24]);
  assert.deepEqual(Array.from(tf.add(a, a).dataSync()), [2, 4, 6, 8]);
  assert.deepEqual(Array.from(tf.add(tf.tensor([[1, 2]], [1, 2], 'int32'), tf.tensor([5, 6], [2], 'int32')).dataSync()), [6, 8]);
});

test('Sum over leading axes (SIMD sumRows) equals a float64 sum; keepDims and other axes too', () => {
  const cases: Array<[number[], number[], boolean]> = [
    [[64, 28, 28, 8], [0, 1, 2], false], [[64, 800], [0], false], [[3, 5, 7], [0, 1], true], [[1000, 3], [0], false],
    [[6, 9], [0], true], [[2, 3, 4, 5], [1, 0], false], [[300, 1], [0], false],
    // not leading: the stock kernel
    [[4, 5, 6], [1, 2], false], [[4, 5, 6], [0, 2], true], [[7, 3], [1], false], [[7, 3], [0, 1], false],
  ];
  let seed = 91;
  for (const [shape, axes, keepDims] of cases) {
    const xv = data(shape.reduce((a, b) => a * b, 1), seed++);
    const x = tf.tensor(xv, shape);
    const y = tf.sum(x, axes, keepDims);
    // float64 reference by index arithmetic
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const ref = new Float64Array(outShape.reduce((a, b) => a * b, 1));
    const idx = new Array(shape.length).fill(0);
    for (let i = 0; i < xv.length; i++) {
      let o = 0;
      for (let k = 0; k < shape.length; k++) o = o * outShape[k] + (axes.includes(k) ? 0 : idx[k]);
      ref[o] += xv[i];
      for (let k = shape.length - 1; k >= 0; k--) {
        if (++idx[k] < shape[k]) break;
        idx[k] = 0;
      }
    }
    assert.deepEqual(y.shape, keepDims ? outShape : shape.filter((_, i) => !axes.includes(i)), `[${shape}] axes ${axes}`);
    const got = y.dataSync();
    const rows = xv.length / ref.length;
    ref.forEach((r, i) => assert.ok(Math.abs(got[i] - r) <= 2e-6 * Math.sqrt(rows) * Math.max(1, Math.abs(r)),
      `[${shape}] axes ${axes} [${i}]: ${got[i]} vs ${r}`));
    tf.dispose([x, y]);
  }
});

test('ReLU gradient (DistillReluGrad) is bit for bit tfjs’s dy·step(x): NaN, ±0 and ±∞ included; cpu agrees', async () => {
  const special = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.5];
  const xv = Float32Array.from([...special.flatMap((x) => special.map(() => x)), ...data(37, 5)]);
  const dyv = Float32Array.from([...special.flatMap(() => special), ...data(37, 6)]);
  const grad = async (backend: string) => {
    await tf.setBackend(backend);
    const x = tf.tensor(xv);
    const dy = tf.tensor(dyv);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), dy)))(x);
    // the formula tfjs registers for Relu, run as plain ops
    const f = tf.mul(dy, tf.cast(tf.step(x), 'float32'));
    const out = [new Uint32Array(g.dataSync().slice().buffer), new Uint32Array(f.dataSync().slice().buffer)];
    tf.dispose([x, dy, g, f]);
    return out;
  };
  const [ours, formula] = await grad('wasm');
  const [cpu] = await grad('cpu');
  await tf.setBackend('wasm');
  assert.ok(tf.getKernel('DistillReluGrad', 'wasm'), 'the wasm kernel is registered');
  const show = (u: Uint32Array) => Array.from(new Float32Array(u.buffer));
  // NaN payloads may differ; every other value must be identical to the bit.
  const same = (p: Uint32Array, q: Uint32Array) => show(p).every((v, i) => (Number.isNaN(v) ? Number.isNaN(show(q)[i]) : p[i] === q[i]));
  assert.ok(same(ours, formula), `wasm gradient ${show(ours)} vs formula ${show(formula)}`);
  assert.ok(same(ours, cpu), 'wasm gradient vs cpu');
});

test('second derivatives through ReLU (DistillReluGrad has its own gradient) equal the cpu backend’s', async () => {
  // f(y) = Σ relu(y)·y, f′(y) = step(y)·y + relu(y); d/dx Σ w·f′(x) = 2·w·step(x) away from 0
  const xv = Float32Array.from(data(40, 8));
  const wv = Float32Array.from(data(40, 9));
  const second = async (backend: string) => {
    await tf.setBackend(backend);
    const x = tf.tensor(xv);
    const w = tf.tensor(wv);
    const fPrime = (t: tf.Tensor) => tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.relu(y), y)))(t);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fPrime(t), w)))(x);
    const out = Array.from(g.dataSync());
    tf.dispose([x, w, g]);
    return out;
  };
  const ours = await second('wasm');
  const cpu = await second('cpu');
  await tf.setBackend('wasm');
  assert.deepEqual(ours, cpu);
  assert.deepEqual(ours, Array.from(xv, (x, i) => (x > 0 ? Math.fround(2 * wv[i]) : 0)));
});

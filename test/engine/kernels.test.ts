/**
 * The project's wasm kernels against the tfjs cpu backend (the reference), plus leak checks,
 * a small conv model training on wasm, and backend selection.
 *
 *   node --import tsx --test test/engine/kernels.test.ts
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, registerWasmKernels } from '../../src/engine/backend';
import { randomData } from '../helpers/data';

const TOL = 1e-4;

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

// ---------- helpers ----------

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs `fn` on the given backend with fresh tensors built from `data`; returns the outputs' values. */
async function runOn(
  backend: 'wasm' | 'cpu',
  specs: Array<{ shape: number[]; data: Float32Array }>,
  fn: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const xs = specs.map((s) => tf.tensor(s.data, s.shape));
  const outs = fn(...xs);
  const vals = await Promise.all(outs.map(async (o) => (await o.data()) as Float32Array));
  tf.dispose([...xs, ...outs]);
  await tf.setBackend('wasm');
  return vals;
}

/** max |a - b| / max |b| (0 when both are 0). */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'length');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

async function compare(
  label: string,
  specs: Array<{ shape: number[]; data: Float32Array }>,
  fn: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<void> {
  const ours = await runOn('wasm', specs, fn);
  const ref = await runOn('cpu', specs, fn);
  ours.forEach((o, i) => {
    const e = relErr(o, ref[i]);
    assert.ok(e <= TOL, `${label} output ${i}: relative error ${e.toExponential(2)} > ${TOL}`);
  });
}

/**
 * tfjs-core 4.22 computes the output size of a *numeric* pad with the filter height and the stride
 * height for both axes (conv_util computeOutputShape2D), so numeric pads are only meaningful for
 * square filters and strides; otherwise even the stock forward conv is wrong (or writes out of
 * bounds on wasm). Explicit [[0,0],[t,b],[l,r],[0,0]] pads have no such problem.
 */
function squareNumericPadOk(k: [number, number], s: number | [number, number]): boolean {
  const [sh, sw] = typeof s === 'number' ? [s, s] : s;
  return k[0] === k[1] && sh === sw;
}

/** Forward output shape (tfjs' own computation, as the ops use it). */
function outShape(x: number[], f: number[], s: number | [number, number], pad: Pad, depthwise = false, round?: 'floor' | 'round' | 'ceil'): number[] {
  type Shape4 = [number, number, number, number];
  return tf.backend_util.computeConv2DInfo(x as Shape4, f as Shape4, s, 1, pad, round, depthwise).outShape;
}

let seed = 1;
function spec(shape: number[]): { shape: number[]; data: Float32Array } {
  return { shape, data: randomData(size(shape), seed++) };
}

/** A loss whose gradient w.r.t. the conv output is not constant (exercises dy properly). */
function lossOf(y: tf.Tensor, w: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(tf.mul(y, y), w)) as tf.Scalar;
}

function wasmDataIds(): number {
  return (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();
}

before(async () => {
  tf.env().set('PROD', true);
  const info = await initBackend('wasm');
  assert.equal(info.name, 'wasm');
});

after(async () => {
  await initBackend('wasm');
});

// ---------- Conv2D gradients (Conv2DBackpropFilter, Conv2DBackpropInput) ----------

const convCases: Array<{ x: number[]; k: [number, number]; co: number; s: number | [number, number]; pad: Pad }> = [];
{
  const shapes = [
    [2, 8, 8, 3],
    [3, 7, 9, 2],
    [2, 11, 6, 4],
    [1, 5, 5, 1],
  ];
  const kernels: Array<[number, number]> = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [2, 3], [3, 1]];
  const strides: Array<number | [number, number]> = [1, 2, [1, 2]];
  const pads: Pad[] = ['same', 'valid', 1, [[0, 0], [1, 2], [0, 1], [0, 0]]];
  let i = 0;
  for (const x of shapes) {
    for (const k of kernels) {
      if (k[0] > x[1] || k[1] > x[2]) continue;
      for (const s of strides) {
        for (const pad of pads) {
          // keep the matrix moderate: every kernel/stride/pad, shapes rotating
          if ((i++ % 2) === 1 && x !== shapes[0]) continue;
          if (typeof pad === 'number' && !squareNumericPadOk(k, s)) continue;
          convCases.push({ x, k, co: 2 + (i % 4), s, pad });
        }
      }
    }
  }
}

test(`conv2d gradients (x and filter) match cpu over ${convCases.length} cases`, async () => {
  for (const c of convCases) {
    const label = `conv2d x=[${c.x}] k=${c.k} co=${c.co} s=${c.s} pad=${JSON.stringify(c.pad)}`;
    const fShape = [c.k[0], c.k[1], c.x[3], c.co];
    // forward output shape, to build a loss weight of the right size
    const yShape = outShape(c.x, fShape, c.s, c.pad);
    await compare(label, [spec(c.x), spec(fShape), spec(yShape)], (x, f, w) => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => lossOf(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same'), w));
      return g([x, f]);
    });
  }
});

test('Conv2DBackpropFilter kernel called directly (explicit padding, rounding modes)', async () => {
  const cases = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 0, round: 'floor' as const },
    { x: [2, 8, 8, 3], f: [1, 1, 3, 5], s: 2, pad: 1, round: undefined },
    { x: [2, 8, 8, 3], f: [1, 1, 3, 5], s: 1, pad: 2, round: undefined },
    { x: [2, 10, 10, 2], f: [3, 3, 2, 3], s: 2, pad: 1, round: 'ceil' as const },
    { x: [2, 8, 7, 2], f: [2, 4, 2, 2], s: 1, pad: [[0, 0], [2, 0], [0, 3], [0, 0]] as Pad, round: undefined },
  ];
  for (const c of cases) {
    const yShape = outShape(c.x, c.f, c.s, c.pad, false, c.round);
    await compare(`direct x=[${c.x}] f=[${c.f}] s=${c.s} pad=${JSON.stringify(c.pad)}`, [spec(c.x), spec(yShape)], (x, dy) => [
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: c.s,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: c.round,
        filterShape: c.f,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    ]);
  }
});

test('Conv2DBackpropFilter rejects NCHW with a clear error', () => {
  const x = tf.zeros([1, 4, 4, 2]);
  const dy = tf.zeros([1, 4, 4, 3]);
  assert.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NCHW',
        filterShape: [3, 3, 2, 3],
      } as unknown as tf.NamedAttrMap),
    /NHWC/,
  );
  tf.dispose([x, dy]);
});

test("forward conv2d / depthwiseConv2d with 'same' padding and 1×k filters, stride 2 (stock wasm bug, fixed)", async () => {
  for (const [k, s] of [
    [[3, 1], 2],
    [[1, 3], 2],
    [[1, 5], [1, 2]],
    [[3, 1], [2, 2]],
  ] as Array<[[number, number], number | [number, number]]>) {
    const x = spec([2, 8, 8, 3]);
    await compare(`conv2d same k=${k} s=${s}`, [x, spec([k[0], k[1], 3, 4]), spec([4])], (xt, f, bias) => [
      tf.conv2d(xt as tf.Tensor4D, f as tf.Tensor4D, s, 'same'),
      tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: f as tf.Tensor4D, strides: s, pad: 'same', bias, activation: 'relu' }),
    ]);
    await compare(`depthwise same k=${k} s=${s}`, [x, spec([k[0], k[1], 3, 2]), spec([6])], (xt, f, bias) => [
      tf.depthwiseConv2d(xt as tf.Tensor4D, f as tf.Tensor4D, s, 'same'),
      tf.fused.depthwiseConv2d({ x: xt as tf.Tensor4D, filter: f as tf.Tensor4D, strides: s, pad: 'same', bias, activation: 'relu' }),
    ]);
  }
});

// ---------- depthwise gradients ----------

test('depthwiseConv2d gradients (x and filter) match cpu', async () => {
  const shapes = [
    [2, 8, 8, 3],
    [3, 7, 9, 2],
    [2, 6, 5, 4],
  ];
  const kernels: Array<[number, number]> = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [3, 2]];
  const pads: Pad[] = ['same', 'valid', 1];
  let n = 0;
  for (const x of shapes) {
    for (const k of kernels) {
      if (k[0] > x[1] || k[1] > x[2]) continue;
      for (const s of [1, 2] as const) {
        for (const pad of pads) {
          if (typeof pad === 'number' && !squareNumericPadOk(k, s)) continue;
          for (const m of [1, 2]) {
            const fShape = [k[0], k[1], x[3], m];
            const yShape = outShape(x, fShape, s, pad, true);
            const label = `depthwise x=[${x}] k=${k} m=${m} s=${s} pad=${JSON.stringify(pad)}`;
            await compare(label, [spec(x), spec(fShape), spec(yShape)], (xt, f, w) => {
              const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
                lossOf(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad as 'same'), w),
              );
              return g([xt, f]);
            });
            n++;
          }
        }
      }
    }
  }
  assert.ok(n > 50);
});

/**
 * Plain-loop reference for the depthwise gradients with dilation (the cpu backend's kernels ignore
 * the dilation attribute: tfjs' gradient never passes one > 1).
 */
function naiveDepthwiseGrads(
  x: Float32Array, xShape: number[], f: Float32Array, fShape: number[], dy: Float32Array, dyShape: number[],
  s: number, d: number, top: number, left: number,
): { dx: Float32Array; dw: Float32Array } {
  const [B, H, W, C] = xShape;
  const [KH, KW, , M] = fShape;
  const [, OH, OW] = dyShape;
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(f.length);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * s + kh * d - top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * s + kw * d - left;
            if (iw < 0 || iw >= W) continue;
            for (let c = 0; c < C; c++) {
              for (let m = 0; m < M; m++) {
                const g = dy[((b * OH + oh) * OW + ow) * C * M + c * M + m];
                const xi = ((b * H + ih) * W + iw) * C + c;
                const wi = ((kh * KW + kw) * C + c) * M + m;
                dw[wi] += x[xi] * g;
                dx[xi] += f[wi] * g;
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}

test('depthwise backprop kernels with dilation 2 match a plain-loop reference', async () => {
  for (const c of [
    { x: [2, 9, 9, 3], k: 3, m: 1, pad: 'same' as const },
    { x: [2, 10, 8, 2], k: 2, m: 3, pad: 'valid' as const },
    { x: [1, 11, 11, 2], k: 3, m: 2, pad: 2 },
  ]) {
    const fShape = [c.k, c.k, c.x[3], c.m];
    const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], fShape as [number, number, number, number], 1, 2, c.pad, undefined, true);
    const yShape = info.outShape;
    const [xs, fs, dys] = [spec(c.x), spec(fShape), spec(yShape)];
    const ref = naiveDepthwiseGrads(xs.data, c.x, fs.data, fShape, dys.data, yShape, 1, 2, info.padInfo.top, info.padInfo.left);
    const x = tf.tensor(xs.data, c.x);
    const f = tf.tensor(fs.data, fShape);
    const dy = tf.tensor(dys.data, yShape);
    const attrs = { strides: 1, dilations: 2, pad: c.pad };
    const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: fShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const label = `dilated depthwise x=[${c.x}] k=${c.k} m=${c.m} pad=${JSON.stringify(c.pad)}`;
    const eW = relErr((await dw.data()) as Float32Array, ref.dw);
    const eX = relErr((await dx.data()) as Float32Array, ref.dx);
    assert.ok(eW <= TOL, `${label} filter grad: ${eW}`);
    assert.ok(eX <= TOL, `${label} input grad: ${eX}`);
    tf.dispose([x, f, dy, dw, dx]);
  }
});

test('Conv2DBackpropInput kernel called directly (1x1 with padding, explicit pads, strides 1 and 2)', async () => {
  const cases = [
    { x: [2, 8, 8, 3], f: [1, 1, 3, 5], s: 1, pad: 1 as Pad },
    { x: [2, 8, 8, 3], f: [1, 1, 3, 5], s: 2, pad: 2 as Pad },
    { x: [2, 7, 9, 2], f: [3, 2, 2, 4], s: 1, pad: [[0, 0], [3, 0], [1, 2], [0, 0]] as Pad },
    { x: [3, 6, 6, 4], f: [5, 5, 4, 2], s: 1, pad: 'same' as Pad },
    { x: [2, 9, 9, 2], f: [3, 3, 2, 3], s: 2, pad: 'same' as Pad },
  ];
  for (const c of cases) {
    const yShape = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.f as [number, number, number, number], c.s, 1, c.pad as 'same').outShape;
    await compare(`direct dx x=[${c.x}] f=[${c.f}] s=${c.s} pad=${JSON.stringify(c.pad)}`, [spec(c.f), spec(yShape)], (f, dy) => [
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, {
        strides: c.s,
        pad: c.pad,
        dataFormat: 'NHWC',
        inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    ]);
  }
});

// ---------- BatchMatMul with transposes ----------

test('matMul with transposeA/transposeB (forward and gradients) matches cpu', async () => {
  const dims: Array<[number, number, number]> = [
    [1, 1, 1],
    [5, 7, 3],
    [64, 100, 30],
    [33, 1, 17],
    [16, 257, 10],
    // a small A against a large B: the swapped form (Bᵀ·Aᵀ)ᵀ on first sight of B, then direct
    [2, 40, 50],
    [4, 64, 96],
  ];
  for (const [m, k, n] of dims) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        for (const batch of [0, 3]) {
          const pre = batch ? [batch] : [];
          const aShape = [...pre, ...(ta ? [k, m] : [m, k])];
          const bShape = [...pre, ...(tb ? [n, k] : [k, n])];
          await compare(`matMul m=${m} k=${k} n=${n} tA=${ta} tB=${tb} batch=${batch}`, [spec(aShape), spec(bShape), spec([...pre, m, n])], (a, b, w) => {
            const y = tf.matMul(a, b, ta, tb);
            const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => lossOf(tf.matMul(p, q, ta, tb), w))([a, b]);
            return [y, ga, gb];
          });
        }
      }
    }
  }
});

test('registerWasmKernels: stock mode keeps only the missing (and fix) kernels, speed mode adds ours', async () => {
  const stock = registerWasmKernels({ speed: false });
  assert.deepEqual([...stock].sort(), [
    'Conv2D',
    'Conv2DBackpropFilter',
    'DepthwiseConv2dNative',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'FusedConv2D',
    'FusedDepthwiseConv2D',
    'ResizeNearestNeighborGrad',
  ]);
  assert.ok(!stock.includes('BatchMatMul'));
  const a = tf.tensor(randomData(40 * 30, 7), [40, 30]);
  const b = tf.tensor(randomData(20 * 30, 8), [20, 30]);
  const yStock = await tf.matMul(a, b, false, true).data();
  const speed = registerWasmKernels({ speed: true });
  assert.ok(speed.includes('BatchMatMul') && speed.includes('Conv2DBackpropInput'));
  assert.deepEqual(registerWasmKernels({ speed: true }), speed, 'idempotent');
  const yOurs = await tf.matMul(a, b, false, true).data();
  assert.ok(relErr(yOurs as Float32Array, yStock as Float32Array) <= TOL);
  tf.dispose([a, b]);
});

// ---------- leaks ----------

test('no tensor or buffer leak across 20 gradient calls', async () => {
  const x = tf.tensor(randomData(4 * 12 * 12 * 3, 3), [4, 12, 12, 3]) as tf.Tensor4D;
  const f = tf.tensor(randomData(3 * 3 * 3 * 8, 4), [3, 3, 3, 8]) as tf.Tensor4D;
  const fd = tf.tensor(randomData(3 * 3 * 3 * 2, 5), [3, 3, 3, 2]) as tf.Tensor4D;
  const a = tf.tensor(randomData(32 * 50, 6), [32, 50]);
  const b = tf.tensor(randomData(50 * 10, 7), [50, 10]);
  const wide = tf.tensor(randomData(200 * 50, 9), [200, 50]);
  const step = (): void => {
    const grads = tf.grads((xx: tf.Tensor, ff: tf.Tensor, dd: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) =>
      tf.add(
        tf.add(
          tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same'))),
          tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 2, 'valid'))),
        ),
        tf.add(
          tf.add(tf.sum(tf.square(tf.depthwiseConv2d(xx as tf.Tensor4D, dd as tf.Tensor4D, 2, 'same'))), tf.sum(tf.square(tf.matMul(aa, bb)))),
          // the SIMD module's paths: max-pool gradient, swapped products (a fresh B; a large Bᵀ)
          tf.add(tf.sum(tf.square(tf.maxPool(xx as tf.Tensor4D, 2, 2, 'same'))),
            tf.add(tf.sum(tf.matMul(aa, tf.mul(bb, 2))), tf.sum(tf.matMul(aa, wide, false, true)))),
        ),
      ) as tf.Scalar,
    )([x, f, fd, a, b]);
    for (const g of grads) g.dataSync();
    tf.dispose(grads);
  };
  step();
  step();
  const before = tf.memory();
  const idsBefore = wasmDataIds();
  for (let i = 0; i < 20; i++) step();
  const afterMem = tf.memory();
  assert.equal(afterMem.numTensors, before.numTensors, 'numTensors');
  assert.equal(afterMem.numBytes, before.numBytes, 'numBytes');
  assert.equal(wasmDataIds(), idsBefore, 'wasm backend buffers (intermediates)');
  tf.dispose([x, f, fd, a, b, wide]);
});

// ---------- a small conv model trains on wasm ----------

test('a tiny conv model trains on wasm with finite, decreasing loss', async () => {
  assert.equal(tf.getBackend(), 'wasm');
  const n = 64;
  const xs = tf.tidy(() => {
    const base = tf.tensor(randomData(n * 10 * 10, 11), [n, 10, 10, 1]);
    // class = whether the top half is brighter than the bottom half
    return base;
  });
  const labels = tf.tidy(() => {
    const top = tf.sum(tf.slice(xs, [0, 0, 0, 0], [n, 5, 10, 1]), [1, 2, 3]);
    const bottom = tf.sum(tf.slice(xs, [0, 5, 0, 0], [n, 5, 10, 1]), [1, 2, 3]);
    return tf.oneHot(tf.cast(tf.greater(top, bottom), 'int32'), 2);
  });
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [10, 10, 1], filters: 4, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu', depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const hist = await model.fit(xs, labels, { epochs: 8, batchSize: 32, shuffle: false, verbose: 0 });
  const losses = hist.history.loss as number[];
  assert.ok(losses.every(Number.isFinite), `losses finite: ${losses}`);
  assert.ok(losses[losses.length - 1] < losses[0], `loss decreased: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
  model.dispose();
  tf.dispose([xs, labels]);
});

// ---------- backend selection ----------

test("initBackend('auto') selects wasm here and says why tfjs-node was skipped", async () => {
  const info = await initBackend('auto');
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(info.notes.some((n) => /tfjs-node not installed: .*Cannot find module/.test(n)), info.notes.join(' | '));
  assert.equal(info.versions['tfjs-core'], '4.22.0');
  assert.equal(info.versions['tfjs-layers'], '4.22.0');
  assert.equal(info.versions['tfjs-backend-wasm'], '4.22.0');
  assert.ok(info.customKernels.includes('Conv2DBackpropFilter'));
  assert.equal(typeof info.simd, 'boolean');
  const again = await initBackend('auto');
  assert.deepEqual(again, info, 'idempotent');
});

test("initBackend('tensorflow') throws a clear error and leaves the backend alone", async () => {
  await assert.rejects(initBackend('tensorflow'), /backend 'tensorflow' requested but @tensorflow\/tfjs-node is not installed: /);
  assert.equal(tf.getBackend(), 'wasm');
});

test("initBackend('cpu') works, and switching back to wasm works", async () => {
  const info = await initBackend('cpu');
  assert.equal(info.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.deepEqual(info.customKernels, ['ResizeNearestNeighborGrad']);
  assert.ok(info.versions['tfjs-backend-cpu']);
  const y = tf.tidy(() => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([2, 2, 1, 1]) as tf.Tensor4D, 1, 'valid')).dataSync()[0]);
  assert.equal(y, 36);
  const w = await initBackend('wasm');
  assert.equal(w.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

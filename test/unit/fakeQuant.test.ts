/**
 * Fake quantisation (issue 18, src/engine/models/fakeQuant.ts): ŵ at 8 and 4 bits against a naive
 * per-element reference of the contract's rule (half-away rounding cases included), within one step
 * of w, on the grid, re-quantising ŵ is the identity; gradients pass straight through (d/dw Σ c·ŵ = c)
 * and are masked outside an activation range; the int4 packing round trip; the int4 (and int8) copy
 * with activation ranges, loaded from disk, computes exactly what the fake-quantised model computes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { dequantizeArtifacts, fakeQuantizeValues, packInt4, quantizeArtifacts, quantizeValues, unpackInt4 } from '../../src/engine/models/quantize';
import { activationParams, fakeQuantActivation, fakeQuantWeight, FakeQuantizer } from '../../src/engine/models/fakeQuant';
import { loadLayersModelFromFile, modelArtifacts, saveLayersModel, saveQuantizedCopy } from '../../src/engine/models/fileIO';

/** The contract's rule, element by element, in float64 (scales rounded to float32 as stored). */
function naive(w: number[][], bits: number): { hat: number[][]; q: number[][]; scale: number[]; zero: number[] } {
  // w[row][channel], channel = last axis
  const qmin = -(2 ** (bits - 1));
  const qmax = 2 ** (bits - 1) - 1;
  const rnd = (x: number) => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
  const C = w[0].length;
  const scale: number[] = [];
  const zero: number[] = [];
  for (let c = 0; c < C; c++) {
    const col = w.map((r) => r[c]);
    const lo = Math.min(0, ...col);
    const hi = Math.max(0, ...col);
    let s = Math.fround((hi - lo) / (2 ** bits - 1));
    if (s === 0) s = 1;
    scale.push(s);
    zero.push(Math.min(qmax, Math.max(qmin, rnd(qmin - lo / s))));
  }
  const q = w.map((r) => r.map((v, c) => Math.min(qmax, Math.max(qmin, rnd(v / scale[c]) + zero[c]))));
  const hat = q.map((r) => r.map((v, c) => Math.fround((v - zero[c]) * scale[c])));
  return { hat, q, scale, zero };
}

function randomMatrix(rows: number, cols: number, seed: number): number[][] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, (_, c) => Math.fround((rand() - 0.3) * (c + 1) * 0.7)));
}

for (const bits of [8, 4] as const) {
  void test(`fake quantisation at ${bits} bits: the naive rule, within S_c/2, on the grid, idempotent`, () => {
    const w = randomMatrix(37, 5, 7 + bits);
    // Column 4: values that land exactly on half steps (w/S = k + 0.5) — rounding half away from zero.
    // Range [-1, 1.125] (1 + 0.125 = 2.125 over 255 or 15 levels): choose exact multiples of half a step.
    const levels = 2 ** bits - 1;
    const S = Math.fround(2.125 / levels);
    w.forEach((r, i) => { r[4] = Math.fround(((i % 7) - 3 + 0.5) * S); });
    w[0][4] = -1;
    w[1][4] = 1.125;
    w[2][3] = 0; // a column may hold zeros; all-zero handled below
    const flat = Float32Array.from(w.flat());
    const shape = [37, 5];
    const hat = fakeQuantizeValues(flat, shape, 1, bits);
    const ref = naive(w, bits);
    const { q, scale, zeroPoint } = quantizeValues(flat, shape, 1, bits);
    for (let i = 0; i < 37; i++) {
      for (let c = 0; c < 5; c++) {
        const k = i * 5 + c;
        assert.equal(q[k], ref.q[i][c], `q[${i}][${c}] (w = ${w[i][c]}, w/S = ${w[i][c] / ref.scale[c]})`);
        assert.equal(hat[k], ref.hat[i][c], `ŵ[${i}][${c}]`);
        assert.ok(Math.abs(hat[k] - w[i][c]) <= scale[c] / 2 + 1e-6 * scale[c], `|ŵ − w| ≤ S/2 at [${i}][${c}]`);
        // on the grid: (ŵ / S) + Z is an integer within [qmin, qmax]
        const g = hat[k] / scale[c] + zeroPoint[c];
        assert.ok(Math.abs(g - Math.round(g)) < 1e-4, `ŵ[${i}][${c}] on the grid (${g})`);
      }
    }
    assert.deepEqual(Array.from(scale), ref.scale);
    assert.deepEqual(Array.from(zeroPoint), ref.zero);
    // Re-quantising ŵ gives the same integers (and ŵ back, to float32 rounding of the rescaled step).
    const again = quantizeValues(hat, shape, 1, bits);
    assert.deepEqual(Array.from(again.q), Array.from(q));
    assert.deepEqual(Array.from(again.zeroPoint), Array.from(zeroPoint));
    const hat2 = fakeQuantizeValues(hat, shape, 1, bits);
    for (let k = 0; k < hat.length; k++) assert.ok(Math.abs(hat2[k] - hat[k]) <= 4e-7 * Math.max(1, Math.abs(hat[k])), `re-quantised ŵ[${k}]`);
    // A half-step value rounds away from zero: w/S = −2.5 − Z … checked by the naive reference above;
    // make sure such ties occurred (else this test checks no tie).
    const ties = w.filter((r) => { const x = r[4] / ref.scale[4]; return Math.abs(Math.abs(x - Math.trunc(x)) - 0.5) < 1e-6; }).length;
    assert.ok(ties > 10, `${ties} half-step values`);
  });
}

void test('an all-zero channel: S = 1, Z = qmin … 0 is exact', () => {
  const hat = fakeQuantizeValues(new Float32Array([0, 0, 0, 0]), [2, 2], 1, 4);
  assert.deepEqual(Array.from(hat), [0, 0, 0, 0]);
});

void test('int4 packing: two values per byte, low nibble first, round trip', () => {
  const q = Int8Array.from([-8, 7, -1, 0, 3, -5, 1]);
  const packed = packInt4(q);
  assert.equal(packed.length, 4);
  assert.equal(packed[0], 0x78); // low nibble −8 = 0x8, high nibble 7 = 0x7
  assert.equal(packed[1], 0x0f); // −1 = 0xf, 0
  assert.equal(packed[3], 0x01); // odd count: last high nibble 0
  assert.deepEqual(Array.from(unpackInt4(packed, 7)), Array.from(q));
  assert.throws(() => packInt4(Int8Array.from([8])), /outside \[-8, 7\]/);
});

void test('the straight-through gradient: d/dw Σ c·ŵ = c, for 8 and 4 bits', () => {
  for (const bits of [8, 4] as const) {
    const w = tf.variable(tf.tensor2d(randomMatrix(6, 3, 3).flat(), [6, 3]));
    const c = tf.tensor2d(Array.from({ length: 18 }, (_, i) => (i % 5) - 2.5), [6, 3]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(c, fakeQuantWeight(w, 'dense/kernel', bits))) as tf.Scalar, [w]);
    assert.deepEqual(Array.from(grads[w.name].dataSync()), Array.from(c.dataSync()));
    // and the value is ŵ
    const hat = fakeQuantWeight(w, 'dense/kernel', bits);
    assert.deepEqual(Array.from(hat.dataSync()), Array.from(fakeQuantizeValues(w.dataSync() as Float32Array, [6, 3], 1, bits)));
    tf.dispose([w, c, hat, grads[w.name]]);
  }
});

void test('activation fake quantisation: the 8-bit rule in float32, no gradient outside [lo, hi]', () => {
  const range = { min: -0.7, max: 1.9 };
  const { scale, zeroPoint, lo, hi } = activationParams(range);
  const xs = [-2, -0.7, -0.31, 0, 0.013, 0.5, 1.9, 2.5, Math.fround(3.5 * scale), Math.fround(-6.5 * scale)];
  const x = tf.tensor1d(xs);
  const out = fakeQuantActivation(x, range).dataSync();
  const f = Math.fround;
  xs.forEach((v, i) => {
    const r = f(f(v) / scale);
    const rounded = Math.sign(r) * Math.floor(f(Math.abs(r) + 0.5));
    const q = Math.min(127, Math.max(-128, rounded + zeroPoint));
    assert.equal(out[i], f((q - zeroPoint) * scale), `x = ${v}`);
  });
  const g = tf.grad((t: tf.Tensor) => tf.sum(fakeQuantActivation(t, range)))(x).dataSync();
  xs.forEach((v, i) => assert.equal(g[i], f(v) >= lo && f(v) <= hi ? 1 : 0, `gradient at ${v}`));
  assert.equal(lo, Math.fround(-0.7));
  assert.equal(hi, Math.fround(1.9));
});

/** A small CNN with a depthwise-separable layer and a dense head (every kind of kernel). */
function cnn(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 5, kernelSize: 3, activation: 'relu', name: 'conv_1' }));
  m.add(tf.layers.separableConv2d({ filters: 4, kernelSize: 3, name: 'sep_1' }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ units: 3, name: 'logits' }));
  return m;
}

for (const bits of [4, 8] as const) {
  void test(`the int${bits} copy with activation ranges, loaded from disk, equals the fake-quantised model's outputs`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fq-'));
    const m = cnn();
    const x = tf.randomUniform([8, 6, 6, 2], -1, 1, 'float32', 5);
    const floatOut = m.predict(x) as tf.Tensor;
    const fq = new FakeQuantizer(m, { bits, activations: true });
    assert.deepEqual(fq.layerNames, ['conv_1', 'sep_1', 'logits']);
    // a training pass sets the ranges
    tf.tidy(() => m.apply(x, { training: true }) as tf.Tensor);
    const ranges = fq.getRanges();
    assert.deepEqual(Object.keys(ranges), ['conv_1', 'sep_1', 'logits']);
    const fqOut = m.predict(x) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(fqOut, floatOut))).dataSync()[0] > 0, 'fake quantisation changes the outputs');
    fq.restore();
    // saving sees the float weights (the patch is not in the saved values), and the copy is made from them
    await saveLayersModel(m, path.join(dir, 'float'));
    const info = saveQuantizedCopy(path.join(dir, 'float', 'model.json'), path.join(dir, 'q'), { bits, activations: ranges });
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'q', 'model.json'), 'utf8')) as { distillQuantization: { format: string; activations: unknown } };
    assert.equal(json.distillQuantization.format, `distill-int${bits}-per-channel`);
    assert.deepEqual(json.distillQuantization.activations, ranges);
    const nKernel = 3 * 3 * 2 * 5 + 3 * 3 * 5 + 5 * 4 + 2 * 2 * 4 * 3;
    const nChannels = 5 + 5 + 4 + 3;
    const nFloat = 5 + 4 + 3;
    const packed = bits === 4 ? Math.ceil(90 / 2) + Math.ceil(45 / 2) + Math.ceil(20 / 2) + Math.ceil(48 / 2) : nKernel;
    assert.equal(info.bytes, packed + 5 * nChannels + 4 * nFloat);
    assert.equal(fs.statSync(path.join(dir, 'q', 'weights.bin')).size, packed + 4 * nFloat);
    const loaded = await loadLayersModelFromFile(path.join(dir, 'q', 'model.json'));
    const loadedOut = loaded.predict(x) as tf.Tensor;
    assert.deepEqual(Array.from(loadedOut.dataSync()), Array.from(fqOut.dataSync()), 'loaded copy = fake-quantised model');
    // without the activation ranges the loaded copy is the weight-only fake-quantised model
    const plain = new FakeQuantizer(m, { bits, activations: false });
    const wOnly = m.predict(x) as tf.Tensor;
    plain.restore();
    const a = await modelArtifacts(m);
    const q = quantizeArtifacts(a.weightSpecs!, a.weightData as ArrayBuffer, bits);
    const d = dequantizeArtifacts(q.weightSpecs, q.weightData);
    const m2 = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: d.weightSpecs, weightData: d.weightData }));
    assert.deepEqual(Array.from((m2.predict(x) as tf.Tensor).dataSync()), Array.from(wOnly.dataSync()));
    // restored: the float model again
    assert.deepEqual(Array.from((m.predict(x) as tf.Tensor).dataSync()), Array.from(floatOut.dataSync()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

void test('activation ranges: EMA (momentum 0.9) of batch min/max in training passes only', () => {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [2], units: 1, useBias: false, kernelInitializer: 'ones', name: 'd' }));
  const fq = new FakeQuantizer(m, { bits: 8, activations: true });
  const f = Math.fround;
  // kernel [1, 1] (exact at 8 bits: S = 1/255, ŵ = 255·S = 1 up to float32) → outputs ≈ row sums
  tf.tidy(() => m.apply(tf.tensor2d([[1, 1], [-1, 0]]), { training: true }) as tf.Tensor);
  const r1 = fq.getRanges().d;
  const w = fakeQuantizeValues(Float32Array.from([1, 1]), [2, 1], 1, 8)[0];
  assert.equal(r1.min, f(-w));
  assert.equal(r1.max, f(w + w));
  tf.tidy(() => m.apply(tf.tensor2d([[3, 3], [0, 0]]), { training: true }) as tf.Tensor);
  const r2 = fq.getRanges().d;
  assert.equal(r2.min, f(0.9 * r1.min + 0.1 * 0));
  assert.equal(r2.max, f(0.9 * r1.max + 0.1 * f(w * 3 + w * 3)));
  m.predict(tf.tensor2d([[100, 100]]));
  assert.deepEqual(fq.getRanges().d, r2, 'inference does not move the ranges');
  fq.restore();
});

void test('a quantised copy with bad activation ranges is refused, naming the file and the field', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fq-bad-'));
  const m = cnn();
  await saveLayersModel(m, path.join(dir, 'float'));
  saveQuantizedCopy(path.join(dir, 'float', 'model.json'), path.join(dir, 'q'), { bits: 4, activations: { conv_1: { min: -1, max: 1 } } });
  const file = path.join(dir, 'q', 'model.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { distillQuantization: { activations: unknown } };
  json.distillQuantization.activations = { conv_1: { min: 2, max: 1 } };
  fs.writeFileSync(file, JSON.stringify(json));
  await assert.rejects(loadLayersModelFromFile(file), (e: Error) => e.message.includes(file) && /distillQuantization\.activations\.conv_1.*min ≤ max/.test(e.message));
  json.distillQuantization.activations = { nope: { min: 0, max: 1 } };
  fs.writeFileSync(file, JSON.stringify(json));
  await assert.rejects(loadLayersModelFromFile(file), /distillQuantization\.activations.*"nope".*conv_1, sep_1, logits/);
  fs.rmSync(dir, { recursive: true, force: true });
});

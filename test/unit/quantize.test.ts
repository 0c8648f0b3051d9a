/**
 * int8 students: per-channel affine quantisation round trip (every weight within one step of the
 * original), ≈ ¼ of the float32 bytes, the int8 folder on disk and its dequantising loader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { channelAxis, dequantizeArtifacts, dequantizeValues, int8Bytes, quantizeArtifacts, quantizeValues } from '../../src/engine/models/quantize';
import { loadLayersModelFromFile, modelArtifacts, readModelArtifacts, saveInt8Copy, saveLayersModel } from '../../src/engine/models/fileIO';

function model(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 256, inputShape: [256], activation: 'relu', name: 'dense_1' }));
  m.add(tf.layers.dense({ units: 10, name: 'logits' }));
  return m;
}

void test('quantizeValues: per channel, every value within one step of the original, zero exact', () => {
  const shape = [3, 4];
  // Channel (column) ranges differ by orders of magnitude; column 3 is all positive, column 2 all zero.
  const w = new Float32Array([-1, 0.001, 0, 5, 0.5, -0.002, 0, 6, 1, 0.003, 0, 7]);
  const { q, scale, zeroPoint } = quantizeValues(w, shape, 1);
  assert.equal(scale.length, 4);
  const back = dequantizeValues(q, shape, { axis: 1, scale: Array.from(scale), zeroPoint: Array.from(zeroPoint) });
  for (let i = 0; i < w.length; i++) {
    assert.ok(Math.abs(back[i] - w[i]) <= scale[i % 4] + 1e-12, `w[${i}] = ${w[i]} → ${back[i]} (step ${scale[i % 4]})`);
  }
  assert.ok(scale[1] < 1e-4, 'a small channel gets a small step (per-channel, not per-tensor)');
  assert.equal(back[2], 0);
  assert.equal(back[6], 0);
  assert.equal(channelAxis('conv/depthwise_kernel', [3, 3, 8, 1]), 2);
  assert.equal(channelAxis('conv/kernel', [3, 3, 8, 16]), 3);
});

void test('int8 round trip of a model: dequantised weights within one step, bytes ≈ ¼', async () => {
  const m = model();
  const a = await modelArtifacts(m);
  const q = quantizeArtifacts(a.weightSpecs!, a.weightData as ArrayBuffer);
  // Kernels 256·256 + 256·10 = 68096 values → 1 byte each, plus 5 bytes (scale + zero point) per channel
  // (256 + 10); biases 266 values stay float32.
  assert.equal(q.floatBytes, 4 * m.countParams());
  assert.equal(q.bytes, 68096 + 5 * 266 + 4 * 266);
  const ratio = q.bytes / q.floatBytes;
  assert.ok(ratio > 0.25 && ratio < 0.26, `bytes ratio ${ratio}`);
  assert.equal(q.quantizedWeights, 2);
  const d = dequantizeArtifacts(q.weightSpecs, q.weightData);
  const orig = new Float32Array(a.weightData as ArrayBuffer);
  const back = new Float32Array(d.weightData);
  assert.equal(back.length, orig.length);
  let offset = 0;
  for (const spec of q.weightSpecs) {
    const n = spec.shape.reduce((x, y) => x * y, 1);
    const quant = (spec as unknown as { quantization?: { scale: number[]; axis: number } }).quantization;
    for (let i = 0; i < n; i++) {
      const step = quant ? quant.scale[i % spec.shape[quant.axis]] : 0;
      assert.ok(Math.abs(back[offset + i] - orig[offset + i]) <= step + 1e-9, `${spec.name}[${i}]`);
    }
    offset += n;
  }
  assert.equal(int8Bytes(m), q.bytes, 'the estimate from shapes matches');
  m.dispose();
});

void test('the int8 folder: model.json + weights.bin + FORMAT.md, loaded (dequantised) by loadLayersModelFromFile', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8-'));
  const m = model();
  await saveLayersModel(m, path.join(dir, 'float'));
  const info = saveInt8Copy(path.join(dir, 'float', 'model.json'), path.join(dir, 'int8'));
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'int8', 'model.json'), 'utf8')) as Record<string, unknown>;
  assert.equal((json.distillQuantization as { format: string }).format, 'distill-int8-per-channel');
  assert.ok(fs.existsSync(path.join(dir, 'int8', 'FORMAT.md')));
  const binBytes = fs.statSync(path.join(dir, 'int8', 'weights.bin')).size;
  assert.equal(binBytes, info.fileBytes);
  assert.ok(binBytes / fs.statSync(path.join(dir, 'float', 'weights.bin')).size < 0.26);
  // Stock TF.js refuses the int8 manifest instead of misreading it.
  await assert.rejects(tf.loadLayersModel(tf.io.fromMemory(readModelArtifacts(path.join(dir, 'int8', 'model.json')))), /int8/);
  const loaded = await loadLayersModelFromFile(path.join(dir, 'int8', 'model.json'));
  const x = tf.randomNormal([8, 256], 0, 1, 'float32', 7);
  const y0 = m.predict(x) as tf.Tensor;
  const y1 = loaded.predict(x) as tf.Tensor;
  const err = tf.max(tf.abs(tf.sub(y0, y1))).dataSync()[0];
  const size = tf.max(tf.abs(y0)).dataSync()[0];
  assert.ok(err < 0.05 * size, `int8 outputs close to float: max error ${err} vs max |y| ${size}`);
  tf.dispose([x, y0, y1]);
  m.dispose();
  loaded.dispose();
});

/**
 * A folder whose decoded size exceeds `data.memoryMB` streams from its decoded cache: the memory
 * the engine holds while it trains an epoch and evaluates every split stays under the bound plus
 * the model's own (weights, gradients, one batch's tensors). Memory is measured as live
 * ArrayBuffer bytes (`process.memoryUsage().arrayBuffers` after a forced GC) at every point where
 * data has just been read (each batch, each read from the cache file); the same pass with the
 * folder held in memory is measured the same way and must exceed the allowance, so the measure is
 * shown to see the data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { batchIndices, gather, prepareData } from '../../src/engine/data';
import type { DataConfig } from '../../src/config/types';
import { DiskRows } from '../../src/engine/data/stream';
import { predictLogits } from '../../src/engine/training/evaluate';
import { tempDir } from '../helpers/experiments';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const H = 16, W = 16, C = 3, N = 1000, CLASSES = 4, BATCH = 32;
const BOUND_MB = 0.25;

function live(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

/** The live bytes once every dropped buffer is released (backing stores are freed after the GC that finds them). */
async function settled(): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    least = Math.min(least, live());
  }
  return least;
}

void test('streaming keeps the memory held under data.memoryMB plus the model\'s own; holding the folder does not', async (t) => {
  await tf.setBackend('cpu');
  const dir = tempDir();
  for (let i = 0; i < N; i++) {
    const c = i % CLASSES;
    const p = new PNG({ width: W, height: H });
    for (let k = 0; k < p.data.length; k++) p.data[k] = k % 4 === 3 ? 255 : (i * 31 + k * 7 + c * 50) % 256;
    const file = path.join(dir, 'train', `class${c}`, `${String(i).padStart(4, '0')}.png`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, PNG.sync.write(p, { colorType: 2 }));
  }
  const data: DataConfig = {
    train: { format: 'images', path: 'train', channels: C },
    test: { format: 'images', path: 'train', channels: C, limit: 200 },
    validation: { fraction: 0.2 }, normalize: 'scale', shuffleSeed: 1,
  };
  const decodedFloatBytes = N * H * W * C * 4; // 3 MB
  const bound = BOUND_MB * (1 << 20);
  assert.ok(decodedFloatBytes > 10 * bound);
  prepareData(data, dir); // decode once into the cache (not measured)

  const f = H * W * C;
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [H, W, C] }), tf.layers.dense({ units: CLASSES })] });
  const weightBytes = model.countParams() * 4;
  const optimizer = tf.train.sgd(0.01);

  const origRead = DiskRows.prototype.read;
  async function pass(memoryMB: number): Promise<{ peak: number; streamed: boolean; reads: number }> {
    const base = await settled();
    let peak = 0;
    let reads = 0;
    const sample = () => {
      peak = Math.max(peak, live() - base);
    };
    DiskRows.prototype.read = function (this: DiskRows, ...args: Parameters<DiskRows['read']>) {
      origRead.apply(this, args);
      reads++;
      sample();
    };
    try {
      const d = prepareData({ ...data, memoryMB }, dir);
      sample();
      for (const idx of batchIndices(d.train.size, BATCH, 1, 1)) {
        const b = gather(d.train, idx);
        sample();
        tf.tidy(() => {
          const xs = tf.tensor(b.x, [idx.length, H, W, C]);
          const ys = tf.oneHot(tf.tensor1d(b.y, 'int32'), CLASSES);
          optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor) as tf.Scalar);
        });
        sample();
      }
      for (const split of [d.validation!, d.test]) {
        const logits = predictLogits(model, split, [H, W, C]);
        assert.equal(logits.length, split.size * CLASSES);
        sample();
      }
      return { peak, streamed: Boolean(d.train.stream), reads };
    } finally {
      DiskRows.prototype.read = origRead;
    }
  }

  const streamed = await pass(BOUND_MB);
  const held = await pass(1024);
  // The model's own: weights, their gradients and update, and one batch's input, activations and
  // outputs — at most `maxRows` rows for a streamed pass (the bound's half as float32), BATCH for training.
  const maxRows = Math.max(BATCH, Math.floor(bound / 2 / (4 * f)));
  const modelOwn = 3 * weightBytes + 3 * maxRows * f * 4;
  const allowance = bound + modelOwn;
  t.diagnostic(`streamed peak ${streamed.peak} B, held peak ${held.peak} B, allowance ${allowance} B (bound ${bound}), ${streamed.reads} reads`);
  assert.ok(streamed.streamed && !held.streamed);
  assert.ok(streamed.reads > 10, `the streamed pass read from disk (${streamed.reads} reads)`);
  // Inside a read the reader's buffer (a quarter of the bound) and the rows being read are live: a
  // measure that saw less would be blind (e.g. a baseline holding garbage that is freed later).
  assert.ok(streamed.peak >= bound / 4, `the measure sees the streamed pass's own buffers (${streamed.peak} B)`);
  assert.ok(streamed.peak <= allowance, `streamed: peak ${streamed.peak} B held, allowance ${allowance} B (bound ${bound} + model ${modelOwn})`);
  assert.ok(held.peak > allowance && held.peak >= 0.8 * 0.8 * decodedFloatBytes,
    `in memory: peak ${held.peak} B (the measure sees the ${decodedFloatBytes}-byte folder)`);
  model.dispose();
  optimizer.dispose();
});

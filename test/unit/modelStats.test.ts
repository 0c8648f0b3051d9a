import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { measureLatency, modelStats, type ModelStats } from '../../src/engine/metrics/modelStats';

const byType = (s: ModelStats, type: string) => s.layers.filter((l) => l.type === type);

void test('Sequential MLP: params and FLOPs by hand', () => {
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 32, activation: 'relu' }),
      tf.layers.dropout({ rate: 0.2 }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  const s = modelStats(model);
  // Flatten: 28·28·1 = 784 features, 0 FLOPs.
  // Dense 784→32: params 784·32 + 32 = 25088 + 32 = 25120; FLOPs 2·784·32 + 32 = 50176 + 32 = 50208.
  // Dropout: 0.
  // Dense 32→10: params 32·10 + 10 = 330; FLOPs 2·32·10 + 10 = 640 + 10 = 650.
  assert.deepEqual(s.layers.map((l) => l.type), ['Flatten', 'Dense', 'Dropout', 'Dense']);
  assert.deepEqual(s.layers.map((l) => l.params), [0, 25120, 0, 330]);
  assert.deepEqual(s.layers.map((l) => l.flops), [0, 50208, 0, 650]);
  assert.deepEqual(s.layers[1].outputShape, [null, 32]);
  assert.equal(s.params, 25120 + 330); // 25450
  assert.equal(s.params, model.countParams());
  assert.equal(s.trainableParams, 25450);
  assert.equal(s.bytes, 4 * 25450);
  assert.equal(s.flops, 50208 + 650); // 50858
  model.dispose();
});

void test('small CNN (conv/pool/conv/flatten/dense): params and FLOPs by hand', () => {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10 }),
    ],
  });
  const s = modelStats(model);
  // Conv2D 3×3, 1→8, valid: 28→26. params 3·3·1·8 + 8 = 80.
  //   FLOPs 2·3·3·1·8·26·26 + 26·26·8 = 97344 + 5408 = 102752.
  // MaxPooling2D 2×2: 26→13, 8 channels. FLOPs 2·2·8·13·13 = 5408.
  // Conv2D 3×3, 8→16, same: 13×13. params 3·3·8·16 + 16 = 1152 + 16 = 1168.
  //   FLOPs 2·3·3·8·16·13·13 + 13·13·16 = 389376 + 2704 = 392080.
  // Flatten: 13·13·16 = 2704 features, 0 FLOPs.
  // Dense 2704→10: params 2704·10 + 10 = 27050; FLOPs 2·2704·10 + 10 = 54080 + 10 = 54090.
  assert.deepEqual(s.layers.map((l) => l.params), [80, 0, 1168, 0, 27050]);
  assert.deepEqual(s.layers.map((l) => l.flops), [102752, 5408, 392080, 0, 54090]);
  assert.deepEqual(s.layers[1].outputShape, [null, 13, 13, 8]);
  assert.equal(s.params, 80 + 1168 + 27050); // 28298
  assert.equal(s.params, model.countParams());
  assert.equal(s.bytes, 4 * 28298);
  assert.equal(s.flops, 102752 + 5408 + 392080 + 54090); // 554330
  model.dispose();
});

void test('functional model with an Add skip connection', () => {
  const input = tf.input({ shape: [16] });
  const h1 = tf.layers.dense({ units: 16, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
  const h2 = tf.layers.dense({ units: 16 }).apply(h1) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([input, h2]) as tf.SymbolicTensor;
  const act = tf.layers.activation({ activation: 'relu' }).apply(sum) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4 }).apply(act) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const s = modelStats(model);
  // InputLayer: 0.
  // Dense 16→16 (twice): params 16·16 + 16 = 272 each; FLOPs 2·16·16 + 16 = 512 + 16 = 528 each.
  // Add of two [16] tensors: 16 FLOPs. Activation relu on 16 values: 16 FLOPs.
  // Dense 16→4: params 16·4 + 4 = 68; FLOPs 2·16·4 + 4 = 128 + 4 = 132.
  assert.deepEqual(s.layers.map((l) => l.type), ['InputLayer', 'Dense', 'Dense', 'Add', 'Activation', 'Dense']);
  assert.deepEqual(s.layers.map((l) => l.params), [0, 272, 272, 0, 0, 68]);
  assert.deepEqual(s.layers.map((l) => l.flops), [0, 528, 528, 16, 16, 132]);
  assert.equal(s.params, 272 + 272 + 68); // 612
  assert.equal(s.params, model.countParams());
  assert.equal(s.flops, 528 + 528 + 16 + 16 + 132); // 1220
  model.dispose();
});

void test('depthwise, separable, batch norm, global pooling; non-trainable params; unknown layers noted', () => {
  const model = tf.sequential({
    layers: [
      tf.layers.depthwiseConv2d({ inputShape: [10, 10, 3], kernelSize: 3, depthMultiplier: 2, padding: 'same' }),
      tf.layers.separableConv2d({ kernelSize: 3, filters: 4 }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.layerNormalization(),
    ],
  });
  const s = modelStats(model);
  // DepthwiseConv2D 3×3, Cin 3, mult 2, same: 10×10×6. params 3·3·3·2 + 6 = 54 + 6 = 60.
  //   FLOPs 2·3·3·3·2·10·10 + 10·10·6 = 10800 + 600 = 11400.
  // SeparableConv2D 3×3, Cin 6, mult 1, → 4, valid: 8×8×4. params 3·3·6 (depthwise) + 6·4 (pointwise) + 4 = 54 + 24 + 4 = 82.
  //   FLOPs depthwise 2·3·3·6·8·8 = 6912; pointwise 2·6·4·8·8 = 3072; bias 8·8·4 = 256 → 10240.
  // BatchNormalization on 8×8×4 = 256 values: params 4·4 = 16 (8 trainable: gamma, beta); FLOPs 2·256 = 512.
  // ReLU: 256. GlobalAveragePooling2D: 8·8·4 = 256.
  // LayerNormalization: params 2·4 = 8, FLOPs not counted (noted).
  assert.deepEqual(s.layers.map((l) => l.params), [60, 82, 16, 0, 0, 8]);
  assert.deepEqual(s.layers.map((l) => l.flops), [11400, 10240, 512, 256, 256, 0]);
  assert.equal(byType(s, 'BatchNormalization')[0].trainableParams, 8);
  assert.equal(s.params, 60 + 82 + 16 + 8); // 166
  assert.equal(s.params, model.countParams());
  assert.equal(s.trainableParams, 166 - 8);
  assert.match(byType(s, 'LayerNormalization')[0].note ?? '', /unknown layer type LayerNormalization/);
  assert.equal(byType(s, 'Conv2D').length, 0);
  assert.equal(s.layers[0].note, undefined);
  // A frozen layer: its weights count as params but not as trainable params.
  model.layers[1].trainable = false;
  const frozen = modelStats(model);
  assert.equal(frozen.params, 166);
  assert.equal(frozen.trainableParams, 166 - 8 - 82);
  model.dispose();
});

void test('shared layers count once per call; nested models count through their layers', () => {
  const input = tf.input({ shape: [5] });
  const shared = tf.layers.dense({ units: 5 });
  const a = shared.apply(input) as tf.SymbolicTensor;
  const b = shared.apply(a) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: b });
  const s = modelStats(model);
  // One Dense 5→5 (params 5·5 + 5 = 30) applied twice: FLOPs 2·(2·5·5 + 5) = 2·55 = 110.
  assert.equal(s.params, 30);
  assert.equal(s.params, model.countParams());
  assert.equal(s.flops, 110);
  assert.match(s.layers[1].note ?? '', /applied 2 times/);

  const inner = tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 4 })] }); // 8·4+4 = 36 params, 2·8·4+4 = 68 FLOPs
  const x = tf.input({ shape: [8] });
  const outer = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2 }).apply(inner.apply(x)) as tf.SymbolicTensor });
  const o = modelStats(outer);
  // Outer Dense 4→2: params 4·2 + 2 = 10; FLOPs 2·4·2 + 2 = 18.
  assert.equal(o.params, 36 + 10);
  assert.equal(o.params, outer.countParams());
  assert.equal(o.flops, 68 + 18);
  model.dispose();
  outer.dispose();
});

void test('measureLatency: median timing, disposes its tensors', async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [20], units: 8 }), tf.layers.dense({ units: 3 })] });
  const before = tf.memory().numTensors;
  const r = await measureLatency(model, [20], { batch: 4, warmup: 1, runs: 5 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(r.batch, 4);
  assert.ok(r.msPerBatch > 0 && Number.isFinite(r.msPerBatch));
  assert.ok(Math.abs(r.msPerSample - r.msPerBatch / 4) < 1e-12);
  model.dispose();
});

/**
 * Derived students: width, depth and layer-type swaps on Sequential and functional (skip-connection)
 * models — output shapes, parameter counts by hand, names kept, and every refused derivation with
 * the field it is located at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { deriveArchitecture, topologyOf } from '../../src/engine/models/derive';
import { DeriveError, modelFromTopology } from '../../src/engine/models/deriveGraph';
import { scaleWidth } from '../../src/engine/models/deriveWidth';
import type { DeriveConfig } from '../../src/config/types';

const D = (o: Partial<DeriveConfig> = {}): DeriveConfig => ({ width: 1, round: 1, depth: 1, ...o });

/** 16 → dense_1 64 → drop_1 → dense_2 64 → dense_3 64 → logits 4. */
function mlp(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 64, inputShape: [16], activation: 'relu', name: 'dense_1' }));
  m.add(tf.layers.dropout({ rate: 0.1, name: 'drop_1' }));
  m.add(tf.layers.dense({ units: 64, activation: 'relu', name: 'dense_2' }));
  m.add(tf.layers.dense({ units: 64, activation: 'relu', name: 'dense_3' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}

/** in 16 → stem 32 → 3 × [bK_a 64 → bK_b 32 → bK_add(skip)] → logits 4. */
function residual(): tf.LayersModel {
  const x = tf.input({ shape: [16], name: 'in' });
  let y = tf.layers.dense({ units: 32, activation: 'relu', name: 'stem' }).apply(x) as tf.SymbolicTensor;
  for (let b = 1; b <= 3; b++) {
    const a = tf.layers.dense({ units: 64, activation: 'relu', name: `b${b}_a` }).apply(y) as tf.SymbolicTensor;
    const c = tf.layers.dense({ units: 32, name: `b${b}_b` }).apply(a) as tf.SymbolicTensor;
    y = tf.layers.add({ name: `b${b}_add` }).apply([y, c]) as tf.SymbolicTensor;
  }
  const out = tf.layers.dense({ units: 4, name: 'logits' }).apply(y) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: out, name: 'resnet' });
}

/** [8, 8, 1] → conv_1 3×3×8 → pool_1 → conv_2 3×3×16 → pool_2 → flatten → logits 4. */
function cnn(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  m.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_2' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_2' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return m;
}

async function derive(teacher: tf.LayersModel, cfg: DeriveConfig) {
  const arch = await deriveArchitecture(topologyOf(teacher), cfg);
  const model = await modelFromTopology(arch.topology, 1);
  return { arch, model, names: model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name) };
}

async function refused(teacher: tf.LayersModel, cfg: DeriveConfig): Promise<DeriveError> {
  try {
    await deriveArchitecture(topologyOf(teacher), cfg);
  } catch (e) {
    assert.ok(e instanceof DeriveError, String(e));
    return e;
  }
  assert.fail(`derivation ${JSON.stringify(cfg)} was accepted`);
}

void test('scaleWidth: nearest multiple of round, never below it, never wider than the teacher', () => {
  assert.equal(scaleWidth(64, 0.25, 1), 16);
  assert.equal(scaleWidth(64, 0.2, 8), 16); // 12.8 → 8·round(1.6) = 16
  assert.equal(scaleWidth(64, 0.05, 8), 8); // 3.2 → 0, never below 8
  assert.equal(scaleWidth(4, 0.5, 8), 4); // never wider than the teacher's 4
  assert.equal(scaleWidth(10, 1.5, 4), 16); // widening: 15 → 16
});

void test('Sequential MLP: width multiplier on hidden layers, output kept, names kept', async () => {
  const { arch, model, names } = await derive(mlp(), D({ width: 0.25 }));
  // dense_1 16·16+16 = 272; dense_2, dense_3 16·16+16 = 272 each; logits 16·4+4 = 68 → 884.
  assert.equal(model.countParams(), 272 + 272 + 272 + 68);
  assert.deepEqual(names, ['dense_1', 'drop_1', 'dense_2', 'dense_3', 'logits']);
  assert.deepEqual(model.outputs[0].shape, [null, 4]);
  assert.equal(model.getClassName(), 'Sequential');
  assert.deepEqual(arch.widths, [{ layer: 'dense_1', from: 64, to: 16 }, { layer: 'dense_2', from: 64, to: 16 }, { layer: 'dense_3', from: 64, to: 16 }]);
  // Rounded to 8: 64·0.2 = 12.8 → 16, the same model.
  assert.equal((await derive(mlp(), D({ width: 0.2, round: 8 }))).model.countParams(), 884);
});

void test('Sequential MLP: depth reduction drops shape-keeping blocks, never the first or the output', async () => {
  // Droppable blocks: [dense_2], [dense_3] (dense_1 + drop_1 turns 16 into 64). depth 0.5 keeps one: the last goes.
  const half = await derive(mlp(), D({ width: 0.25, depth: 0.5 }));
  assert.deepEqual(half.names, ['dense_1', 'drop_1', 'dense_2', 'logits']);
  assert.equal(half.model.countParams(), 272 + 272 + 68); // 612
  assert.deepEqual(half.arch.dropped, [{ layers: ['dense_3'], shape: [null, 16] }]);
  // Explicit drop, full width: dense_1 16·64+64 = 1088, dense_3 64·64+64 = 4160, logits 64·4+4 = 260 → 5508.
  const named = await derive(mlp(), D({ drop: ['dense_2'] }));
  assert.deepEqual(named.names, ['dense_1', 'drop_1', 'dense_3', 'logits']);
  assert.equal(named.model.countParams(), 1088 + 4160 + 260);
  assert.deepEqual(named.model.outputs[0].shape, [null, 4]);
});

void test('functional model with skip connections: tied widths scale together, residual blocks drop whole', async () => {
  const teacher = residual();
  // stem 16·32+32 = 544; per block a 32·64+64 = 2112, b 64·32+32 = 2080; logits 32·4+4 = 132 → 544 + 3·4192 + 132 = 13252.
  assert.equal(teacher.countParams(), 13252);
  // width 0.5: stem and every bK_b are tied through the Add layers: 32 → 16; bK_a 64 → 32.
  // stem 16·16+16 = 272; a 16·32+32 = 544, b 32·16+16 = 528 (×3 = 3216); logits 16·4+4 = 68 → 3556.
  const half = await derive(teacher, D({ width: 0.5 }));
  assert.equal(half.model.countParams(), 272 + 3 * (544 + 528) + 68);
  assert.deepEqual(half.model.outputs[0].shape, [null, 4]);
  assert.equal(half.names.length, teacher.layers.length - 1);
  for (const n of ['stem', 'b1_b', 'b2_b', 'b3_b']) assert.deepEqual(half.model.getLayer(n).outputShape, [null, 16], n);
  // Dropping a residual block removes its three layers: 13252 − 4192 = 9060.
  const dropped = await derive(teacher, D({ drop: ['b2_a'] }));
  assert.deepEqual(dropped.names, ['stem', 'b1_a', 'b1_b', 'b1_add', 'b3_a', 'b3_b', 'b3_add', 'logits']);
  assert.equal(dropped.model.countParams(), 9060);
  assert.deepEqual(dropped.arch.dropped, [{ layers: ['b2_a', 'b2_b', 'b2_add'], shape: [null, 32] }]);
  // depth 0.5 of 3 blocks keeps round(1.5) = 2: the last block goes.
  const shallow = await derive(teacher, D({ depth: 0.5 }));
  assert.deepEqual(shallow.names, ['stem', 'b1_a', 'b1_b', 'b1_add', 'b2_a', 'b2_b', 'b2_add', 'logits']);
  assert.equal(shallow.model.countParams(), 9060);
  // keep: the stem's group (stem and every bK_b) keeps 32; bK_a 64 → 32: a 32·32+32 = 1056, b 1056 → 544 + 3·2112 + 132 = 7012.
  const kept = await derive(teacher, D({ width: 0.5, keep: ['stem'] }));
  assert.equal(kept.model.countParams(), 7012);
  assert.ok(kept.arch.kept.some((k) => k.layers.includes('stem') && k.layers.includes('b3_b')));
  // The derived model runs.
  const y = half.model.predict(tf.ones([2, 16])) as tf.Tensor;
  assert.deepEqual(y.shape, [2, 4]);
  y.dispose();
});

void test('CNN: Conv2D → SeparableConv2D keeps shapes, then the width multiplier', async () => {
  const teacher = cnn();
  // conv_1 9·1·8+8 = 80; conv_2 (on 4×4) 9·8·16+16 = 1168; logits (2·2·16 = 64)·4+4 = 260 → 1508.
  assert.equal(teacher.countParams(), 1508);
  // Separable conv_1: depthwise 9·1 + pointwise 1·8 + bias 8 = 25; conv_2: 9·8 + 8·16 + 16 = 216 → 25 + 216 + 260 = 501.
  const sep = await derive(teacher, D({ swap: { Conv2D: 'SeparableConv2D' } }));
  assert.deepEqual(sep.model.layers.map((l) => l.getClassName()),
    ['SeparableConv2D', 'MaxPooling2D', 'SeparableConv2D', 'MaxPooling2D', 'Flatten', 'Dense']);
  assert.equal(sep.model.countParams(), 501);
  for (const l of teacher.layers) assert.deepEqual(sep.model.getLayer(l.name).outputShape, l.outputShape, l.name);
  // + width 0.5: conv_1 9 + 4 + 4 = 17; conv_2 9·4 + 4·8 + 8 = 76; logits (2·2·8 = 32)·4+4 = 132 → 225.
  const both = await derive(teacher, D({ swap: { Conv2D: 'SeparableConv2D' }, width: 0.5 }));
  assert.equal(both.model.countParams(), 225);
  assert.deepEqual(both.model.outputs[0].shape, [null, 4]);
  // Plain width 0.25 with round 4: conv_1 8 → 4 (9·4+4 = 40), conv_2 16 → 4 (9·4·4+4 = 148), logits (2·2·4 = 16)·4+4 = 68 → 256.
  const slim = await derive(teacher, D({ width: 0.25, round: 4 }));
  assert.equal(slim.model.countParams(), 40 + 148 + 68);
});

void test('refused: a multiplier that rounds a layer to zero units, at student.derive.width', async () => {
  const e = await refused(mlp(), D({ width: 0.001 }));
  assert.deepEqual(e.path, ['student', 'derive', 'width']);
  assert.match(e.message, /width 0\.001 leaves layer "dense_1" \(64 units\) with 0\.064 units, which rounds to zero; the width must be at least 0\.0078/);
});

void test('refused: depth reduction that removes the output layer or breaks a shape, at the drop entry', async () => {
  const out = await refused(mlp(), D({ drop: ['dense_2', 'logits'] }));
  assert.deepEqual(out.path, ['student', 'derive', 'drop', 1]);
  assert.match(out.message, /dropping layer "logits" would remove the output layer/);
  const shape = await refused(mlp(), D({ drop: ['drop_1'] }));
  assert.deepEqual(shape.path, ['student', 'derive', 'drop', 0]);
  assert.match(shape.message, /removes its block \[dense_1, drop_1\], which turns \[\?, 16\] into \[\?, 64\].*droppable here: "dense_2", "dense_3"/);
  const stem = await refused(residual(), D({ drop: ['stem'] }));
  assert.match(stem.message, /layer "stem" turns \[\?, 16\] into \[\?, 32\]/);
  const unknown = await refused(mlp(), D({ drop: ['dense_9'] }));
  assert.deepEqual(unknown.path, ['student', 'derive', 'drop', 0]);
  assert.match(unknown.message, /the teacher has no layer "dense_9"; closest: "dense_1"/);
  const none = await refused(cnn(), D({ depth: 0.5 }));
  assert.deepEqual(none.path, ['student', 'derive', 'depth']);
  assert.match(none.message, /no block that keeps its shape/);
});

/**
 * The model of issue 21: in [8, 8, 1] → stem 3×3×4 → pool_1 → 2 × [resK_conv1, resK_conv2, resK_add(skip),
 * resK_relu] → pool_2 → flatten → dense 8 → logits 4.
 */
function residualCnn(): tf.LayersModel {
  const x = tf.input({ shape: [8, 8, 1], name: 'in' });
  let y = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem' }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }).apply(y) as tf.SymbolicTensor;
  for (let b = 1; b <= 2; b++) {
    const c1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: `res${b}_conv1` }).apply(y) as tf.SymbolicTensor;
    const c2 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: `res${b}_conv2` }).apply(c1) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: `res${b}_add` }).apply([y, c2]) as tf.SymbolicTensor;
    y = tf.layers.activation({ activation: 'relu', name: `res${b}_relu` }).apply(sum) as tf.SymbolicTensor;
  }
  y = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_2' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.flatten({ name: 'flatten' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.dense({ units: 8, activation: 'relu', name: 'dense' }).apply(y) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, name: 'logits' }).apply(y) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: out, name: 'rescnn' });
}

const RES1 = ['res1_conv1', 'res1_conv2', 'res1_add', 'res1_relu'];
const RES2 = ['res2_conv1', 'res2_conv2', 'res2_add', 'res2_relu'];

void test('residual CNN (issue 21): pooling and Flatten after the last residual block are cuts; depth 0.5 drops that block', async () => {
  const teacher = residualCnn();
  // stem 9·1·4+4 = 40; each conv 9·4·4+4 = 148 (×4 = 592); dense (2·2·4 = 16)·8+8 = 136; logits 8·4+4 = 36 → 804.
  assert.equal(teacher.countParams(), 804);
  // Two droppable blocks (res1, res2, each ending at its ReLU); depth 0.5 keeps round(1) = 1: the last goes.
  const half = await derive(teacher, D({ depth: 0.5 }));
  assert.deepEqual(half.arch.dropped, [{ layers: RES2, shape: [null, 4, 4, 4] }]);
  assert.deepEqual(half.names, ['stem', 'pool_1', ...RES1, 'pool_2', 'flatten', 'dense', 'logits']);
  assert.equal(half.model.countParams(), 804 - 2 * 148);
  assert.deepEqual(half.arch.depth, { depth: 0.5, droppable: [RES1, RES2], asked: 1, dropped: 1 });
  assert.deepEqual(half.arch.warnings, []);
  // pool_2 now reads res1_relu; the model runs.
  const y = half.model.predict(tf.ones([2, 8, 8, 1])) as tf.Tensor;
  assert.deepEqual(y.shape, [2, 4]);
  y.dispose();
  // "drop" names the residual block by any of its layers and removes exactly it.
  const named = await derive(teacher, D({ drop: ['res2_conv1'] }));
  assert.deepEqual(named.arch.dropped, [{ layers: RES2, shape: [null, 4, 4, 4] }]);
  // Pooling or Flatten alone cannot be dropped (they change the shape), and say which blocks can.
  const pool = await refused(teacher, D({ drop: ['pool_2'] }));
  assert.match(pool.message, /layer "pool_2" turns \[\?, 4, 4, 4\] into \[\?, 2, 2, 4\].*droppable here: "res1_relu", "res2_relu"/);
});

void test('depth that rounds to fewer dropped blocks than it asks for says so, listing the droppable blocks', async () => {
  const teacher = residualCnn();
  // drop takes res1; depth 0.5 of the one block left keeps round(0.5) = 1: nothing more is dropped — a warning.
  const both = await derive(teacher, D({ drop: ['res1_conv2'], depth: 0.5 }));
  assert.deepEqual(both.arch.dropped, [{ layers: RES1, shape: [null, 4, 4, 4] }]);
  assert.deepEqual(both.arch.depth, { depth: 0.5, droppable: [RES2], asked: 0.5, dropped: 0 });
  assert.equal(both.arch.warnings.length, 1);
  assert.match(both.arch.warnings[0], /depth 0\.5 keeps round\(1 × 0\.5\) = 1 of the 1 droppable block, so it drops 0 \(nothing\) where it asks for 0\.5; droppable: \[res2_conv1, res2_conv2, res2_add, res2_relu\] \[\?, 4, 4, 4\]\. A depth below 0\.5 drops 1/);
  // Every droppable block already in "drop": depth is refused with what "drop" took, not "no block keeps its shape".
  const all = await refused(teacher, D({ drop: ['res1_add', 'res2_relu'], depth: 0.5 }));
  assert.deepEqual(all.path, ['student', 'derive', 'depth']);
  assert.match(all.message, /every block that keeps its shape is already in "drop" \(\[res1_conv1, .*res1_relu\]; \[res2_conv1, .*res2_relu\]\)/);
  // Sequential MLP, 2 droppable blocks: depth 0.75 keeps round(1.5) = 2 → drops none of the 0.5 asked.
  const mlpShallow = await derive(mlp(), D({ depth: 0.75 }));
  assert.deepEqual(mlpShallow.arch.dropped, []);
  assert.match(mlpShallow.arch.warnings[0], /depth 0\.75 keeps round\(2 × 0\.75\) = 2 of the 2 droppable blocks, so it drops 0 \(nothing\) where it asks for 0\.5; droppable: \[dense_2\] \[\?, 64\]; \[dense_3\] \[\?, 64\]\. A depth below 0\.75 drops 1/);
  const exact = await derive(mlp(), D({ depth: 0.5 }));
  assert.deepEqual(exact.arch.warnings, []);
});

void test('Sequential CNN: a conv that keeps its shape before a pooling layer is a droppable block of its own', async () => {
  // [8, 8, 1] → conv_1 8 → pool_1 → conv_2 8 (same padding: keeps [4, 4, 8]) → pool_2 → flatten → logits.
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_2' }));
  m.add(tf.layers.dropout({ rate: 0.1, name: 'drop_2' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_2' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  const shallow = await derive(m, D({ depth: 0.4 }));
  // The Dropout joins conv_2's block; pool_2 does not.
  assert.deepEqual(shallow.arch.dropped, [{ layers: ['conv_2', 'drop_2'], shape: [null, 4, 4, 8] }]);
  assert.deepEqual(shallow.names, ['conv_1', 'pool_1', 'pool_2', 'flatten', 'logits']);
  // conv_1 9·8+8 = 80; logits (2·2·8 = 32)·4+4 = 132.
  assert.equal(shallow.model.countParams(), 80 + 132);
  const half = await derive(m, D({ depth: 0.5 }));
  assert.deepEqual(half.arch.dropped, []);
  assert.match(half.arch.warnings[0], /drops 0 \(nothing\) where it asks for 0\.5; droppable: \[conv_2, drop_2\] \[\?, 4, 4, 8\]/);
});

void test('depth counts blocks with weights: a Dropout on the input is not one of them', async () => {
  // dropout_in → dense_1 16→64 → dense_2 64 → dense_3 64 → logits. Droppable by depth: [dense_2], [dense_3].
  const m = tf.sequential();
  m.add(tf.layers.dropout({ inputShape: [16], rate: 0.1, name: 'dropout_in' }));
  m.add(tf.layers.dense({ units: 64, activation: 'relu', name: 'dense_1' }));
  m.add(tf.layers.dense({ units: 64, activation: 'relu', name: 'dense_2' }));
  m.add(tf.layers.dense({ units: 64, activation: 'relu', name: 'dense_3' }));
  m.add(tf.layers.dense({ units: 4, name: 'logits' }));
  const shallow = await derive(m, D({ depth: 0.25 }));
  assert.deepEqual(shallow.arch.depth?.droppable, [['dense_2'], ['dense_3']]);
  // depth 0.25 keeps round(2 × 0.25) = round(0.5) = 1 of the two: the last of the run goes.
  assert.deepEqual(shallow.arch.dropped, [{ layers: ['dense_3'], shape: [null, 64] }]);
  const none = await derive(m, D({ depth: 0.1 }));
  assert.deepEqual(none.names, ['dropout_in', 'dense_1', 'logits']);
  // Named in "drop", the Dropout is removed.
  const named = await derive(m, D({ drop: ['dropout_in'] }));
  assert.deepEqual(named.names, ['dense_1', 'dense_2', 'dense_3', 'logits']);
});

/**
 * `depth` on the residual CNN of issue 21 (a pre-trained model.json teacher): `check` reports, located
 * at student.derive.depth, when the rounding drops fewer blocks than asked; `inspect` and the run's
 * derivation.json say the same, with the droppable blocks.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { checkExperiment } from '../../src/engine/check';
import { inspectTarget } from '../../src/engine/inspect';
import { runExperiment } from '../../src/engine/run';
import { initBackend } from '../../src/engine/backend';
import { saveLayersModel } from '../../src/engine/models/fileIO';
import { tempDir, writeExperiment } from '../helpers/experiments';

before(async () => {
  await initBackend('wasm');
});

/** in [8, 8, 1] → stem → pool_1 → 2 × [conv1, conv2, Add(skip), relu] → pool_2 → flatten → dense → logits 4. */
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

async function experiment(derive: Record<string, unknown>): Promise<string> {
  const dir = tempDir();
  const model = residualCnn();
  await saveLayersModel(model, path.join(dir, 'teacher'));
  model.dispose();
  return writeExperiment(dir, {
    name: 'rescnn', seeds: [1],
    data: {
      train: { format: 'synthetic', kind: 'images', samples: 64, classes: 4, shape: [8, 8, 1], seed: 1 },
      test: { format: 'synthetic', kind: 'images', samples: 32, classes: 4, shape: [8, 8, 1], seed: 2 },
    },
    teacher: { model: 'teacher/model.json' },
    student: { derive },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    baseline: false,
  });
}

void test('depth 0.5 on the residual CNN drops its last residual block: no problem, derivation.json lists it', async () => {
  const file = await experiment({ width: 1, depth: 0.5 });
  assert.deepEqual(await checkExperiment(file, 'wasm'), []);
  const text = await inspectTarget(file, 'wasm');
  assert.match(text, /dropped \[res2_conv1, res2_conv2, res2_add, res2_relu\]/);
  assert.doesNotMatch(text, /warning/);
  const r = await runExperiment({ experiment: file, backend: 'wasm' });
  assert.equal(r.status, 'completed', r.error);
  const d = JSON.parse(fs.readFileSync(path.join(r.runDir, 'student-architecture', 'derivation.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(d.dropped, [{ layers: ['res2_conv1', 'res2_conv2', 'res2_add', 'res2_relu'], shape: [null, 4, 4, 4] }]);
  assert.deepEqual(d.warnings, []);
});

void test('depth that drops fewer blocks than asked: a located warning from check, a line in inspect, warnings in derivation.json', async () => {
  const file = await experiment({ width: 1, depth: 0.5, drop: ['res1_conv1'] });
  const problems = await checkExperiment(file, 'wasm');
  assert.equal(problems.length, 1, JSON.stringify(problems));
  const [p] = problems;
  assert.equal(p.severity, 'warning');
  assert.deepEqual(p.path, ['student', 'derive', 'depth']);
  const text = fs.readFileSync(file, 'utf8');
  const line = text.split('\n').findIndex((l) => l.includes('"depth"')) + 1;
  assert.equal(p.location.line, line);
  assert.match(p.message, /drops 0 \(nothing\) where it asks for 0\.5; droppable: \[res2_conv1, res2_conv2, res2_add, res2_relu\]/);
  assert.match(await inspectTarget(file, 'wasm'), /warning: depth 0\.5 keeps round\(1 × 0\.5\) = 1 of the 1 droppable block/);
  const r = await runExperiment({ experiment: file, backend: 'wasm' });
  assert.equal(r.status, 'completed', r.error);
  const d = JSON.parse(fs.readFileSync(path.join(r.runDir, 'student-architecture', 'derivation.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(d.depth, { depth: 0.5, droppable: [['res2_conv1', 'res2_conv2', 'res2_add', 'res2_relu']], asked: 0.5, dropped: 0 });
  assert.equal((d.warnings as string[]).length, 1);
});

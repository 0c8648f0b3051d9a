/**
 * The engine's probe for the panels on a real (tiny) run: layers with parameters, a pair check,
 * suggestions, and the feature maps of a checkpoint / sample / pair (student after its trained
 * adapter) with similarity figures.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerProbe } from '../../src/engine/probe';
import type { FeatureMapsAnswer, FeatureMapsInitAnswer, LayersAnswer, PairCheckAnswer, SuggestAnswer } from '../../src/protocol/engine';
import { runExperiment } from '../../src/engine/run';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

test('probe: layers, pair check, suggestions and feature maps of a run', { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    name: 'probe',
    data: {
      train: { format: 'synthetic', kind: 'images', samples: 128, classes: 3, shape: [8, 8, 1], seed: 1 },
      test: { format: 'synthetic', kind: 'images', samples: 32, classes: 3, shape: [8, 8, 1], seed: 2 },
      normalize: 'none',
    },
    teacher: { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [8, 8], dense: 16, classes: 3 } },
    student: { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [4, 4], dense: 8, classes: 3 } },
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 0.5 },
      { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'conv_1', student: 'conv_1' }] },
    ],
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
    baseline: false,
    backend: 'cpu',
  }));
  const layers = await answerProbe({ kind: 'layers', experimentFile: file, backend: 'cpu' }) as LayersAnswer;
  assert.deepEqual(layers.teacher.map((l) => l.name), ['conv_1', 'pool_1', 'conv_2', 'pool_2', 'flatten', 'dense_1', 'logits']);
  assert.equal(layers.teacher[0].params, 3 * 3 * 1 * 8 + 8);
  assert.deepEqual(layers.links, [{ entry: 1, pair: 0, method: 'fitnet', teacher: 'conv_1', student: 'conv_1', adapter: 'conv1x1 4→8', adapterShape: [null, 8, 8, 8] }]);
  const ok = await answerProbe({ kind: 'checkPair', method: 'at', teacher: 'conv_1', student: 'pool_1', teacherShape: [null, 8, 8, 8], studentShape: [null, 4, 4, 4] }) as PairCheckAnswer;
  assert.deepEqual(ok, { ok: true, adapter: 'upsample 2×2', outputShape: [null, 8, 8, 4] });
  const no = await answerProbe({ kind: 'checkPair', method: 'at', teacher: 'dense_1', student: 'dense_1', teacherShape: [null, 16], studentShape: [null, 8] }) as PairCheckAnswer;
  assert.ok(!no.ok && /rank 4/.test(no.reason));
  const sug = await answerProbe({ kind: 'suggest', experimentFile: file }) as SuggestAnswer;
  assert.ok(sug.suggestions.length > 0 && sug.suggestions.every((s) => s.reason.length > 0));

  const run = await runExperiment({ experiment: file, backend: 'cpu' });
  assert.equal(run.status, 'completed');
  const init = await answerProbe({ kind: 'featureMapsInit', runDir: run.runDir }) as FeatureMapsInitAnswer;
  assert.deepEqual(init.checkpoints.map((c) => c.id), ['distill-s1/epoch-0001']);
  assert.deepEqual(init.pairs, [{ id: '1:0', label: 'fitnet: conv_1 ↔ conv_1' }]);
  assert.equal(init.samples.length, 16);
  assert.equal(init.samples[0].pixels.length, 64);
  const fm = await answerProbe({ kind: 'featureMaps', runDir: run.runDir, checkpoint: 'distill-s1/epoch-0001', sample: 2, entry: 1, pair: 0 }) as FeatureMapsAnswer;
  assert.equal(fm.adapter, 'conv1x1 4→8');
  assert.deepEqual(fm.teacherShape, [null, 8, 8, 8]);
  assert.deepEqual(fm.studentShape, [null, 8, 8, 8], 'the student after its adapter');
  assert.equal(fm.teacher.channels.length, 8);
  assert.equal(fm.student.channels[0].length, 64);
  assert.equal(fm.difference?.channels.length, 8);
  assert.equal(fm.batch, 32);
  assert.ok(fm.cka! > 0 && fm.cka! <= 1 + 1e-9, `cka ${fm.cka}`);
  assert.ok(fm.cosine! >= -1 && fm.cosine! <= 1 && fm.mse! >= 0);
  assert.equal(fm.attentionTeacher?.channels[0].length, 64);
});

/** Pair suggestions on real layer lists: CNN→CNN (resolutions), CNN→MLP, MLP→MLP. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { suggestPairs, stages } from '../../src/engine/knowledge/suggest';
import { layerInfos } from '../../src/engine/models/taps';
import { cnn, mlp } from '../../examples/models';

before(async () => {
  await tf.setBackend('cpu');
});

test('CNN teacher → smaller CNN student: one pair per resolution, AT where resolutions match', () => {
  const t = cnn(tf, { filters: [32, 64], dense: 128 });
  const s = cnn(tf, { filters: [8, 16], dense: 32 });
  assert.deepEqual(stages(layerInfos(t)).map((x) => x.name), ['conv_1', 'conv_2', 'pool_2', 'dense_1']);
  const got = suggestPairs(layerInfos(t), layerInfos(s));
  assert.deepEqual(got.map((p) => [p.teacher, p.student, p.method, p.adapter]), [
    ['conv_1', 'conv_1', 'at', 'none'],
    ['conv_2', 'conv_2', 'at', 'none'],
    ['pool_2', 'pool_2', 'at', 'none'],
    ['dense_1', 'dense_1', 'fitnet', 'dense 32→128'],
  ]);
  assert.match(got[1].reason, /^same resolution 14×14, relative depth: teacher 0\.\d\d vs student 0\.\d\d; attention transfer compares spatial maps, so the teacher's 64 vs the student's 16 channels need no adapter$/);
  assert.match(got[3].reason, /FitNets hint through a dense 32→128 adapter/);
  t.dispose();
  s.dispose();
});

test('different resolutions: pooled FitNets hint with the adapter it needs', () => {
  const t = cnn(tf, { filters: [8, 8], dense: 16 });
  const s = tf.sequential();
  s.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'c1' }));
  s.add(tf.layers.flatten({ name: 'f' }));
  s.add(tf.layers.dense({ units: 10, name: 'out' }));
  const got = suggestPairs(layerInfos(t), layerInfos(s));
  assert.equal(got.length, 1);
  assert.equal(got[0].student, 'c1');
  assert.equal(got[0].teacher, 'conv_2', 'the teacher stage at 14×14 (same resolution) wins');
  assert.equal(got[0].method, 'at');
  t.dispose();
  s.dispose();
});

test('MLP → MLP: the last hidden vectors, with a dense adapter', () => {
  const t = mlp(tf, { hidden: [64, 64] });
  const s = mlp(tf, { hidden: [16] });
  const got = suggestPairs(layerInfos(t), layerInfos(s));
  assert.deepEqual(got.map((p) => [p.teacher, p.student, p.adapter]), [['dense_2', 'dense_1', 'dense 16→64']]);
  t.dispose();
  s.dispose();
});

test('a student without hidden layers gets no suggestion', () => {
  const t = mlp(tf, { hidden: [8] });
  const s = mlp(tf, { hidden: [] });
  assert.deepEqual(suggestPairs(layerInfos(t), layerInfos(s)), []);
  t.dispose();
  s.dispose();
});

/** Suggestions for the methods of issue 17 whose layer needs are not one pair per stage: reviewkd's stages, crd's one pair. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { suggestEntries } from '../../src/engine/knowledge/suggest';
import { buildTerms, disposeTerms } from '../../src/engine/knowledge/terms';
import { layerInfos } from '../../src/engine/models/taps';
import type { ExperimentConfig } from '../../src/config/types';
import { cnn, mlp } from '../../examples/models';
import { addPairEdit } from '../../src/host/panels/pairEdit';

before(async () => {
  await tf.setBackend('cpu');
});

test('CNN → CNN: reviewkd gets the convolutional stages shallow to deep, crd the last hidden vectors; both build', () => {
  const t = cnn(tf, { filters: [32, 64], dense: 128 });
  const s = cnn(tf, { filters: [8, 16], dense: 32 });
  const got = suggestEntries(layerInfos(t), layerInfos(s));
  assert.deepEqual(got.map((e) => [e.method, e.pairs.map((p) => `${p.teacher}→${p.student}`)]), [
    ['reviewkd', ['conv_1→conv_1', 'conv_2→conv_2', 'pool_2→pool_2']],
    ['crd', ['dense_1→dense_1']],
  ]);
  assert.match(got[0].reason, /3 convolutional stages, shallow to deep \(28×28 → 14×14 → 7×7\)/);
  // what is suggested is accepted by the engine as it is
  const config = {
    knowledge: got.map((e) => ({ kind: e.kind, method: e.method, weight: 1, schedule: { kind: 'constant' }, midChannels: 8, embedding: 8, negatives: 4, temperature: 0.07, momentum: 0.5, maxMemoryMB: 256,
      pairs: e.pairs.map((p) => ({ ...p, adapter: 'auto' })) })),
    labels: { weight: 1 },
  } as unknown as ExperimentConfig;
  const terms = buildTerms(config, 'distill', { teacher: t, student: s }, { trainLabels: Int32Array.from({ length: 20 }, (_, i) => i % 10) });
  assert.deepEqual(terms.map((x) => x.name), ['reviewkd', 'crd', 'labels']);
  disposeTerms(terms);
  t.dispose();
  s.dispose();
});

test('MLP → MLP: no convolutional stages for reviewkd; crd on the last hidden vectors', () => {
  const t = mlp(tf, { hidden: [64, 64] });
  const s = mlp(tf, { hidden: [16] });
  assert.deepEqual(suggestEntries(layerInfos(t), layerInfos(s)).map((e) => [e.method, e.pairs]), [['crd', [{ teacher: 'dense_2', student: 'dense_1' }]]]);
  t.dispose();
  s.dispose();
});

test('the pairing edit: a crd pair is an entry of its own (crd takes one pair); reviewkd stages go into one entry, in order', () => {
  const text = '{ "knowledge": [{ "kind": "relation", "method": "crd", "weight": 1, "pairs": [{ "teacher": "a", "student": "b" }] }] }';
  const crd = addPairEdit(text, 'crd', 'c', 'd');
  assert.ok(crd.ok);
  const ks = (JSON.parse(crd.text) as { knowledge: { method: string; pairs: unknown[] }[] }).knowledge;
  assert.deepEqual(ks.map((k) => [k.method, k.pairs.length]), [['crd', 1], ['crd', 1]]);
  assert.deepEqual(addPairEdit(text, 'crd', 'a', 'b'), { ok: false, reason: 'crd already pairs teacher "a" with student "b"' });
  const r1 = addPairEdit('{ "knowledge": [] }', 'reviewkd', 'conv_1', 'conv_1');
  assert.ok(r1.ok);
  const r2 = addPairEdit(r1.text, 'reviewkd', 'conv_2', 'conv_2');
  assert.ok(r2.ok);
  assert.deepEqual((JSON.parse(r2.text) as { knowledge: { kind: string; method: string; pairs: { teacher: string }[] }[] }).knowledge
    .map((k) => [k.kind, k.method, k.pairs.map((p) => p.teacher)]), [['feature', 'reviewkd', ['conv_1', 'conv_2']]]);
});

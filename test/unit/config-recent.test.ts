/**
 * The experiment file's rules for the methods of issue 17: defaults filled, misuse reported at
 * the field with the fix (file:line:col), as test/unit/config.test.ts does for the older methods.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, parseExperimentText } from '../../src/config/parse';

const FILE = 'exp.distill.json';

/** An experiment whose knowledge entry is on line 9 and whose batch size is `batch`. */
function experiment(entry: string, batch = 32): string {
  return [
    /*  1 */ '{',
    /*  2 */ '  "name": "demo",',
    /*  3 */ '  "data": { "train": { "format": "mnist", "split": "train" }, "test": { "format": "mnist", "split": "test" } },',
    /*  4 */ '  "teacher": { "model": "teacher/model.json" },',
    /*  5 */ '  "student": { "module": "models.ts", "export": "student" },',
    /*  6 */ '  "labels": { "weight": 0.1 },',
    /*  7 */ `  "training": { "epochs": 3, "batchSize": ${batch}, "optimizer": { "kind": "adam", "learningRate": 0.001 } },`,
    /*  8 */ '  "knowledge": [',
    /*  9 */ `    ${entry}`,
    /* 10 */ '  ]',
    /* 11 */ '}',
  ].join('\n');
}

function parsed(text: string) {
  const { config, errors } = parseExperimentText(text, FILE);
  return { config, messages: errors.map(formatConfigError) };
}

test('dist and standardize: defaults filled; standardize is accepted on kd, dkd, multi-kd and dist only', () => {
  const dist = parsed(experiment('{ "kind": "response", "method": "dist", "weight": 1 }'));
  assert.deepEqual(dist.messages, []);
  assert.deepEqual(dist.config?.knowledge[0], { kind: 'response', method: 'dist', weight: 1, temperature: 1, beta: 1, gamma: 1, schedule: { kind: 'constant' } });
  const kd = parsed(experiment('{ "kind": "response", "method": "kd", "temperature": 2, "standardize": true, "weight": 9 }'));
  assert.deepEqual(kd.messages, []);
  assert.equal((kd.config?.knowledge[0] as { standardize?: boolean }).standardize, true);
  const dkd = parsed(experiment('{ "kind": "response", "method": "dkd", "standardize": true, "weight": 1 }'));
  assert.deepEqual(dkd.messages, []);
  const wrong = parsed(experiment('{ "kind": "response", "method": "dist", "standardize": "yes", "weight": 1 }'));
  assert.equal(wrong.config, undefined);
  assert.ok(wrong.messages.some((m) => m.startsWith(`${FILE}:9:`) && m.includes('knowledge[0].standardize')), wrong.messages.join('\n'));
});

test('dist with batches of one sample: a warning at gamma naming the fix', () => {
  const r = parsed(experiment('{ "kind": "response", "method": "dist", "weight": 1 }', 1));
  assert.ok(r.config, r.messages.join('\n'));
  assert.equal(r.messages.length, 1, r.messages.join('\n'));
  assert.match(r.messages[0], /^exp\.distill\.json:9:\d+  warning: knowledge\[0\]\.gamma: dist: the intra-class relation .*"training\.batchSize" is 1.*set "gamma" to 0/);
});

test('ctkd: defaults filled; a starting temperature outside the span is an error with the fix; a long curriculum warns', () => {
  const ok = parsed(experiment('{ "kind": "response", "method": "ctkd", "weight": 1 }'));
  // the default curriculum (10 epochs) is longer than this training (3 epochs): a warning, not an error
  assert.deepEqual(ok.messages, [
    `${FILE}:9:5  warning: knowledge[0].reversalEpochs: the reversal curriculum (10 epochs) is longer than the training ("training.epochs": 3): the temperature never meets its full reversal weight (maxReversal)`,
  ]);
  assert.deepEqual(ok.config?.knowledge[0], { kind: 'response', method: 'ctkd', weight: 1, minTemperature: 1, temperatureRange: 20, maxReversal: 1, reversalEpochs: 10, schedule: { kind: 'constant' } });
  const outside = parsed(experiment('{ "kind": "response", "method": "ctkd", "initialTemperature": 25, "reversalEpochs": 2, "weight": 1 }'));
  assert.equal(outside.config, undefined);
  assert.deepEqual(outside.messages.map((m) => m.replace(/:\d+:\d+/, ':L:C')), [
    `${FILE}:L:C  knowledge[0].initialTemperature: ctkd: the temperature spans minTemperature 1 … minTemperature + temperatureRange 21 (exclusive): give an initialTemperature inside it, or widen "temperatureRange"`,
  ]);
  assert.match(outside.messages[0], /^exp\.distill\.json:9:/);
});

test('crd takes exactly one pair; reviewkd with a single stage warns, with the fix', () => {
  const two = parsed(experiment('{ "kind": "relation", "method": "crd", "weight": 1, "pairs": [{ "teacher": "a", "student": "b" }, { "teacher": "c", "student": "d" }] }'));
  assert.equal(two.config, undefined);
  assert.ok(two.messages.some((m) => m.startsWith(`${FILE}:9:`) && m.includes('knowledge[0].pairs')), two.messages.join('\n'));
  const crd = parsed(experiment('{ "kind": "relation", "method": "crd", "weight": 1, "pairs": [{ "teacher": "a", "student": "b" }] }'));
  assert.deepEqual(crd.messages, []);
  assert.deepEqual(crd.config?.knowledge[0], { kind: 'relation', method: 'crd', weight: 1, pairs: [{ teacher: 'a', student: 'b', adapter: 'auto' }], embedding: 128, negatives: 1024, temperature: 0.07, momentum: 0.5, maxMemoryMB: 256, schedule: { kind: 'constant' } });
  const one = parsed(experiment('{ "kind": "feature", "method": "reviewkd", "weight": 1, "pairs": [{ "teacher": "a", "student": "b" }] }'));
  assert.ok(one.config);
  assert.deepEqual(one.messages.map((m) => m.replace(/:\d+:\d+/, ':L:C')), [
    `${FILE}:L:C  warning: knowledge[0].pairs: reviewkd with one stage has nothing to review (no deeper stage to fuse): it is then a 3×3-convolution hint; list several stages, shallowest first, or use "fitnet"`,
  ]);
  const two2 = parsed(experiment('{ "kind": "feature", "method": "reviewkd", "weight": 1, "pairs": [{ "teacher": "a", "student": "b" }, { "teacher": "c", "student": "d" }] }'));
  assert.deepEqual(two2.messages, []);
  assert.equal((two2.config?.knowledge[0] as { midChannels?: number }).midChannels, 64);
});

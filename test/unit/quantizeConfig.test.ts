/**
 * issue 18: `student.quantize` in the experiment file — defaults filled (bits 8, aware false,
 * activations false) in every student form, bits only 8 or 4, `activations` needs `aware`, `aware`
 * only with schemes offline, born-again and ta-chain, and `quantize` only on the student — each
 * problem located at its field; and the qat jobs planned after each seed's distilled student.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, parseExperimentText } from '../../src/config/parse';
import { planJobs } from '../../src/engine/training/jobs';

const FILE = 'exp.distill.json';

function experiment(student: string, scheme = '{ "kind": "offline" }', teacher = '{ "model": "teacher/model.json" }'): string {
  return [
    /*  1 */ '{',
    /*  2 */ '  "name": "demo",',
    /*  3 */ '  "data": { "train": { "format": "mnist", "split": "train" }, "test": { "format": "mnist", "split": "test" } },',
    /*  4 */ `  "teacher": ${teacher},`,
    /*  5 */ `  "student": ${student},`,
    /*  6 */ `  "scheme": ${scheme},`,
    /*  7 */ '  "seeds": [1, 2],',
    /*  8 */ '  "training": { "epochs": 3, "batchSize": 32, "optimizer": { "kind": "adam", "learningRate": 0.001 } },',
    /*  9 */ '  "knowledge": [{ "kind": "response", "method": "kd", "temperature": 4, "weight": 1 }]',
    /* 10 */ '}',
  ].join('\n');
}

function parsed(text: string) {
  const { config, errors } = parseExperimentText(text, FILE);
  return { config, messages: errors.map(formatConfigError) };
}

test('student.quantize: defaults in every student form; bits 8 or 4', () => {
  for (const form of ['"module": "models.ts", "export": "student"', '"model": "s/model.json"', '"derive": { "width": 0.5 }']) {
    const p = parsed(experiment(`{ ${form}, "quantize": {} }`));
    assert.deepEqual(p.messages, [], form);
    assert.deepEqual(p.config?.student.quantize, { bits: 8, aware: false, activations: false }, form);
  }
  const four = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "bits": 4, "aware": true, "activations": true } }'));
  assert.deepEqual(four.messages, []);
  assert.deepEqual(four.config?.student.quantize, { bits: 4, aware: true, activations: true });
  const none = parsed(experiment('{ "module": "models.ts", "export": "student" }'));
  assert.equal(none.config?.student.quantize, undefined);
  const bad = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "bits": 2 } }'));
  assert.equal(bad.messages.length, 1);
  assert.match(bad.messages[0], /^exp\.distill\.json:5:\d+\s+.*student\.quantize\.bits.*8.*4/);
  const typo = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "awre": true } }'));
  assert.match(typo.messages.join('\n'), /aware/);
});

test('activations needs aware; aware only with offline, born-again, ta-chain; quantize only on the student', () => {
  const acts = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "activations": true } }'));
  assert.equal(acts.messages.length, 1);
  assert.match(acts.messages[0], /^exp\.distill\.json:5:\d+\s+.*student\.quantize\.activations.*"aware": true/);
  for (const scheme of ['{ "kind": "online" }', '{ "kind": "self", "heads": [{ "layer": "conv_1" }] }']) {
    const p = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "aware": true } }', scheme,
      scheme.includes('online') ? '{ "module": "models.ts", "export": "teacher" }' : '{ "model": "teacher/model.json" }'));
    const mine = p.messages.filter((m) => m.includes('quantize'));
    assert.equal(mine.length, 1, `${scheme}: ${p.messages.join('\n')}`);
    assert.match(mine[0], /student\.quantize\.aware.*scheme "(online|self)".*"offline", "born-again", "ta-chain"/);
  }
  for (const scheme of ['{ "kind": "born-again", "generations": 2 }', '{ "kind": "ta-chain", "assistants": [{ "module": "models.ts", "export": "ta" }] }']) {
    const p = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "aware": true } }', scheme));
    assert.deepEqual(p.messages, [], scheme);
  }
  const teacher = parsed(experiment('{ "module": "models.ts", "export": "student" }', '{ "kind": "offline" }', '{ "model": "t/model.json", "quantize": {} }'));
  assert.equal(teacher.messages.length, 1);
  assert.match(teacher.messages[0], /^exp\.distill\.json:4:\d+\s+.*teacher\.quantize.*student only/);
});

test('planning: qat-s<seed> after each seed\'s distilled student, same teacher, final false', () => {
  const off = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "bits": 4, "aware": true } }')).config!;
  const jobs = planJobs(off);
  assert.deepEqual(Object.keys(jobs), ['scratch-s1', 'distill-s1', 'qat-s1', 'scratch-s2', 'distill-s2', 'qat-s2']);
  assert.deepEqual(jobs['qat-s2'], { kind: 'distill', seed: 2, model: 'student', teacher: 'teacher', final: false,
    quantize: { bits: 4, activations: false }, status: 'pending', epochs: 3, completedEpochs: 0 });
  const ba = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "aware": true, "activations": true } }', '{ "kind": "born-again", "generations": 2 }')).config!;
  const bj = planJobs(ba);
  assert.deepEqual(Object.keys(bj), ['scratch-s1', 'born-g1-s1', 'born-g2-s1', 'qat-s1', 'scratch-s2', 'born-g1-s2', 'born-g2-s2', 'qat-s2']);
  assert.equal(bj['qat-s1'].teacher, 'born-g1-s1');
  assert.deepEqual(bj['qat-s1'].quantize, { bits: 8, activations: true });
  const ta = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "aware": true } }', '{ "kind": "ta-chain", "assistants": [{ "module": "models.ts", "export": "ta" }] }')).config!;
  assert.equal(planJobs(ta)['qat-s1'].teacher, 'ta1-s1');
  const plain = parsed(experiment('{ "module": "models.ts", "export": "student", "quantize": { "bits": 4 } }')).config!;
  assert.deepEqual(Object.keys(planJobs(plain)), ['scratch-s1', 'distill-s1', 'scratch-s2', 'distill-s2']);
});

test('aware is refused in a data-free run (no qat job is planned on synthesised inputs); post-training quantize is not', () => {
  const dataFree = (quantize: string) => experiment(`{ "module": "models.ts", "export": "student", "quantize": ${quantize} }`)
    .replace('"train": { "format": "mnist", "split": "train" }', '"train": { "format": "teacher-synthesized", "samples": 256 }');
  const aware = parsed(dataFree('{ "bits": 4, "aware": true }'));
  const mine = aware.messages.filter((m) => m.includes('quantize'));
  assert.equal(mine.length, 1, aware.messages.join('\n'));
  assert.match(mine[0], /^exp\.distill\.json:5:\d+\s+.*student\.quantize\.aware.*data-free/);
  const ptq = parsed(dataFree('{ "bits": 4 }'));
  assert.deepEqual(ptq.messages.filter((m) => m.includes('quantize')), []);
});

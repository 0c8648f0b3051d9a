/**
 * `"distributed": { "processes": N }` (issue 15, data-parallel torch runs): accepted with the torch
 * engine, refused with tfjs at the field, a malformed count refused by the schema, and a global
 * batch that the processes cannot share evenly refused at `training.batchSize` (and at
 * `teacher.train.batchSize`) — each one located problem saying the fix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatConfigError, parseExperimentText } from '../../src/config/parse';

const FILE = 'exp.distill.json';

function experiment(engine: 'torch' | 'tfjs', extra: string, batch = 32, teacherTrain = ''): string {
  const models = engine === 'torch'
    ? `  "teacher": { "module": "models.py", "export": "teacher"${teacherTrain} },\n  "student": { "module": "models.py", "export": "student" },`
    : `  "teacher": { "model": "teacher/model.json"${teacherTrain} },\n  "student": { "module": "models.ts", "export": "student" },`;
  return [
    '{',
    '  "name": "ddp",',
    engine === 'torch' ? '  "engine": "torch",' : '',
    `  ${extra}`,
    '  "data": { "train": { "format": "mnist", "split": "train" }, "test": { "format": "mnist", "split": "test" } },',
    models,
    '  "knowledge": [{ "kind": "response", "method": "kd", "temperature": 4, "weight": 1 }],',
    `  "training": { "epochs": 1, "batchSize": ${batch}, "optimizer": { "kind": "adam", "learningRate": 0.001 } }`,
    '}',
  ].filter(Boolean).join('\n');
}

function problems(text: string): string[] {
  return parseExperimentText(text, FILE).errors.map(formatConfigError);
}

/** The 1-based line:column of `needle` in `text`. */
function at(text: string, needle: string): string {
  const offset = text.indexOf(needle);
  assert.ok(offset >= 0, `${needle} in the text`);
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

test('torch: distributed.processes is accepted and kept', () => {
  const { config, errors } = parseExperimentText(experiment('torch', '"distributed": { "processes": 2 },'), FILE);
  assert.deepEqual(errors.map(formatConfigError), []);
  assert.deepEqual(config!.distributed, { processes: 2 });
  assert.equal(parseExperimentText(experiment('torch', ''), FILE).config!.distributed, undefined);
});

test('torch: an adversarial entry is accepted in a data-parallel run (D synchronises over the processes)', () => {
  const kd = '"knowledge": [{ "kind": "response", "method": "kd", "temperature": 4, "weight": 1 }],';
  const adversarial = '"knowledge": [{ "kind": "response", "method": "kd", "temperature": 4, "weight": 1 }, { "kind": "adversarial", "method": "adversarial", "weight": 0.1 }],';
  const text = experiment('torch', '"distributed": { "processes": 2 },').replace(kd, adversarial);
  assert.notEqual(text, experiment('torch', '"distributed": { "processes": 2 },'));
  const { config, errors } = parseExperimentText(text, FILE);
  assert.deepEqual(errors.map(formatConfigError), []);
  assert.equal(config!.knowledge[1].kind, 'adversarial');
  assert.deepEqual(config!.distributed, { processes: 2 });
});

test('tfjs: "distributed" is refused at the field, saying to set the torch engine', () => {
  const text = experiment('tfjs', '"distributed": { "processes": 2 },');
  const p = problems(text);
  assert.equal(p.length, 1, p.join('\n'));
  assert.match(p[0], new RegExp(`^${FILE}:${at(text, '{ "processes": 2 }')}`));
  assert.match(p[0], /read by the torch engine only: set "engine": "torch"/);
});

test('a malformed process count is refused by the schema', () => {
  for (const bad of ['{ "processes": 0 }', '{ "processes": 1.5 }', '{ "procs": 2 }', '2']) {
    const p = problems(experiment('torch', `"distributed": ${bad},`));
    assert.ok(p.length >= 1, `${bad}: refused`);
    assert.ok(p.every((m) => m.includes('distributed')), `${bad}: ${p.join('\n')}`);
  }
});

test('the global batch must divide evenly among the processes: refused at the batchSize', () => {
  const text = experiment('torch', '"distributed": { "processes": 3 },', 32);
  const p = problems(text);
  assert.equal(p.length, 1, p.join('\n'));
  assert.match(p[0], new RegExp(`^${FILE}:${at(text, '32, "optimizer"')}`));
  assert.match(p[0], /batchSize 32 is the global batch of 3 processes .* use a multiple of 3/);
  assert.deepEqual(problems(experiment('torch', '"distributed": { "processes": 4 },', 32)), []);
  const teacher = experiment('torch', '"distributed": { "processes": 2 },', 32,
    ', "train": { "epochs": 1, "batchSize": 7, "optimizer": { "kind": "adam", "learningRate": 0.001 } }');
  const q = problems(teacher);
  assert.equal(q.length, 1, q.join('\n'));
  assert.match(q[0], new RegExp(`^${FILE}:${at(teacher, '7, "optimizer"')}`));
  assert.match(q[0], /batchSize 7 is the global batch of 2 processes/);
});

test('the start request carries --processes as a whole number ≥ 1', async () => {
  const { isHostToEngine } = await import('../../src/protocol/engine');
  assert.equal(isHostToEngine({ type: 'start', experiment: '/x.distill.json', processes: 2 }), true);
  assert.equal(isHostToEngine({ type: 'start', experiment: '/x.distill.json' }), true);
  for (const bad of [0, 1.5, '2', -1]) {
    assert.equal(isHostToEngine({ type: 'start', experiment: '/x.distill.json', processes: bad }), false, String(bad));
  }
});

/** The experiment file's new data fields (issue 16): valid sources, defaults, located errors, file checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatConfigError, loadExperiment, parseExperimentText } from '../../src/config/parse';

const FILE = 'exp.distill.json';
const experiment = (data: string): string => [
  '{',
  '  "name": "own-data",',
  `  "data": ${data},`,
  '  "teacher": { "model": "t/model.json" },',
  '  "student": { "module": "models.ts", "export": "mlp" },',
  '  "knowledge": [{ "kind": "response", "method": "kd", "temperature": 4, "weight": 1 }],',
  '  "training": { "epochs": 1, "batchSize": 8, "optimizer": { "kind": "adam", "learningRate": 0.001 } }',
  '}',
].join('\n');

test('images, cifar10, cifar100, npy and npz sources validate, with their defaults', () => {
  const data = `{
    "train": { "format": "images", "path": "data/train", "size": [32, 32] },
    "test": { "format": "npz", "path": "test.npz" },
    "augment": { "crop": 4, "flip": true }
  }`;
  const r = parseExperimentText(experiment(data), FILE);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.data.train, { format: 'images', path: 'data/train', size: [32, 32], channels: 3 });
  assert.deepEqual(r.config!.data.test, { format: 'npz', path: 'test.npz', inputs: 'x', labels: 'y' });
  assert.equal(r.config!.data.memoryMB, undefined, 'not written: the engine uses 1024 (no default filled, so existing configs resolve as before)');
  assert.deepEqual(r.config!.data.augment, { crop: 4, flip: true, jobs: 'all' });
  for (const src of ['{ "format": "cifar10", "path": "c", "split": "train" }', '{ "format": "cifar100", "path": "c/train.bin", "labels": "coarse" }',
    '{ "format": "npy", "inputs": "x.npy", "labels": "y.npy", "limit": 10 }']) {
    const e = parseExperimentText(experiment(`{ "train": ${src}, "test": ${src} }`), FILE).errors;
    assert.deepEqual(e, [], src);
  }
});

test('bad values of the new fields are located errors', () => {
  const cases: [string, RegExp][] = [
    ['{ "train": { "format": "images", "path": "d", "channels": 2 }, "test": { "format": "mnist", "split": "test" } }', /:3:\d+  data\.train\.channels: expected one of 1, 3, found 2/],
    ['{ "train": { "format": "images", "path": "d", "size": [32] }, "test": { "format": "mnist", "split": "test" } }', /:3:\d+  data\.train\.size: /],
    ['{ "train": { "format": "cifar100", "path": "d", "labels": "medium" }, "test": { "format": "mnist", "split": "test" } }', /:3:\d+  data\.train\.labels: expected .*"fine".*"coarse".*, found "medium"/],
    ['{ "train": { "format": "npy", "inputs": "x.npy" }, "test": { "format": "mnist", "split": "test" } }', /data\.train: missing required field "labels"/],
    ['{ "train": { "format": "mnist", "split": "train" }, "test": { "format": "mnist", "split": "test" }, "memoryMB": 0 }', /data\.memoryMB: expected a number > 0, found 0/],
    ['{ "train": { "format": "mnist", "split": "train" }, "test": { "format": "mnist", "split": "test" }, "augment": { "crop": -1 } }', /data\.augment\.crop: /],
  ];
  for (const [data, want] of cases) {
    const errors = parseExperimentText(experiment(data), FILE).errors.map(formatConfigError);
    assert.ok(errors.some((e) => want.test(e)), `${data}\n→ ${errors.join('\n')}`);
  }
});

test('file checks: an image folder must be a folder; npy/npz/cifar paths must exist', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-owndata-'));
  fs.mkdirSync(path.join(dir, 't'));
  fs.writeFileSync(path.join(dir, 't', 'model.json'), '{}');
  fs.writeFileSync(path.join(dir, 'models.ts'), '');
  fs.writeFileSync(path.join(dir, 'file.png'), '');
  const file = path.join(dir, FILE);
  fs.writeFileSync(file, experiment(`{
    "train": { "format": "images", "path": "file.png" },
    "test": { "format": "npy", "inputs": "x.npy", "labels": "y.npy" }
  }`));
  const col = (needle: string) => `${fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle)) + 1}:` +
    `${fs.readFileSync(file, 'utf8').split('\n').find((l) => l.includes(needle))!.indexOf(needle) + 1}`;
  const errors = loadExperiment(file).errors.map(formatConfigError);
  assert.deepEqual(errors, [
    `${file}:${col('"file.png"')}  data.train.path: expected a folder with one subfolder per class, found a file: ${path.join(dir, 'file.png')}`,
    `${file}:${col('"x.npy"')}  data.test.inputs: file not found: ${path.join(dir, 'x.npy')}`,
    `${file}:${col('"y.npy"')}  data.test.labels: file not found: ${path.join(dir, 'y.npy')}`,
  ]);
  fs.writeFileSync(file, experiment(`{
    "train": { "format": "cifar10", "path": "nowhere", "split": "train" },
    "test": { "format": "images", "path": "missing" }
  }`));
  const e2 = loadExperiment(file).errors.map(formatConfigError);
  assert.deepEqual(e2, [
    `${file}:${col('"nowhere"')}  data.train.path: file or folder not found: ${path.join(dir, 'nowhere')}`,
    `${file}:${col('"missing"')}  data.test.path: folder not found: ${path.join(dir, 'missing')}`,
  ]);
});

test('augmenting vector data is a located error', () => {
  const data = `{
    "train": { "format": "synthetic", "kind": "vectors", "samples": 10, "classes": 2, "shape": [4], "seed": 1 },
    "test": { "format": "synthetic", "kind": "vectors", "samples": 10, "classes": 2, "shape": [4], "seed": 2 },
    "augment": { "flip": true }
  }`;
  const errors = parseExperimentText(experiment(data), FILE).errors.map(formatConfigError);
  assert.deepEqual(errors, [`${FILE}:6:26  data.augment.flip: augments images, but the training data are vectors (synthetic kind "vectors")`]);
});

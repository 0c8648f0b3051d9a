/**
 * The experiment file: parse, validate, locate, format.
 * Run: node --import tsx --test test/unit/config.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse as parseJsonc } from 'jsonc-parser';
import {
  checkFiles,
  ExperimentError,
  formatConfigError,
  loadExperiment,
  locate,
  parseExperimentText,
} from '../../src/config/parse';
import { closest, experimentSchema, SUPPORTED_KEYWORDS } from '../../src/config/validate';
import type { JsonSchema } from '../../src/config/validate';
import type { ConfigError } from '../../src/config/types';

const ROOT = path.resolve(__dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'config', 'valid.distill.json');
const FILE = 'exp.distill.json';

/** A valid experiment; the line numbers matter to the tests below. */
const BASE = [
  /*  1 */ '{',
  /*  2 */ '  "name": "demo",',
  /*  3 */ '  "data": {',
  /*  4 */ '    "train": { "format": "mnist", "split": "train" },',
  /*  5 */ '    "test": { "format": "mnist", "split": "test" }',
  /*  6 */ '  },',
  /*  7 */ '  "teacher": { "model": "teacher/model.json" },',
  /*  8 */ '  "student": { "module": "models.ts", "export": "student" },',
  /*  9 */ '  "knowledge": [',
  /* 10 */ '    { "kind": "response", "method": "kd", "temperature": 4, "weight": 0.9 }',
  /* 11 */ '  ],',
  /* 12 */ '  "labels": { "weight": 0.1 },',
  /* 13 */ '  "training": {',
  /* 14 */ '    "epochs": 3,',
  /* 15 */ '    "batchSize": 32,',
  /* 16 */ '    "optimizer": { "kind": "adam", "learningRate": 0.001 }',
  /* 17 */ '  }',
  /* 18 */ '}',
].join('\n');

/** BASE with each `[from, to]` replaced (each `from` must occur). */
function edit(...replacements: [string, string][]): string {
  let text = BASE;
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `BASE has no ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

function messages(text: string): string[] {
  const { config, errors } = parseExperimentText(text, FILE);
  if (errors.some((e) => e.severity === 'error')) assert.equal(config, undefined, 'no config when there are errors');
  return errors.map(formatConfigError);
}

// ---------------------------------------------------------------------------------------------
// Valid files

void test('the valid fixture parses, with defaults filled', () => {
  const text = fs.readFileSync(FIXTURE, 'utf8');
  const { config, errors } = parseExperimentText(text, FIXTURE);
  assert.deepEqual(errors, []);
  assert.deepEqual(config, {
    name: 'mnist-mlp',
    seeds: [1, 2, 3],
    data: {
      train: { format: 'mnist', split: 'train', limit: 2000 },
      test: { format: 'mnist', split: 'test' },
      validation: { fraction: 0.1 },
      normalize: 'scale',
      shuffleSeed: 0,
    },
    teacher: { model: 'models/teacher/model.json' },
    student: { module: 'models.ts', export: 'student', args: { hidden: 32 } },
    scheme: { kind: 'offline' },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 3, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.001 }, logEvery: 20 },
    baseline: true,
    backend: 'auto',
  });
});

void test('optional sections get their defaults', () => {
  const { config, errors } = parseExperimentText(edit(['  "labels": { "weight": 0.1 },\n', '']), FILE);
  assert.deepEqual(errors, []);
  assert.ok(config);
  assert.deepEqual(config.seeds, [1]);
  assert.equal(config.baseline, true);
  assert.equal(config.backend, 'auto');
  assert.deepEqual(config.scheme, { kind: 'offline' });
  assert.deepEqual(config.labels, { weight: 1 });
  assert.equal(config.data.normalize, 'scale');
  assert.equal(config.data.shuffleSeed, 0);
  assert.equal(config.training.logEvery, 20);
  assert.equal(config.data.validation, undefined);
});

void test('nested training configs, synthetic data and the momentum optimizer get their defaults', () => {
  const text = edit(
    ['"format": "mnist", "split": "train"', '"format": "synthetic", "kind": "vectors", "samples": 100, "classes": 3, "shape": [4], "seed": 7'],
    [
      '"teacher": { "model": "teacher/model.json" }',
      '"teacher": { "module": "models.ts", "export": "teacher", "train": { "epochs": 1, "batchSize": 8, "optimizer": { "kind": "momentum", "learningRate": 0.1 } } }',
    ],
  );
  const { config, errors } = parseExperimentText(text, FILE);
  assert.deepEqual(errors, []);
  assert.ok(config);
  assert.deepEqual(config.data.train, { format: 'synthetic', kind: 'vectors', samples: 100, classes: 3, shape: [4], seed: 7, noise: 0.3 });
  assert.deepEqual(config.teacher.train, {
    epochs: 1,
    batchSize: 8,
    optimizer: { kind: 'momentum', learningRate: 0.1, momentum: 0.9 },
    logEvery: 20,
  });
});

void test('a byte-order mark and CRLF line ends are handled', () => {
  const crlf = edit(['"epochs": 3', '"epochs": 0']).replace(/\n/g, '\r\n');
  assert.deepEqual(messages(crlf), [`${FILE}:14:15  training.epochs: expected an integer ≥ 1, found 0`]);
  assert.deepEqual(messages(`\uFEFF${BASE}`), []);
});

void test('examples/*.distill.json in the repository validate cleanly', () => {
  const dir = path.join(ROOT, 'examples');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.distill.json')) : [];
  for (const f of files) {
    const { config, errors } = parseExperimentText(fs.readFileSync(path.join(dir, f), 'utf8'), `examples/${f}`);
    assert.deepEqual(errors.map(formatConfigError), [], f);
    assert.ok(config, f);
  }
});

// ---------------------------------------------------------------------------------------------
// Syntax errors (first one only, located where the parser stopped)

void test('malformed JSON: missing comma between properties', () => {
  assert.deepEqual(messages(edit(['"epochs": 3,', '"epochs": 3'])), [`${FILE}:15:5  training: expected a comma or closing brace`]);
});

void test('malformed JSON: missing comma in an array', () => {
  const text = edit(['"weight": 0.9 }\n', '"weight": 0.9 }\n    { "kind": "response", "method": "kd", "temperature": 2, "weight": 0.1 }\n']);
  assert.deepEqual(messages(text), [`${FILE}:11:5  knowledge: expected a comma or closing bracket`]);
});

void test('malformed JSON: unclosed brace', () => {
  const text = BASE.slice(0, BASE.lastIndexOf('}'));
  assert.deepEqual(messages(text), [`${FILE}:18:1  unexpected end of file: expected a closing brace for the "{" at 1:1`]);
  // The optimizer's "{" takes the training's "}", so the parser only notices at the end of the file.
  assert.deepEqual(messages(edit(['"learningRate": 0.001 }', '"learningRate": 0.001'])), [
    `${FILE}:18:2  unexpected end of file: expected a closing brace for the "{" at 1:1`,
  ]);
});

void test('malformed JSON: trailing garbage', () => {
  assert.deepEqual(messages(`${BASE}\nx`), [`${FILE}:19:1  unexpected text after the end of the experiment object`]);
  assert.deepEqual(messages(`${BASE}\n{}`), [`${FILE}:19:1  unexpected text after the end of the experiment object`]);
});

void test('malformed JSON: unquoted key, single quotes, NaN, missing value, leading zero, bad escape', () => {
  assert.deepEqual(messages(edit(['"name": "demo"', 'name: "demo"'])), [`${FILE}:2:3  expected a property name in double quotes, found name`]);
  assert.deepEqual(messages(edit(['"name": "demo"', `"name": 'demo'`])), [`${FILE}:2:11  expected a value, found 'demo' (strings need double quotes)`]);
  assert.deepEqual(messages(edit(['"temperature": 4', '"temperature": NaN'])), [
    `${FILE}:10:58  knowledge[0]: expected a value, found NaN (JSON has no NaN or Infinity)`,
  ]);
  assert.deepEqual(messages(edit(['"epochs": 3', '"epochs": '])), [`${FILE}:14:15  training: expected a value`]);
  assert.deepEqual(messages(edit(['"batchSize": 32', '"batchSize": 032'])), [`${FILE}:15:19  training: invalid number: leading zeros are not allowed`]);
  assert.deepEqual(messages(edit(['"models.ts"', '"src\\models.ts"'])), [
    `${FILE}:8:30  student: invalid escape in string: write a backslash as \\\\ (or use "/" in paths)`,
  ]);
});

void test('malformed JSON: unterminated string and comment, empty file', () => {
  assert.deepEqual(messages(edit(['"demo",', '"demo,'])), [`${FILE}:2:11  unterminated string: missing the closing quote`]);
  assert.deepEqual(messages(`${BASE}\n/* end`), [`${FILE}:19:1  unterminated comment: missing "*/"`]);
  assert.deepEqual(messages('  \n'), [`${FILE}:1:1  the file is empty; expected an experiment object { "name": …, … }`]);
});

void test('comments and trailing commas are allowed', () => {
  const text = edit(['"epochs": 3,', '"epochs": 3, // three passes\n    /* block */'], ['"learningRate": 0.001 }', '"learningRate": 0.001, },']);
  assert.deepEqual(messages(text), []);
});

// ---------------------------------------------------------------------------------------------
// Schema errors

void test('unknown field, with a suggestion or the list of known fields', () => {
  assert.deepEqual(messages(edit(['"epochs": 3', '"epoch": 3'])), [`${FILE}:14:5  training.epoch: unknown field "epoch"; did you mean "epochs"?`]);
  assert.deepEqual(messages(edit(['"learningRate"', '"learning_rate"'])), [
    `${FILE}:16:36  training.optimizer.learning_rate: unknown field "learning_rate"; did you mean "learningRate"?`,
  ]);
  assert.deepEqual(messages(edit(['"temperature"', '"temp"'])), [`${FILE}:10:43  knowledge[0].temp: unknown field "temp"; did you mean "temperature"?`]);
  assert.deepEqual(messages(edit(['"batchSize": 32,', '"batchSize": 32, "lr": 1,'])), [
    `${FILE}:15:22  training.lr: unknown field "lr"; expected one of "epochs", "batchSize", "optimizer", "logEvery", "stepsPerEpoch"`,
  ]);
  assert.deepEqual(messages(edit(['"name": "demo",', '"name": "demo", "seed": [1],'])), [`${FILE}:2:19  seed: unknown field "seed"; did you mean "seeds"?`]);
});

void test('wrong types', () => {
  assert.deepEqual(messages(edit(['"epochs": 3', '"epochs": "ten"'])), [`${FILE}:14:15  training.epochs: expected an integer ≥ 1, found "ten"`]);
  assert.deepEqual(messages(edit(['"epochs": 3', '"epochs": 2.5'])), [`${FILE}:14:15  training.epochs: expected an integer ≥ 1, found 2.5`]);
  assert.deepEqual(messages(edit(['"temperature": 4', '"temperature": "four"'])), [
    `${FILE}:10:58  knowledge[0].temperature: expected a number > 0, found "four"`,
  ]);
  assert.deepEqual(messages(edit(['"labels": { "weight": 0.1 }', '"labels": 0.1'])), [`${FILE}:12:13  labels: expected an object, found 0.1`]);
  assert.deepEqual(messages(edit(['"name": "demo"', '"name": "demo", "baseline": "yes"'])), [`${FILE}:2:31  baseline: expected true or false, found "yes"`]);
  assert.deepEqual(messages(edit(['"knowledge": [', '"knowledge": {"a": [', ], ['  ],', '  ]},'])), [`${FILE}:9:16  knowledge: expected an array of objects, found an object`]);
  assert.deepEqual(messages(edit(['"teacher": { "model": "teacher/model.json" }', '"teacher": "teacher/model.json"'])), [
    `${FILE}:7:14  teacher: expected an object with "model" or with "module" and "export", found "teacher/model.json"`,
  ]);
});

void test('enums and discriminators', () => {
  assert.deepEqual(messages(edit(['"kind": "adam"', '"kind": "adamw"'])), [
    `${FILE}:16:28  training.optimizer.kind: expected one of "adam", "sgd", "momentum", "rmsprop", found "adamw"`,
  ]);
  assert.deepEqual(messages(edit(['"name": "demo"', '"name": "demo", "backend": "gpu"'])), [
    `${FILE}:2:30  backend: expected one of "auto", "tensorflow", "wasm", "cpu", found "gpu"`,
  ]);
  assert.deepEqual(messages(edit(['"format": "mnist", "split": "test"', '"format": "parquet", "path": "x"'])), [
    `${FILE}:5:25  data.test.format: expected one of "mnist", "idx", "csv", "synthetic", found "parquet"`,
  ]);
  assert.deepEqual(messages(edit(['"split": "test"', '"split": "val"'])), [`${FILE}:5:43  data.test.split: expected one of "train", "test", found "val"`]);
  assert.deepEqual(messages(edit(['"kind": "response"', '"kind": "feature"'])), [`${FILE}:10:15  knowledge[0].kind: expected "response", found "feature"`]);
  assert.deepEqual(messages(edit(['"method": "kd"', '"method": "dkd"'])), [`${FILE}:10:37  knowledge[0].method: expected "kd", found "dkd"`]);
  assert.deepEqual(messages(edit(['"name": "demo",', '"name": "demo", "scheme": { "kind": "online" },'])), [
    `${FILE}:2:39  scheme.kind: expected "offline", found "online"`,
  ]);
});

void test('a union branch reports only its own errors', () => {
  // idx source: picked by "format", so only idx's missing field is reported.
  assert.deepEqual(messages(edit(['"format": "mnist", "split": "test"', '"format": "idx", "images": "t-images.idx"'])), [
    `${FILE}:5:5  data.test: missing required field "labels"`,
  ]);
  // model spec: picked by its keys.
  assert.deepEqual(messages(edit(['"module": "models.ts", ', ''])), [`${FILE}:8:3  student: missing required field "module"`]);
  assert.deepEqual(messages(edit(['{ "model": "teacher/model.json" }', '{ "path": "teacher/model.json" }'])), [
    `${FILE}:7:3  teacher: missing required field "model" (or "module" with "export")`,
  ]);
  assert.deepEqual(messages(edit(['{ "model": "teacher/model.json" }', '{ "mdoel": "teacher/model.json" }'])), [
    `${FILE}:7:16  teacher.mdoel: unknown field "mdoel"; did you mean "model"?`,
  ]);
  assert.deepEqual(messages(edit(['"format": "mnist", "split": "test"', '"fromat": "mnist", "split": "test"'])), [
    `${FILE}:5:15  data.test.fromat: unknown field "fromat"; did you mean "format"?`,
  ]);
  assert.deepEqual(messages(edit(['{ "model": "teacher/model.json" }', '{ "model": "teacher/model.json", "module": "m.ts", "export": "t" }'])), [
    `${FILE}:7:16  teacher.model: "model" cannot be combined with "module" and "export"`,
  ]);
});

void test('missing required fields are located at the parent object', () => {
  assert.deepEqual(messages(edit(['  "teacher": { "model": "teacher/model.json" },\n', ''])), [`${FILE}:1:1  missing required field "teacher"`]);
  assert.deepEqual(messages(edit(['    "batchSize": 32,\n', ''])), [`${FILE}:13:3  training: missing required field "batchSize"`]);
  assert.deepEqual(messages(edit(['"temperature": 4, ', ''])), [`${FILE}:10:5  knowledge[0]: missing required field "temperature"`]);
  assert.deepEqual(messages(edit(['"kind": "response", ', ''])), [`${FILE}:10:5  knowledge[0]: missing required field "kind"`]);
});

void test('nested array paths', () => {
  const text = edit([
    '"weight": 0.9 }\n',
    '"weight": 0.9 },\n    { "kind": "response", "method": "kd", "temperature": 0, "weight": 0.1 }\n',
  ]);
  assert.deepEqual(messages(text), [`${FILE}:11:58  knowledge[1].temperature: expected a number > 0, found 0`]);
});

void test('temperature ≤ 0, negative and non-finite weights', () => {
  assert.deepEqual(messages(edit(['"temperature": 4', '"temperature": -1'])), [`${FILE}:10:58  knowledge[0].temperature: expected a number > 0, found -1`]);
  assert.deepEqual(messages(edit(['"weight": 0.9', '"weight": -0.5'])), [`${FILE}:10:71  knowledge[0].weight: expected a number ≥ 0, found -0.5`]);
  assert.deepEqual(messages(edit(['"weight": 0.9', '"weight": 1e999'])), [`${FILE}:10:71  knowledge[0].weight: expected a finite number ≥ 0, found 1e999`]);
  assert.deepEqual(messages(edit(['"weight": 0.1', '"weight": -1e999'])), [`${FILE}:12:25  labels.weight: expected a finite number ≥ 0, found -1e999`]);
  assert.deepEqual(messages(edit(['"learningRate": 0.001', '"learningRate": 0'])), [
    `${FILE}:16:52  training.optimizer.learningRate: expected a number > 0, found 0`,
  ]);
});

void test('seeds, name, validation fraction, classes', () => {
  assert.deepEqual(messages(edit(['"name": "demo",', '"name": "demo", "seeds": [],'])), [`${FILE}:2:28  seeds: expected a non-empty array of integers, found []`]);
  assert.deepEqual(messages(edit(['"name": "demo",', '"name": "demo", "seeds": [1, 2, 1.5, 2],'])), [
    `${FILE}:2:35  seeds[2]: expected an integer, found 1.5`,
    `${FILE}:2:40  seeds[3]: duplicate value 2 (same as seeds[1])`,
  ]);
  assert.deepEqual(messages(edit(['"name": "demo"', '"name": "my demo"'])), [
    `${FILE}:2:11  name: expected a name made of letters, digits, ".", "_" or "-" (it names the run folder), found "my demo"`,
  ]);
  assert.deepEqual(messages(edit(['"name": "demo"', '"name": ""'])), [`${FILE}:2:11  name: expected a non-empty string, found ""`]);
  assert.deepEqual(messages(edit(['  },\n  "teacher"', '    "validation": { "fraction": 1 }\n  },\n  "teacher"'], ['"split": "test" }', '"split": "test" },'])), [
    `${FILE}:6:33  data.validation.fraction: expected a number > 0 and < 1, found 1`,
  ]);
  const synthetic = '"format": "synthetic", "kind": "vectors", "samples": 10, "classes": 1, "shape": [4], "seed": 1';
  assert.deepEqual(messages(edit(['"format": "mnist", "split": "test"', synthetic])), [`${FILE}:5:83  data.test.classes: expected an integer ≥ 2, found 1`]);
});

void test('semantic checks: synthetic shapes, all-zero loss weights, ignored momentum', () => {
  const images = '"format": "synthetic", "kind": "images", "samples": 10, "classes": 2, "shape": [8, 8], "seed": 1';
  assert.deepEqual(messages(edit(['"format": "mnist", "split": "test"', images])), [
    `${FILE}:5:94  data.test.shape: expected 3 dimensions [H, W, C] for kind "images", found [8, 8]`,
  ]);
  const vectors = '"format": "synthetic", "kind": "vectors", "samples": 10, "classes": 2, "shape": [8, 8, 1], "seed": 1';
  assert.deepEqual(messages(edit(['"format": "mnist", "split": "test"', vectors])), [
    `${FILE}:5:95  data.test.shape: expected 1 dimension [D] for kind "vectors", found [8, 8, 1]`,
  ]);
  assert.deepEqual(messages(edit(['"weight": 0.9', '"weight": 0'], ['"weight": 0.1', '"weight": 0'])), [
    `${FILE}:12:25  labels.weight: every loss term has weight 0: give "labels" or a "knowledge" entry a weight > 0`,
  ]);
  // Warnings do not stop the config.
  const empty = parseExperimentText(BASE.replace(/"knowledge": \[[^\]]*\]/, '"knowledge": []'), FILE);
  assert.ok(empty.config);
  assert.deepEqual(empty.errors.map(formatConfigError), [
    `${FILE}:9:16  warning: knowledge: no knowledge entries: the student learns from the labels only, like the baseline`,
  ]);
  const { config, errors } = parseExperimentText(edit(['"kind": "adam"', '"kind": "adam", "momentum": 0.5']), FILE);
  assert.ok(config);
  assert.deepEqual(errors.map(formatConfigError), [
    `${FILE}:16:48  warning: training.optimizer.momentum: ignored by the "adam" optimizer (only "momentum" and "rmsprop" use it)`,
  ]);
});

void test('several independent problems are all reported, in file order', () => {
  const text = edit(['"epochs": 3', '"epochs": 0'], ['"name": "demo"', '"name": "a/b"'], ['"temperature": 4', '"temperature": 0']);
  assert.deepEqual(messages(text), [
    `${FILE}:2:11  name: expected a name made of letters, digits, ".", "_" or "-" (it names the run folder), found "a/b"`,
    `${FILE}:10:58  knowledge[0].temperature: expected a number > 0, found 0`,
    `${FILE}:14:15  training.epochs: expected an integer ≥ 1, found 0`,
  ]);
});

void test('duplicate fields', () => {
  assert.deepEqual(messages(edit(['"epochs": 3,', '"epochs": 3, "epochs": 4,'])), [`${FILE}:14:18  training.epochs: duplicate field "epochs"`]);
});

// ---------------------------------------------------------------------------------------------
// Files

function tempExperiment(text: string): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-config-'));
  const file = path.join(dir, FILE);
  fs.writeFileSync(file, text);
  return { dir, file };
}

void test('loadExperiment: referenced files exist', () => {
  const { dir, file } = tempExperiment(BASE);
  try {
    fs.mkdirSync(path.join(dir, 'teacher'));
    fs.writeFileSync(path.join(dir, 'teacher', 'model.json'), '{}');
    fs.writeFileSync(path.join(dir, 'models.ts'), 'export {}');
    const { config, errors, text } = loadExperiment(file);
    assert.deepEqual(errors, []);
    assert.equal(config?.name, 'demo');
    assert.equal(text, BASE);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

void test('loadExperiment / checkFiles: missing model and data files are located at their paths', () => {
  const idx = '"format": "idx", "images": "data/t-images.gz", "labels": "data/t-labels.gz"';
  const csv = '"format": "csv", "path": "data/train.csv"';
  const { dir, file } = tempExperiment(edit(['"format": "mnist", "split": "train"', csv], ['"format": "mnist", "split": "test"', idx]));
  try {
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 't-labels.gz'), '');
    fs.mkdirSync(path.join(dir, 'models.ts')); // a folder, not a file
    const { config, errors } = loadExperiment(file);
    assert.equal(config, undefined);
    assert.deepEqual(errors.map(formatConfigError), [
      `${file}:4:41  data.train.path: file not found: ${path.join(dir, 'data', 'train.csv')}`,
      `${file}:5:42  data.test.images: file not found: ${path.join(dir, 'data', 't-images.gz')}`,
      `${file}:7:25  teacher.model: file not found: ${path.join(dir, 'teacher', 'model.json')}`,
      `${file}:8:26  student.module: expected a file, found a folder: ${path.join(dir, 'models.ts')}`,
    ]);
    // checkFiles on its own, with a relative file name.
    const parsed = parseExperimentText(fs.readFileSync(file, 'utf8'), file);
    assert.ok(parsed.config);
    const rel = path.relative(process.cwd(), file);
    assert.equal(checkFiles(parsed.config, rel, fs.readFileSync(file, 'utf8')).length, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

void test('loadExperiment: a missing experiment file is one error at 1:1', () => {
  const file = path.join(os.tmpdir(), 'no-such-dir-distill', 'missing.distill.json');
  const { config, errors, text } = loadExperiment(file);
  assert.equal(config, undefined);
  assert.equal(text, undefined);
  assert.deepEqual(errors.map(formatConfigError), [`${file}:1:1  experiment file not found`]);
});

void test('loadExperiment: a syntax error stops before the file checks', () => {
  const { dir, file } = tempExperiment(edit(['"epochs": 3,', '"epochs": 3']));
  try {
    assert.deepEqual(loadExperiment(file).errors.map(formatConfigError), [`${file}:15:5  training: expected a comma or closing brace`]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Helpers

void test('locate: the value at a path, else the nearest parent (its key)', () => {
  assert.deepEqual(locate(BASE, ['training', 'epochs']), { line: 14, column: 15, offset: BASE.indexOf('3,\n    "batchSize"'), length: 1 });
  assert.deepEqual(locate(BASE, ['knowledge', 0, 'temperature']).line, 10);
  assert.deepEqual(locate(BASE, ['knowledge', 0, 'temperature']).column, 58);
  const missing = locate(BASE, ['training', 'logEvery']);
  assert.deepEqual([missing.line, missing.column, missing.length], [13, 3, '"training"'.length]);
  const inArray = locate(BASE, ['knowledge', 0, 'nope']);
  assert.deepEqual([inArray.line, inArray.column, inArray.length], [10, 5, 1]);
  assert.deepEqual(locate(BASE, []), { line: 1, column: 1, offset: 0, length: BASE.length });
  assert.deepEqual(locate('', ['a']), { line: 1, column: 1, offset: 0, length: 0 });
});

void test('formatConfigError and ExperimentError', () => {
  const e: ConfigError = {
    file: FILE,
    path: ['training', 'epochs'],
    location: { line: 12, column: 20, offset: 0, length: 5 },
    message: 'expected an integer ≥ 1, found "ten"',
    severity: 'error',
  };
  assert.equal(formatConfigError(e), 'exp.distill.json:12:20  training.epochs: expected an integer ≥ 1, found "ten"');
  assert.equal(formatConfigError({ ...e, path: [] }), 'exp.distill.json:12:20  expected an integer ≥ 1, found "ten"');
  assert.equal(formatConfigError({ ...e, path: ['a b', 0] }), 'exp.distill.json:12:20  ["a b"][0]: expected an integer ≥ 1, found "ten"');
  const err = new ExperimentError([e, { ...e, path: ['name'] }]);
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'ExperimentError');
  assert.equal(err.errors.length, 2);
  assert.equal(err.message, `${formatConfigError(e)}\n${formatConfigError({ ...e, path: ['name'] })}`);
});

void test('closest: typos are suggested, unrelated names are not', () => {
  assert.equal(closest('epoch', ['epochs', 'batchSize']), 'epochs');
  assert.equal(closest('bacthSize', ['epochs', 'batchSize']), 'batchSize');
  assert.equal(closest('batch_size', ['epochs', 'batchSize']), 'batchSize');
  assert.equal(closest('foo', ['epochs', 'batchSize']), undefined);
  assert.equal(closest('lr', ['learningRate', 'kind']), undefined);
});

// ---------------------------------------------------------------------------------------------
// The schema itself

function walkSchema(s: JsonSchema, where: string, visit: (s: JsonSchema, where: string) => void): void {
  visit(s, where);
  for (const [k, sub] of Object.entries(s.properties ?? {})) walkSchema(sub, `${where}.properties.${k}`, visit);
  for (const [k, sub] of Object.entries(s.definitions ?? {})) walkSchema(sub, `${where}.definitions.${k}`, visit);
  if (s.items) walkSchema(s.items, `${where}.items`, visit);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') walkSchema(s.additionalProperties, `${where}.additionalProperties`, visit);
  (s.oneOf ?? []).forEach((sub, i) => walkSchema(sub, `${where}.oneOf[${i}]`, visit));
}

function resolveRef(s: JsonSchema): JsonSchema {
  const m = s.$ref ? /^#\/definitions\/(.+)$/.exec(s.$ref) : null;
  return m ? resolveRef(experimentSchema.definitions![m[1]]) : s;
}

void test('schema: every property has a description', () => {
  const missing: string[] = [];
  walkSchema(experimentSchema, '#', (s, where) => {
    for (const [k, sub] of Object.entries(s.properties ?? {})) {
      if (!sub.description && !resolveRef(sub).description) missing.push(`${where}.properties.${k}`);
    }
    if (s.items && !s.items.description && !resolveRef(s.items).description) missing.push(`${where}.items`);
  });
  assert.deepEqual(missing, []);
});

void test('schema: uses only keywords the validator understands, and every $ref resolves', () => {
  const unknown: string[] = [];
  walkSchema(experimentSchema, '#', (s, where) => {
    for (const k of Object.keys(s)) if (!SUPPORTED_KEYWORDS.has(k)) unknown.push(`${where}: ${k}`);
    if (s.$ref) assert.ok(resolveRef(s) !== s, `${where}: $ref ${s.$ref}`);
    if (s.type === 'object' && s.properties) assert.equal(s.additionalProperties, false, `${where}: additionalProperties`);
  });
  assert.deepEqual(unknown, []);
});

void test('schema: a valid draft-07 schema that agrees with the validator (ajv, as editors check it)', () => {
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  ajv.addVocabulary(['markdownDescription', 'patternErrorMessage', 'markdownEnumDescriptions', 'enumDescriptions', 'defaultSnippets']);
  const validate = ajv.compile(experimentSchema);
  const asJson = (text: string): unknown => parseJsonc(text, [], { allowTrailingComma: true });

  assert.ok(validate(asJson(fs.readFileSync(FIXTURE, 'utf8'))), JSON.stringify(validate.errors));
  assert.ok(validate(asJson(BASE)), JSON.stringify(validate.errors));
  const invalid = [
    edit(['"epochs": 3', '"epochs": "ten"']),
    edit(['"epochs": 3', '"epoch": 3']),
    edit(['"kind": "adam"', '"kind": "adamw"']),
    edit(['"temperature": 4', '"temperature": 0']),
    edit(['"weight": 0.9', '"weight": -1']),
    edit(['"kind": "response"', '"kind": "feature"']),
    edit(['"format": "mnist", "split": "test"', '"format": "idx", "images": "x"']),
    edit(['{ "model": "teacher/model.json" }', '{ "model": "t.json", "module": "m.ts", "export": "t" }']),
    edit(['"name": "demo"', '"name": "a/b", "seeds": [1, 1]']),
  ];
  for (const text of invalid) {
    assert.equal(validate(asJson(text)), false, text);
    assert.notDeepEqual(messages(text), [], text);
  }
});

/**
 * The experiment file with `"engine": "torch"` (issue 14, src/config/engineRules.ts): the torch
 * engine's model specs (.py modules with state_dict weights, torchvision builders, TorchScript
 * files) and fields (`device`, `precision`) are accepted with it and refused with tfjs, and the TF.js
 * engine's (`backend`, model.json, .ts/.js modules) the other way round — each mistake one problem,
 * located at its value, saying the fix.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { formatConfigError, loadExperiment, parseExperimentText } from '../../src/config/parse';
import type { ConfigError } from '../../src/config/types';

const FILE = 'exp.distill.json';

/** A valid torch experiment; the line numbers matter to the tests below. */
const TORCH = [
  /*  1 */ '{',
  /*  2 */ '  "name": "torchy",',
  /*  3 */ '  "engine": "torch",',
  /*  4 */ '  "data": {',
  /*  5 */ '    "train": { "format": "mnist", "split": "train" },',
  /*  6 */ '    "test": { "format": "mnist", "split": "test" }',
  /*  7 */ '  },',
  /*  8 */ '  "teacher": { "module": "models.py", "export": "resnet20", "weights": "teacher.pt" },',
  /*  9 */ '  "student": { "module": "models.py", "export": "resnet8", "args": { "width": 16 } },',
  /* 10 */ '  "knowledge": [',
  /* 11 */ '    { "kind": "feature", "method": "at", "weight": 1, "pairs": [{ "teacher": "layer2", "student": "layer2" }] }',
  /* 12 */ '  ],',
  /* 13 */ '  "training": { "epochs": 2, "batchSize": 32, "optimizer": { "kind": "sgd", "learningRate": 0.1 } }',
  /* 14 */ '}',
].join('\n');

/** TORCH with each `[from, to]` replaced (each `from` must occur once). */
function edit(...replacements: [string, string][]): string {
  let text = TORCH;
  for (const [from, to] of replacements) {
    assert.equal(text.split(from).length, 2, `TORCH has one ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}
/** TORCH as a valid TF.js experiment (no engine, a model.json teacher, a .ts student), then `more` replaced. */
function tfjs(...more: [string, string][]): string {
  let text = edit(['  "engine": "torch",\n', ''],
    ['"teacher": { "module": "models.py", "export": "resnet20", "weights": "teacher.pt" }', '"teacher": { "model": "teacher/model.json" }'],
    ['"student": { "module": "models.py", "export": "resnet8", "args": { "width": 16 } }', '"student": { "module": "models.ts", "export": "student" }']);
  for (const [from, to] of more) {
    assert.equal(text.split(from).length, 2, `the tfjs text has one ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

function messages(text: string): string[] {
  const { config, errors } = parseExperimentText(text, FILE);
  if (errors.some((e) => e.severity === 'error')) assert.equal(config, undefined, 'no config when there are errors');
  return errors.map(formatConfigError);
}

/** The 1-based line:column of the `nth` occurrence of `needle` in `text` (where a problem must point). */
function at(text: string, needle: string, nth = 1): string {
  let offset = -1;
  for (let i = 0; i < nth; i++) offset = text.indexOf(needle, offset + 1);
  assert.ok(offset >= 0, `${needle} in the text`);
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

test('a torch experiment: .py modules with weights, device auto and precision fp32 filled, the backend default kept out of the way', () => {
  const { config, errors } = parseExperimentText(TORCH, FILE);
  assert.deepEqual(errors, []);
  assert.equal(config!.engine, 'torch');
  assert.equal(config!.device, 'auto');
  assert.equal(config!.precision, 'fp32');
  assert.deepEqual(config!.teacher, { module: 'models.py', export: 'resnet20', weights: 'teacher.pt' });
  const written = parseExperimentText(edit(['  "engine": "torch",', '  "engine": "torch", "device": "cuda:1", "precision": "bf16",']), FILE);
  assert.deepEqual(written.errors, []);
  assert.equal(written.config!.device, 'cuda:1');
  assert.equal(written.config!.precision, 'bf16');
});

test('a tfjs experiment (engine absent or "tfjs") gets no torch field', () => {
  const { config, errors } = parseExperimentText(tfjs(), FILE);
  assert.deepEqual(errors, []);
  assert.equal(config!.engine, undefined);
  assert.equal(config!.device, undefined);
  assert.equal(config!.precision, undefined);
  assert.equal(config!.backend, 'auto');
});

test('torch: torchvision and TorchScript models, a derived student, multi-kd and ta-chain teachers of every torch kind', () => {
  const text = edit(
    ['"student": { "module": "models.py", "export": "resnet8", "args": { "width": 16 } }', '"student": { "torchvision": "mobilenet_v2", "args": { "num_classes": 10 } }'],
    ['"teacher": { "module": "models.py", "export": "resnet20", "weights": "teacher.pt" }', '"teacher": { "model": "teacher.pt" }'],
    ['{ "kind": "feature", "method": "at", "weight": 1, "pairs": [{ "teacher": "layer2", "student": "layer2" }] }',
      '{ "kind": "response", "method": "multi-kd", "temperature": 4, "weight": 1, "teachers": [{ "torchvision": "resnet18", "weights": "r18.pt", "weight": 0.5 }, { "model": "t2.ptl" }] }'],
  );
  const { config, errors } = parseExperimentText(text, FILE);
  assert.deepEqual(errors.map(formatConfigError), []);
  assert.deepEqual(config!.student, { torchvision: 'mobilenet_v2', args: { num_classes: 10 } });
  assert.deepEqual(config!.teacher, { model: 'teacher.pt' });

  const derived = parseExperimentText(edit(['"student": { "module": "models.py", "export": "resnet8", "args": { "width": 16 } }', '"student": { "derive": { "width": 0.5 } }']), FILE);
  assert.deepEqual(derived.errors, []);
  assert.deepEqual((derived.config!.student as { from?: unknown }).from, { module: 'models.py', export: 'resnet20', weights: 'teacher.pt' });

  const chain = parseExperimentText(edit(['  "knowledge"', '  "scheme": { "kind": "ta-chain", "assistants": [{ "torchvision": "resnet34" }, { "module": "models.py", "export": "resnet14" }] },\n  "knowledge"']), FILE);
  assert.deepEqual(chain.errors, []);
});

test('tfjs: each torch-only field or model is one problem at its value, saying to set "engine": "torch"', () => {
  const T = '"teacher": { "model": "teacher/model.json" }';
  const S = '"student": { "module": "models.ts", "export": "student" }';
  const cases: [string, string, string, RegExp][] = [
    // [text, path, the value it must point at, message]
    [tfjs(['"name": "torchy",', '"name": "torchy", "device": "cpu",']), 'device', '"cpu"', /^"device" is read by the torch engine only: set "engine": "torch"/],
    [tfjs(['"name": "torchy",', '"name": "torchy", "precision": "bf16",']), 'precision', '"bf16"', /^"precision" is read by the torch engine only: set "engine": "torch"/],
    [tfjs([S, '"student": { "module": "models.ts", "export": "student", "weights": "s.pt" }']), 'student.weights', '"s.pt"', /^"weights" \(a PyTorch state_dict\) is read by the torch engine only/],
    [tfjs([S, '"student": { "module": "models.py", "export": "student" }']), 'student.module', '"models.py"',
      /^"models\.py" is a Python module, which the TF\.js engine cannot load: set "engine": "torch"/],
    [tfjs([T, '"teacher": { "model": "teacher.pt" }']), 'teacher.model', '"teacher.pt"', /^expected a TF\.js Layers model\.json, found "teacher\.pt": a TorchScript file needs "engine": "torch"/],
    [tfjs([S, '"student": { "torchvision": "mobilenet_v2" }']), 'student.torchvision', '"mobilenet_v2"', /^torchvision models run on the torch engine only: set "engine": "torch"/],
    [tfjs(['"weight": 1, "pairs"', '"weight": 1, "teachers": [{ "torchvision": "resnet18" }], "pairs"'], ['"kind": "feature", "method": "at"', '"kind": "response", "method": "multi-kd", "temperature": 4'],
      [', "pairs": [{ "teacher": "layer2", "student": "layer2" }]', '']), 'knowledge.0.teachers.0.torchvision', '"resnet18"', /^torchvision models run on the torch engine only/],
  ];
  for (const [text, where, needle, message] of cases) {
    const got = parseExperimentText(text, FILE);
    assert.equal(got.errors.length, 1, `${where}: one problem, got ${got.errors.map(formatConfigError).join(' | ')}`);
    assert.equal(got.errors[0].path.join('.'), where);
    assert.equal(`${got.errors[0].location.line}:${got.errors[0].location.column}`, at(text, needle));
    assert.match(got.errors[0].message, message);
    assert.equal(got.config, undefined);
  }
});

test('torch: each TF.js-only field or model is one problem at its value, with the fix', () => {
  const backend = edit(['  "engine": "torch",', '  "engine": "torch", "backend": "wasm",']);
  assert.deepEqual(messages(backend), [
    `${FILE}:${at(backend, '"wasm"')}  backend: "backend" picks the TF.js engine's compute; the torch engine trains where "device" says (auto, cpu, cuda, cuda:N, mps): remove "backend"`,
  ]);
  const tsModule = edit(['"module": "models.py", "export": "resnet8"', '"module": "models.ts", "export": "resnet8"']);
  assert.deepEqual(messages(tsModule), [
    `${FILE}:${at(tsModule, '"models.ts"')}  student.module: the torch engine loads Python modules (.py); "models.ts" is a TF.js module: give a .py module whose "export" returns an nn.Module, or set "engine": "tfjs"`,
  ]);
  const modelJson = edit(['"module": "models.py", "export": "resnet20", "weights": "teacher.pt"', '"model": "teacher/model.json"']);
  assert.deepEqual(messages(modelJson), [
    `${FILE}:${at(modelJson, '"teacher/model.json"')}  teacher.model: the torch engine cannot load a TF.js model.json ("teacher/model.json"): give a TorchScript file (torch.jit.save) or { "module": "models.py", "export": …, "weights": "….pt" }, or set "engine": "tfjs"`,
  ]);
  // In a ta-chain assistant and a multi-kd teacher too, each at its own path.
  const nested = edit(
    ['  "knowledge"', '  "scheme": { "kind": "ta-chain", "assistants": [{ "module": "ta.js", "export": "ta" }] },\n  "knowledge"'],
    ['{ "kind": "feature", "method": "at", "weight": 1, "pairs": [{ "teacher": "layer2", "student": "layer2" }] }',
      '{ "kind": "response", "method": "multi-kd", "temperature": 4, "weight": 1, "teachers": [{ "model": "t2/model.json" }] }'],
  );
  const got = parseExperimentText(nested, FILE).errors;
  assert.deepEqual(got.map((e) => [e.path.join('.'), `${e.location.line}:${e.location.column}`]), [
    ['scheme.assistants.0.module', at(nested, '"ta.js"')],
    ['knowledge.0.teachers.0.model', at(nested, '"t2/model.json"')],
  ]);
});

test('several mistakes give one problem each, in file order; wrong values of the torch fields are schema errors', () => {
  const text = edit(['  "engine": "torch",\n', ''], ['"name": "torchy",', '"name": "torchy", "device": "cuda",'],
    ['"module": "models.py", "export": "resnet8", "args": { "width": 16 }', '"torchvision": "resnet18"']);
  assert.deepEqual(parseExperimentText(text, FILE).errors.map((e) => e.path.join('.')), ['device', 'teacher.module', 'teacher.weights', 'student.torchvision']);

  assert.deepEqual(messages(edit(['"engine": "torch"', '"engine": "pytorch"'])), [`${FILE}:3:13  engine: expected one of "tfjs", "torch", found "pytorch"`]);
  assert.deepEqual(messages(edit(['"engine": "torch",', '"engine": "torch", "device": "gpu",'])),
    [`${FILE}:3:32  device: expected "auto", "cpu", "cuda", "cuda:N" (N a GPU index) or "mps", found "gpu"`]);
  assert.deepEqual(messages(edit(['"engine": "torch",', '"engine": "torch", "precision": "fp64",'])),
    [`${FILE}:3:35  precision: expected one of "fp32", "bf16", "fp16", found "fp64"`]);
  assert.deepEqual(messages(edit(['"student": { "module": "models.py", "export": "resnet8", "args": { "width": 16 } }', '"student": { "torchvision": "mobile net" }'])),
    [`${FILE}:9:31  student.torchvision: expected the name of a torchvision.models builder, such as "mobilenet_v2" or "resnet18", found "mobile net"`]);
});

test('the weights file and the .py module must exist (located, as every file the experiment names)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-torchcfg-'));
  try {
    fs.writeFileSync(path.join(dir, 'models.py'), 'import torch\n');
    const file = path.join(dir, FILE);
    fs.writeFileSync(file, TORCH);
    const { config, errors } = loadExperiment(file);
    assert.equal(config, undefined);
    assert.deepEqual(errors.map((e: ConfigError) => [e.path.join('.'), `${e.location.line}:${e.location.column}`, e.message]), [
      ['teacher.weights', at(TORCH, '"teacher.pt"'), `file not found: ${path.join(dir, 'teacher.pt')}`],
    ]);
    fs.writeFileSync(path.join(dir, 'teacher.pt'), 'x');
    assert.deepEqual(loadExperiment(file).errors, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

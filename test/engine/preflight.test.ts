/**
 * Pre-flight before the run folder: `distill run` (and the extension's Run, through the same
 * runExperiment) refuses bad data and model files with the message `distill check` prints — the
 * experiment's `file:line:col`, the field once, then the data file's own line or byte offset — and
 * creates nothing. Fourteen bad inputs, each in its own folder.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runExperiment } from '../../src/engine/run';
import { checkExperiment } from '../../src/engine/check';
import { ExperimentError, formatConfigError } from '../../src/config/parse';
import { encodeIdx } from '../../src/engine/data/idx';
import { saveLayersModel } from '../../src/engine/models/fileIO';
import { initBackend } from '../../src/engine/backend';
import type { EngineToHost } from '../../src/protocol/engine';
import { REPO, tempDir, writeExperiment } from '../helpers/experiments';

const CLI = path.join(REPO, 'dist', 'cli.js');

before(async () => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
  await initBackend('cpu');
});

/** 4 features, 3 classes, `n` rows; a header row `a,b,c,d,label`. */
function csv(n: number): string {
  const rows = ['a,b,c,d,label'];
  for (let i = 0; i < n; i++) rows.push(`${i % 7},${(i * 3) % 5},${i % 2},${(i * 5) % 11},${i % 3}`);
  return rows.join('\n') + '\n';
}

const mlp = (hidden: number[], extra: Record<string, unknown> = {}) =>
  ({ module: 'models.ts', export: 'mlp', args: { inputs: 4, hidden, classes: 3 }, ...extra });

/** A valid CSV experiment; each case breaks one thing. */
function baseExperiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'preflight',
    seeds: [1],
    data: { train: { format: 'csv', path: 'train.csv' }, test: { format: 'csv', path: 'test.csv' }, normalize: 'none' },
    teacher: mlp([16], { train: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } } }),
    student: mlp([4]),
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
    baseline: false,
    ...overrides,
  };
}

interface Case {
  name: string;
  /** Writes the bad input into `dir`; returns experiment overrides. */
  setup(dir: string): Promise<Record<string, unknown> | void> | Record<string, unknown> | void;
  /** The field the message names (once). */
  field: string;
  /** What follows the field: the data file's own place, the model's problem. */
  message: RegExp;
}

const idxImages = (n: number) => encodeIdx([n, 2, 2], Uint8Array.from({ length: n * 4 }, (_, i) => (i * 37) % 256));
const idxLabels = (n: number) => encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % 3));
const idxData = { train: { format: 'idx', images: 'train-images.idx', labels: 'train-labels.idx' }, test: { format: 'csv', path: 'test.csv' }, normalize: 'none' };

async function savedTeacher(dir: string): Promise<string> {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu', name: 'dense_1' }), tf.layers.dense({ units: 3, name: 'logits' })] });
  await saveLayersModel(m, path.join(dir, 'teacher'));
  m.dispose();
  return 'teacher/model.json';
}

const CASES: Case[] = [
  {
    name: 'ragged CSV row', field: 'data.train.path', message: /train\.csv:3: expected 5 columns, found 4$/,
    setup: (dir) => fs.writeFileSync(path.join(dir, 'train.csv'), csv(64).replace(/^(1,3,1,5),1$/m, '$1')),
  },
  {
    name: 'non-numeric cell', field: 'data.train.path', message: /train\.csv:6: column "b" \(index 1\): "x" is not a number$/,
    setup: (dir) => fs.writeFileSync(path.join(dir, 'train.csv'), csv(64).replace(/^4,2,0,9,1$/m, '4,x,0,9,1')),
  },
  {
    name: 'empty CSV', field: 'data.train.path', message: /train\.csv: the CSV file is empty$/,
    setup: (dir) => fs.writeFileSync(path.join(dir, 'train.csv'), ''),
  },
  {
    name: 'missing label column', field: 'data.train.labelColumn', message: /train\.csv: labelColumn "class" is not a column; the header has "a", "b", "c", "d", "label"$/,
    setup: () => ({ data: { train: { format: 'csv', path: 'train.csv', labelColumn: 'class' }, test: { format: 'csv', path: 'test.csv' }, normalize: 'none' } }),
  },
  {
    name: 'labels beyond the model outputs', field: 'data', message: /^[^\n]*  data: labels go up to 2, but the student \(models\.ts#mlp\) has 2 outputs \(labels must be in 0\.\.1\)$/,
    setup: () => ({
      teacher: mlp([16], { args: { inputs: 4, hidden: [16], classes: 2 }, train: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } } }),
      student: { module: 'models.ts', export: 'mlp', args: { inputs: 4, hidden: [4], classes: 2 } },
    }),
  },
  {
    name: 'IDX file with a wrong magic number', field: 'data.train.images', message: /train-images\.idx: not an IDX file: it starts with bytes 0x1f 0x00, expected the IDX magic 0x00 0x00 <dtype> <ndims>$/,
    setup: (dir) => {
      const b = idxImages(64);
      b[0] = 0x1f;
      fs.writeFileSync(path.join(dir, 'train-images.idx'), b);
      fs.writeFileSync(path.join(dir, 'train-labels.idx'), idxLabels(64));
      return { data: idxData };
    },
  },
  {
    name: 'IDX file with a truncated payload', field: 'data.train.images', message: /train-images\.idx: file is 250 bytes, header promises 272 \(16-byte header \+ 64×2×2 ubyte values\); the file is truncated$/,
    setup: (dir) => {
      fs.writeFileSync(path.join(dir, 'train-images.idx'), idxImages(64).subarray(0, 250));
      fs.writeFileSync(path.join(dir, 'train-labels.idx'), idxLabels(64));
      return { data: idxData };
    },
  },
  {
    name: 'short weights.bin', field: 'teacher', message: /weights\.bin/,
    setup: async (dir) => {
      const model = await savedTeacher(dir);
      const w = path.join(dir, 'teacher', 'weights.bin');
      fs.writeFileSync(w, fs.readFileSync(w).subarray(0, 20));
      return { teacher: { model } };
    },
  },
  {
    name: 'model module that throws', field: 'student', message: /bad\.ts.*no layers for you/,
    setup: (dir) => {
      fs.writeFileSync(path.join(dir, 'bad.ts'), 'export function student() {\n  throw new Error("no layers for you");\n}\n');
      return { student: { module: 'bad.ts', export: 'student' } };
    },
  },
  {
    name: 'model module that returns a non-model', field: 'student', message: /bad\.ts.*student/,
    setup: (dir) => {
      fs.writeFileSync(path.join(dir, 'bad.ts'), 'export function student() {\n  return { layers: [] };\n}\n');
      return { student: { module: 'bad.ts', export: 'student' } };
    },
  },
  {
    name: 'missing export', field: 'student', message: /models\.ts.*studnet/,
    setup: () => ({ student: { module: 'models.ts', export: 'studnet' } }),
  },
  {
    name: 'model module with a syntax error', field: 'student', message: /bad\.ts:2:\d+/,
    setup: (dir) => {
      fs.writeFileSync(path.join(dir, 'bad.ts'), 'export function student(tf) {\n  return tf.sequential({ layers: [ };\n}\n');
      return { student: { module: 'bad.ts', export: 'student' } };
    },
  },
  {
    name: 'model input that does not fit the data', field: 'student', message: /\[5\].*\[4\]|\[4\].*\[5\]/,
    setup: () => ({ student: { module: 'models.ts', export: 'mlp', args: { inputs: 5, hidden: [4], classes: 3 } } }),
  },
  {
    name: 'pair naming a layer only the other network has', field: 'knowledge[1].pairs[0].student', message: /dense_2/,
    setup: () => ({
      teacher: mlp([16, 16], { train: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } } }),
      knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
        { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_2', student: 'dense_2' }] }],
    }),
  },
];

async function prepare(c: Case): Promise<{ dir: string; file: string }> {
  const dir = tempDir('distill-preflight-');
  fs.writeFileSync(path.join(dir, 'train.csv'), csv(64));
  fs.writeFileSync(path.join(dir, 'test.csv'), csv(16));
  fs.copyFileSync(path.join(REPO, 'examples', 'models.ts'), path.join(dir, 'models.ts'));
  const overrides = (await c.setup(dir)) ?? {};
  return { dir, file: writeExperiment(dir, baseExperiment(overrides)) };
}

/** Every file and folder under `dir`, relative. */
function tree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

test('the valid base experiment runs (each case below differs from it by one bad input)', async () => {
  const { dir, file } = await prepare({ name: 'none', field: '', message: /./, setup: () => undefined });
  const r = await runExperiment({ experiment: file, backend: 'cpu', teacherThread: false });
  assert.equal(r.status, 'completed', r.error);
  assert.ok(fs.existsSync(path.join(dir, '.distill', 'runs', 'preflight')));
});

const messages: string[] = [];

for (const c of CASES) {
  test(`pre-flight refuses ${c.name}: located like check, the field once, no run folder`, async () => {
    const { dir, file } = await prepare(c);
    const before = tree(dir);
    const err = await runExperiment({ experiment: file, backend: 'cpu', teacherThread: false }).then(
      (r) => assert.fail(`expected a refusal, got a run folder ${r.runDir} (${r.status}: ${r.error})`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ExperimentError, `ExperimentError, got ${String(err)}`);
    const msg = err.message;
    messages.push(`${c.name}: ${msg.replace(dir + path.sep, '')}`);
    const head = `${file}:(\\d+):(\\d+)  ${c.field.replace(/[.[\]]/g, '\\$&')}: `;
    assert.match(msg, new RegExp(`^${head}`), msg);
    assert.equal(msg.split(`${c.field}: `).length - 1, 1, `the field is printed once: ${msg}`);
    assert.match(msg, c.message);
    assert.deepEqual(tree(dir), before, 'nothing created: no .distill, no run folder');
    // `distill check` prints the very same message.
    const checked = (await checkExperiment(file, 'cpu')).map(formatConfigError).join('\n');
    assert.equal(checked, msg);
  });
}

test('the CLI prints the located message, exits 1, and `list` shows no run', () => {
  const { file, dir } = (() => {
    const d = tempDir('distill-preflight-');
    fs.writeFileSync(path.join(d, 'train.csv'), csv(64).replace(/^4,2,0,9,1$/m, '4,x,0,9,1'));
    fs.writeFileSync(path.join(d, 'test.csv'), csv(16));
    return { dir: d, file: writeExperiment(d, baseExperiment()) };
  })();
  const r = cp.spawnSync(process.execPath, [CLI, 'run', file, '--backend', 'cpu'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const expected = `${file}:9:15  data.train.path: ${path.join(dir, 'train.csv')}:6: column "b" (index 1): "x" is not a number`;
  assert.equal(r.stderr.trim(), expected);
  // `distill check` prints the same line (and the field once: not `data.train.path: data.train.path: …`)
  const check = cp.spawnSync(process.execPath, [CLI, 'check', file, '--backend', 'cpu'], { encoding: 'utf8' });
  assert.equal(check.stdout.trim(), expected);
  assert.doesNotMatch(r.stdout, /run folder/);
  assert.equal(fs.existsSync(path.join(dir, '.distill')), false);
  const list = cp.spawnSync(process.execPath, [CLI, 'list', path.join(dir, '.distill', 'runs')], { encoding: 'utf8' });
  assert.match(list.stdout + list.stderr, /^no runs under |: no such folder/, 'no run is listed');
});

test('a run that fails later (a NaN loss) keeps its folder, as before', async () => {
  const dir = tempDir('distill-preflight-');
  fs.writeFileSync(path.join(dir, 'train.csv'), csv(64));
  fs.writeFileSync(path.join(dir, 'test.csv'), csv(16));
  const file = writeExperiment(dir, baseExperiment({ training: { epochs: 1, batchSize: 16, optimizer: { kind: 'sgd', learningRate: 1e30 } } }));
  const r = await runExperiment({ experiment: file, backend: 'cpu', teacherThread: false });
  assert.equal(r.status, 'failed');
  assert.ok(fs.existsSync(path.join(r.runDir, 'run.json')));
});

test('messages (for the record)', () => {
  console.log(messages.join('\n'));
});

export { CASES };

test('the extension\'s Run (the forked worker): a refusal is a config failure with no run folder, so no Resume is offered', async () => {
  const dir = tempDir('distill-preflight-');
  fs.writeFileSync(path.join(dir, 'train.csv'), csv(64).replace(/^4,2,0,9,1$/m, '4,x,0,9,1'));
  fs.writeFileSync(path.join(dir, 'test.csv'), csv(16));
  const file = writeExperiment(dir, baseExperiment());
  const child = cp.fork(path.join(REPO, 'dist', 'worker.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const messages: EngineToHost[] = [];
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  child.on('message', (m) => {
    messages.push(m as EngineToHost);
    if ((m as EngineToHost).type === 'ready') child.send({ type: 'start', experiment: file, backend: 'cpu' });
  });
  assert.equal(await exited, 1);
  const failed = messages.find((m) => m.type === 'failed') as Extract<EngineToHost, { type: 'failed' }>;
  assert.ok(failed, JSON.stringify(messages));
  assert.equal(failed.kind, 'config');
  assert.equal(failed.runDir, undefined);
  assert.match(failed.error, /exp\.distill\.json:9:15 {2}data\.train\.path: .*train\.csv:6: column "b" \(index 1\): "x" is not a number$/);
  assert.ok(!messages.some((m) => m.type === 'started'), 'no run folder announced');
  assert.equal(fs.existsSync(path.join(dir, '.distill')), false);
});

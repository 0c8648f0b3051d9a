/**
 * The panels' probes on a torch experiment (issue 15) through the REAL Python engine: answerProbe
 * (the worker's entry) sees `"engine": "torch"` and asks the long-lived Python probe process
 * (src/engine/torch/probe.ts → python/distill_torch/probe.py). Needs an interpreter with torch
 * (/usr/bin/python3 here); without one the tests are skipped with the reason printed, unless CI is
 * set (then they fail: CI installs torch).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExperimentError } from '../../src/config/errors';
import type { ConfigError } from '../../src/config/types';
import { answerProbe, checkPair } from '../../src/engine/probe';
import { answerTorchProbe, TorchProbeProcess } from '../../src/engine/torch/probe';
import type { FeatureMapsAnswer, FeatureMapsInitAnswer, LayersAnswer, PairCheckAnswer, SuggestAnswer } from '../../src/protocol/engine';
import { attentionMap, cosine, mse } from '../../src/engine/results/similarity';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../../src/protocol/engine';
import { METHOD_INFO } from '../../src/methods/catalogue';
import { torchProbeSuite } from '../helpers/torchProbeSuite';
import { TINY_MODELS_PY } from '../helpers/torchModels';

const suite = torchProbeSuite('torchProbe', 'distill-torchprobe-');
const dir = suite.dir;

const MODELS_PY = TINY_MODELS_PY;

let n = 0;
function experiment(pairs: { method: string; teacher: string; student: string }[]): string {
  const d = path.join(dir, `case-${++n}`);
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'models.py'), MODELS_PY);
  const file = path.join(d, 'tiny.distill.json');
  fs.writeFileSync(file, JSON.stringify({
    name: 'tiny-torch',
    engine: 'torch',
    device: 'cpu',
    data: {
      train: { format: 'synthetic', kind: 'images', samples: 48, classes: 3, shape: [8, 8, 1], seed: 1 },
      test: { format: 'synthetic', kind: 'images', samples: 24, classes: 3, shape: [8, 8, 1], seed: 2 },
    },
    teacher: { module: 'models.py', export: 'teacher' },
    student: { module: 'models.py', export: 'student' },
    knowledge: pairs.map((p) => ({ kind: 'feature', method: p.method, weight: 1, pairs: [{ teacher: p.teacher, student: p.student }] })),
    training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
  }, null, 2));
  return file;
}

test('layers of a torch experiment: module paths, types, NHWC shapes, params; pairs resolved by the torch rules', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const file = experiment([{ method: 'at', teacher: '3', student: '1' }, { method: 'fitnet', teacher: '5', student: '1' }]);
  const a = await answerProbe({ kind: 'layers', experimentFile: file }) as LayersAnswer;
  assert.deepEqual(a.teacher.map((l) => [l.name, l.type]), [['0', 'Conv2d'], ['1', 'ReLU'], ['2', 'Conv2d'], ['3', 'ReLU'], ['4', 'AdaptiveAvgPool2d'], ['5', 'Flatten'], ['6', 'Linear']]);
  assert.deepEqual(a.student.find((l) => l.name === '1')?.outputShape, [null, 8, 8, 4]);
  assert.deepEqual(a.teacher.find((l) => l.name === '4')?.outputShape, [null, 2, 2, 8]);
  assert.equal(a.teacher.find((l) => l.name === '2')?.params, 8 * 8 * 9 + 8);
  assert.ok(a.teacher.find((l) => l.name === '2')!.flops > 0);
  assert.deepEqual(a.links[0], { entry: 0, pair: 0, method: 'at', teacher: '3', student: '1', adapter: 'none', adapterShape: [null, 8, 8, 4] });
  // a vector with a map: the torch engine's message is the TF.js engine's for the same (NHWC) shapes
  const tf = checkPair('fitnet', '5', '1', [null, 32], [null, 8, 8, 4]);
  assert.equal(tf.ok, false);
  assert.equal(a.links[1].error, (tf as { reason: string }).reason);
  assert.deepEqual(a.methods, METHOD_INFO.filter((m) => (m.kind === 'feature' || m.kind === 'relation') && !m.layerPairs).map((m) => ({ method: m.method, kind: m.kind, title: m.title })));
  // unsaved text in the editor is what is probed
  const text = fs.readFileSync(file, 'utf8').replace('"student": "1"', '"student": "0"');
  const b = await answerProbe({ kind: 'layers', experimentFile: file, text }) as LayersAnswer;
  assert.equal(b.links[0].student, '0');
});

test('checkPair: the Python rules answer as pairs.ts does on the shapes the layers answer reports', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const probe = new TorchProbeProcess();
  try {
    const cases: [string, (number | null)[], (number | null)[], string?][] = [
      ['fitnet', [null, 4, 4, 16], [null, 8, 8, 8]],
      ['fitnet', [null, 8, 8, 16], [null, 4, 4, 8]],
      ['at', [null, 16], [null, 8, 8, 8]],
      ['at', [null, 6, 6, 8], [null, 4, 4, 8]],
      ['fitnet', [null, 32], [null, 16]],
      ['nst', [null, 4, 4, 8], [null, 8, 8, 3]],
      ['sp', [null, 4, 4, 8], [null, 16]],
    ];
    for (const [method, ts, ss] of cases) {
      const py = await probe.request({ kind: 'checkPair', method, teacher: 't', student: 's', teacherShape: ts, studentShape: ss }) as PairCheckAnswer;
      assert.deepEqual(py, checkPair(method, 't', 's', ts, ss), `${method} ${JSON.stringify(ts)} ↔ ${JSON.stringify(ss)}`);
    }
  } finally {
    probe.dispose();
  }
});

test('check: the torch engine\'s problems, located in the file', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const file = experiment([{ method: 'at', teacher: '3', student: '9' }]);
  const problems = await answerProbe({ kind: 'check', experimentFile: file }) as ConfigError[];
  assert.equal(problems.length, 1);
  assert.deepEqual(problems[0].path, ['knowledge', 0, 'pairs', 0, 'student']);
  assert.equal(problems[0].message, 'the student has no layer "9"; closest: "0", "1", "2"');
  const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('"student": "9"')) + 1;
  assert.equal(problems[0].location.line, line);
  assert.deepEqual(await answerProbe({ kind: 'check', experimentFile: experiment([{ method: 'at', teacher: '3', student: '1' }]) }), []);
});

test('a model that does not build: a located ExperimentError; suggestions; feature-map choices of a run folder', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const file = experiment([{ method: 'at', teacher: '3', student: '1' }]);
  const text = fs.readFileSync(file, 'utf8').replace('"export": "student"', '"export": "studnet"');
  await assert.rejects(answerProbe({ kind: 'layers', experimentFile: file, text }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError);
    assert.deepEqual(e.errors[0].path.slice(0, 1), ['student']);
    assert.match(e.errors[0].message, /studnet/);
    return true;
  });
  const s = await answerProbe({ kind: 'suggest', experimentFile: file }) as SuggestAnswer;
  assert.equal(s.suggestions[0].teacher, '3');
  assert.equal(s.suggestions[0].student, '1');
  assert.match(s.suggestions[0].reason, /^same resolution 8×8, relative depth: teacher /);
  const inspect = await answerProbe({ kind: 'inspect', target: file }) as { text: string };
  assert.match(inspect.text, /^teacher: models\.py#teacher\n/);
  assert.match(inspect.text, /\n1 {2,}ReLU {2,}\[\?, 8, 8, 4\] +0 +256\n/);
  const e = await answerProbe({ kind: 'estimate', experimentFile: file }) as { seconds?: number; description?: string };
  assert.ok(e.seconds !== undefined && e.seconds > 0);
  // scratch-s1 and distill-s1: 1 epoch × ceil(48/16) steps each, of the student
  assert.match(e.description!, /^estimated training time .* \(6 steps of the student \(models\.py#student\) at [\d.]+ ms; measured over 3 steps;/);
  // a run folder as the worker creates it (no checkpoint yet): the samples and pairs are offered
  const runDir = path.join(path.dirname(file), '.distill', 'runs', 'tiny-torch', 'r1');
  fs.mkdirSync(runDir, { recursive: true });
  const { loadExperiment } = await import('../../src/config/parse');
  fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify({ experimentFile: file, experimentText: fs.readFileSync(file, 'utf8'), config: loadExperiment(file).config }));
  fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify({ jobs: { 'distill-s1': { kind: 'distill', seed: 1, model: 'student', teacher: 'teacher' } } }));
  const init = await answerProbe({ kind: 'featureMapsInit', runDir }) as FeatureMapsInitAnswer;
  assert.deepEqual(init.checkpoints, []);
  assert.equal(init.samples.length, 16);
  assert.equal(init.samples[0].h, 8);
  assert.deepEqual(init.pairs, [{ id: '0:0', label: 'at: 3 ↔ 1' }]);
});

test('the probe process is long-lived, started again when it dies, and never started in Restricted Mode', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const file = experiment([{ method: 'at', teacher: '3', student: '1' }]);
  const probe = new TorchProbeProcess();
  try {
    await answerTorchProbe({ kind: 'layers', experimentFile: file }, probe);
    const pid = probe.pid!;
    await answerTorchProbe({ kind: 'suggest', experimentFile: file }, probe);
    assert.equal(probe.pid, pid);
    assert.equal(probe.starts, 1);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (probe.pid !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const a = await answerTorchProbe({ kind: 'layers', experimentFile: file }, probe) as LayersAnswer;
    assert.equal(a.student.length, 5);
    assert.equal(probe.starts, 2);
    assert.notEqual(probe.pid, pid);
  } finally {
    probe.dispose();
  }
  const restricted = new TorchProbeProcess({ env: { ...process.env, [RESTRICTED_ENV]: '1' } });
  await assert.rejects(answerTorchProbe({ kind: 'layers', experimentFile: file }, restricted), (e: Error) => e.message.includes(RESTRICTED_MARK));
  assert.equal(restricted.starts, 0);
  // check in Restricted Mode: a problem at `engine`, no Python
  const problems = await answerTorchProbe({ kind: 'check', experimentFile: file }, restricted) as ConfigError[];
  assert.deepEqual(problems.map((p) => p.path), [['engine']]);
  assert.equal(restricted.starts, 0);
});

test('feature maps of a real torch run: the torch engine\'s checkpoint, figures as similarity.ts computes them on the same grids', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const file = experiment([{ method: 'fitnet', teacher: '3', student: '1' }]);
  const { runExperiment } = await import('../../src/engine/run');
  const run = await runExperiment({ experiment: file, runsDir: path.join(path.dirname(file), 'runs'), python: process.env.DISTILL_PYTHON });
  assert.equal(run.status, 'completed', run.error);
  const init = await answerProbe({ kind: 'featureMapsInit', runDir: run.runDir }) as FeatureMapsInitAnswer;
  assert.deepEqual(init.checkpoints.map((c) => c.id), ['distill-s1/epoch-0001']);
  const fm = await answerProbe({ kind: 'featureMaps', runDir: run.runDir, checkpoint: 'distill-s1/epoch-0001', sample: 1, entry: 0, pair: 0 }) as FeatureMapsAnswer;
  assert.equal(fm.adapter, 'conv1x1 4→8');
  assert.deepEqual([fm.teacherShape, fm.studentShape], [[null, 8, 8, 8], [null, 8, 8, 8]]);
  assert.equal(fm.batch, 24);
  // channel images (h×w each) back to one h×w×c map, as similarity.ts takes it
  const hwc = (g: { channels: number[][]; h: number; w: number }): number[] => {
    const c = g.channels.length;
    const out = new Array<number>(g.h * g.w * c);
    g.channels.forEach((img, ch) => img.forEach((v, i) => { out[i * c + ch] = v; }));
    return out;
  };
  const [tm, sm] = [hwc(fm.teacher), hwc(fm.student)];
  assert.ok(Math.abs(fm.cosine! - cosine(sm, tm)) < 1e-9, `${fm.cosine} vs ${cosine(sm, tm)}`);
  assert.ok(Math.abs(fm.mse! - mse(sm, tm)) < 1e-9 * Math.max(1, fm.mse!));
  const att = attentionMap(tm, 8, 8, 8);
  fm.attentionTeacher!.channels[0].forEach((v, i) => assert.ok(Math.abs(v - att[i]) < 1e-9));
  hwc(fm.difference!).forEach((v, i) => assert.ok(Math.abs(v - (sm[i] - tm[i])) < 1e-5));
  assert.ok(fm.cka! > 0 && fm.cka! <= 1 + 1e-9);
});

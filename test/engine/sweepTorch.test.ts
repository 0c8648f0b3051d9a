/**
 * A torch sweep trains its teacher once (src/runs/sweepTeacher.ts): the first point trains it, and
 * every later point uses that point's trained state_dict (models/teacher/model.pt) in the file's
 * own teacher architecture — no teacher job of its own, and the same teacher (the same test
 * accuracy, the same errors). The queue (`distill sweep`, runSweep), the local executor (runLocal:
 * one `distill sweep-point` engine process per point) and runSweepPoint itself. Needs an
 * interpreter with torch (/usr/bin/python3 here); without one the tests are skipped with the reason
 * printed, unless CI is set.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { runLocal } from '../../src/cli/sweepExecutors';
import { runSweep, runSweepPoint } from '../../src/engine/sweep';
import type { Report } from '../../src/runs/report';
import { readRun } from '../../src/runs/store';
import { createSweep, readSweep } from '../../src/runs/sweeps';
import { teacherShareable, trainedTeacher } from '../../src/runs/sweepTeacher';
import { TINY_MODELS_PY } from '../helpers/torchModels';
import { torchProbeSuite } from '../helpers/torchProbeSuite';

const suite = torchProbeSuite('sweepTorch', 'distill-sweeptorch-');

/** A torch experiment in its own folder: the tiny CNN teacher trained first, a derived student, a 2-point width sweep. */
function experiment(name: string, extra: Record<string, unknown> = {}): string {
  const dir = path.join(suite.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'models.py'), TINY_MODELS_PY);
  const file = path.join(dir, 'sweep.distill.json');
  fs.writeFileSync(file, JSON.stringify({
    name: 'torch-sweep', engine: 'torch', device: 'cpu', seeds: [1],
    data: {
      train: { format: 'synthetic', kind: 'images', samples: 96, classes: 3, shape: [8, 8, 1], seed: 1, noise: 0.1 },
      test: { format: 'synthetic', kind: 'images', samples: 60, classes: 3, shape: [8, 8, 1], seed: 2, noise: 0.1 },
    },
    teacher: { module: 'models.py', export: 'teacher', args: { width: 8 }, train: { epochs: 8, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    student: { derive: { width: 0.5 } },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
    baseline: false,
    sweep: { 'student.derive.width': [0.5, 1] },
    ...extra,
  }, null, 2));
  return file;
}

const report = (runDir: string): Report => JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Report;

/** What every torch sweep of these tests must show: p01 trained the teacher, every later point used it. */
function assertShared(sweepDir: string): void {
  const sweep = readSweep(sweepDir);
  assert.ok(sweep.points.every((p) => p.status === 'completed'), JSON.stringify(sweep.points.map((p) => p.error)));
  const runs = sweep.points.map((p) => path.join(sweepDir, p.runDir!));
  const trained = path.join(runs[0], 'models', 'teacher', 'model.pt');
  assert.deepEqual(sweep.teacher, { model: trained, from: 'p01', spec: { module: 'models.py', export: 'teacher', args: { width: 8 }, weights: trained } });
  // the teacher job only in the first point's run
  assert.ok(readRun(runs[0]).jobs.teacher, 'p01 trains the teacher');
  for (const r of runs.slice(1)) {
    assert.deepEqual(Object.keys(readRun(r).jobs), ['distill-s1'], `${r}: no teacher job`);
    assert.equal(fs.existsSync(path.join(r, 'models', 'teacher')), false);
  }
  // the same function: same test accuracy and errors, from a teacher that learned (chance is 1/3,
  // so an untrained teacher in a later point would not match)
  const [t1, ...later] = runs.map((r) => report(r).teacher!);
  assert.ok(t1.testAcc > 0.6, `the first point's teacher learned: ${t1.testAcc}`);
  for (const t of later) {
    assert.equal(t.testAcc, t1.testAcc);
    assert.equal(t.testErrors, t1.testErrors);
    assert.equal(t.params, t1.params);
  }
  // the students differ (the swept width), all taught
  assert.equal(new Set(runs.map((r) => report(r).student.params)).size, runs.length);
}

test('a torch sweep trains its teacher once: the later point uses the first point\'s model.pt (distill sweep)', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const sweepDir = createSweep(experiment('queue'));
  const end = await runSweep(sweepDir, {});
  assert.equal(end.status, 'completed');
  assertShared(sweepDir);
});

test('the same with `--executor local --parallel 2`: p01 alone first, then p02 and p03 side by side, each a `distill sweep-point` process', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const sweepDir = createSweep(experiment('local', { sweep: { 'student.derive.width': [0.25, 0.5, 1] } }));
  const lines: string[] = [];
  const end = await runLocal(sweepDir, { kind: 'local', parallel: 2, cluster: {}, python: process.env.DISTILL_PYTHON }, (l) => lines.push(l));
  assert.equal(end.status, 'completed', lines.join('\n'));
  assert.ok(lines.includes('[p01] runs first, alone: it trains the teacher the other points share'), lines.join('\n'));
  assertShared(sweepDir);
});

test('`distill sweep-point` one point at a time: the teacher shared once its point completed', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const sweepDir = createSweep(experiment('points'));
  await runSweepPoint(sweepDir, 0);
  assert.equal(readSweep(sweepDir).teacher?.from, 'p01');
  await runSweepPoint(sweepDir, 1);
  assertShared(sweepDir);
  assert.equal(readSweep(sweepDir).status, 'completed');
});

test('sweep teacher rules: a torch sweep that varies the teacher shares nothing; a TorchScript teacher is not shareable', (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const text = (teacher: unknown, engine = 'torch'): string => JSON.stringify({ engine, teacher });
  const train = { epochs: 1 };
  assert.equal(teacherShareable(text({ module: 'm.py', export: 't', train })), true);
  assert.equal(teacherShareable(text({ torchvision: 'resnet18', train })), true);
  assert.equal(teacherShareable(text({ model: 't.pt', train })), false);
  assert.equal(teacherShareable(text({ module: 'm.py', export: 't' })), false, 'nothing to train, nothing to share');
  assert.equal(teacherShareable(text({ module: 'models.ts', export: 't', train }, 'tfjs')), true);
  // the trained file each engine leaves, and what a later point's teacher becomes
  const run = path.join(suite.dir, 'rules-run');
  fs.mkdirSync(path.join(run, 'models', 'teacher'), { recursive: true });
  assert.equal(trainedTeacher(text({ module: 'm.py', export: 't', train }), run, 'p01'), undefined, 'no model.pt yet');
  fs.writeFileSync(path.join(run, 'models', 'teacher', 'model.pt'), '');
  const pt = path.join(run, 'models', 'teacher', 'model.pt');
  assert.deepEqual(trainedTeacher(text({ module: 'm.py', export: 't', weights: 'old.pt', train }), run, 'p01'),
    { model: pt, from: 'p01', spec: { module: 'm.py', export: 't', weights: pt } });
  assert.equal(trainedTeacher(text({ model: 't.pt', train }), run, 'p01'), undefined);
  assert.equal(trainedTeacher(text({ module: 'models.ts', export: 't', train }, 'tfjs'), run, 'p01'), undefined, 'TF.js: a model.json, not a model.pt');
});

test('a torch sweep over a teacher field: every point trains its own teacher', async (t) => {
  const skip = suite.skip();
  if (skip) return t.skip(skip);
  const sweepDir = createSweep(experiment('varies', { sweep: { 'teacher.args.width': [4, 8] }, student: { module: 'models.py', export: 'student' } }));
  const end = await runSweep(sweepDir, {});
  assert.equal(end.status, 'completed', JSON.stringify(end.points.map((p) => p.error)));
  assert.equal(end.teacher, undefined);
  assert.deepEqual(end.points.map((p) => Boolean(readRun(path.join(sweepDir, p.runDir!)).jobs.teacher)), [true, true]);
});

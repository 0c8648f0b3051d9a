/**
 * Every knowledge method and every training scheme trains for a few epochs on synthetic images
 * through the real engine: finite, decreasing loss, per-pair losses recorded, adapters kept out of
 * the exported student, no tensor leak across epochs — plus the model-dependent bad inputs
 * (unknown layers, incompatible ranks, FSP spatial sizes, self heads), located in the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runExperiment } from '../../src/engine/run';
import type { RunResult } from '../../src/engine/run';
import { ExperimentError } from '../../src/config/parse';
import { readRun } from '../../src/runs/store';
import { loadLayersModelFromFile } from '../../src/engine/models/fileIO';
import { imageExperiment, metricLines, teacherCnn, tempDir, writeExperiment } from '../helpers/experiments';
import { runFolderViolations } from '../helpers/runSchemas';

interface Observed { result: RunResult; tensorsAtEpoch: Record<string, number[]> }

async function run(exp: Record<string, unknown>): Promise<Observed> {
  const dir = tempDir();
  const tensorsAtEpoch: Record<string, number[]> = {};
  const result = await runExperiment({
    experiment: writeExperiment(dir, exp),
    emit: (m) => {
      if (m.type === 'epoch') (tensorsAtEpoch[m.job] ??= []).push(tf.memory().numTensors);
    },
  });
  // every run folder of every method and scheme keeps the run-folder schemas (schema/*.schema.json)
  if (result.status === 'completed') assert.deepEqual(runFolderViolations(result.runDir), [], `run folder ${result.runDir}`);
  return { result, tensorsAtEpoch };
}

/** The job's epoch-mean total loss decreases and every step's losses are finite. */
function assertTrains(runDir: string, job: string, terms: string[]): void {
  const lines = metricLines(runDir);
  const steps = lines.filter((l) => l.type === 'step' && l.job === job);
  assert.ok(steps.length > 0, `${job} logged steps`);
  for (const s of steps) {
    const losses = s.losses as Record<string, number>;
    for (const t of [...terms, 'total']) assert.ok(Number.isFinite(losses[t]), `${job} step ${s.step}: ${t} = ${losses[t]}`);
  }
  const epochs = lines.filter((l) => l.type === 'epoch' && l.job === job).map((l) => (l.losses as Record<string, number>).total);
  assert.equal(epochs.length, 3);
  assert.ok(epochs[2] < epochs[0], `${job}: total loss should decrease over epochs: ${epochs.join(' → ')}`);
}

function assertNoLeak(o: Observed, job: string): void {
  const counts = o.tensorsAtEpoch[job];
  assert.ok(counts && counts.length === 3, `${job} epochs observed`);
  assert.equal(counts[2], counts[1], `${job}: tensors steady across epochs (${counts.join(', ')})`);
}

const METHOD_CASES: { name: string; entry: Record<string, unknown>; terms: string[]; pairs?: string[] }[] = [
  { name: 'kd', entry: { kind: 'response', method: 'kd', temperature: 4, weight: 1 }, terms: ['kd', 'labels'] },
  { name: 'dkd', entry: { kind: 'response', method: 'dkd', temperature: 4, alpha: 1, beta: 2, warmup: 2, weight: 1 }, terms: ['dkd', 'labels'] },
  { name: 'kd standardize', entry: { kind: 'response', method: 'kd', temperature: 2, standardize: true, weight: 1 }, terms: ['kd', 'labels'] },
  { name: 'dkd standardize', entry: { kind: 'response', method: 'dkd', temperature: 2, standardize: true, weight: 1 }, terms: ['dkd', 'labels'] },
  { name: 'dist', entry: { kind: 'response', method: 'dist', temperature: 2, beta: 1, gamma: 1, weight: 1 }, terms: ['dist', 'labels'] },
  { name: 'dist standardize', entry: { kind: 'response', method: 'dist', standardize: true, weight: 1 }, terms: ['dist', 'labels'] },
  { name: 'ctkd', entry: { kind: 'response', method: 'ctkd', initialTemperature: 4, reversalEpochs: 2, weight: 1 }, terms: ['ctkd', 'labels'] },
  { name: 'fitnet', entry: { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }, { teacher: 'conv_2', student: 'conv_1' }] },
    terms: ['fitnet', 'labels'], pairs: ['conv_2→conv_2', 'conv_2→conv_1'] },
  { name: 'at', entry: { kind: 'feature', method: 'at', weight: 10, pairs: [{ teacher: 'conv_1', student: 'conv_1' }] }, terms: ['at', 'labels'], pairs: ['conv_1→conv_1'] },
  { name: 'nst', entry: { kind: 'feature', method: 'nst', weight: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] }, terms: ['nst', 'labels'] },
  { name: 'rkd-distance', entry: { kind: 'relation', method: 'rkd-distance', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }, terms: ['rkd-distance', 'labels'] },
  { name: 'rkd-angle', entry: { kind: 'relation', method: 'rkd-angle', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }, terms: ['rkd-angle', 'labels'] },
  { name: 'sp', entry: { kind: 'relation', method: 'sp', weight: 1, pairs: [{ teacher: 'pool_2', student: 'pool_2' }] }, terms: ['sp', 'labels'] },
  { name: 'pkt', entry: { kind: 'relation', method: 'pkt', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }, terms: ['pkt', 'labels'] },
  { name: 'cc', entry: { kind: 'relation', method: 'cc', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }, terms: ['cc', 'labels'] },
  { name: 'crd', entry: { kind: 'relation', method: 'crd', weight: 1, embedding: 16, negatives: 32, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] },
    terms: ['crd', 'labels'], pairs: ['dense_1→dense_1'] },
  { name: 'reviewkd', entry: { kind: 'feature', method: 'reviewkd', weight: 1, midChannels: 8, pairs: [{ teacher: 'conv_1', student: 'conv_1' }, { teacher: 'conv_2', student: 'conv_2' }] },
    terms: ['reviewkd', 'labels'], pairs: ['conv_1→conv_1', 'conv_2→conv_2'] },
  { name: 'fsp', entry: { kind: 'relation', method: 'fsp', weight: 1, pairs: [{ teacher: ['conv_1', 'conv_1'], student: ['conv_1', 'conv_1'] }] }, terms: ['fsp', 'labels'] },
];

for (const c of METHOD_CASES) {
  test(`method ${c.name}: trains with finite, decreasing loss and no tensor leak`, async () => {
    const o = await run(imageExperiment({ knowledge: [c.entry] }));
    assert.equal(o.result.status, 'completed', o.result.error);
    assertTrains(o.result.runDir, 'distill-s1', c.terms);
    assertNoLeak(o, 'distill-s1');
    if (c.pairs) {
      const step = metricLines(o.result.runDir).find((l) => l.type === 'step' && l.job === 'distill-s1')!;
      const pairs = (step.pairs as Record<string, Record<string, number>>)[c.name];
      assert.deepEqual(Object.keys(pairs), c.pairs);
      for (const v of Object.values(pairs)) assert.ok(Number.isFinite(v));
    }
    // adapters are not part of the exported student
    const student = await loadLayersModelFromFile(path.join(o.result.runDir, 'student', 'model.json'));
    assert.ok(student.layers.every((l) => !l.name.startsWith('adapter')), 'no adapter layer in the exported student');
    student.dispose();
  });
}

test('method multi-kd: several teachers, weighted', async () => {
  const dir = tempDir();
  // a pre-trained second teacher: the trained teacher of a first run
  const first = await runExperiment({ experiment: writeExperiment(dir, imageExperiment({ knowledge: [{ kind: 'response', method: 'kd', temperature: 2, weight: 1 }] })) });
  assert.equal(first.status, 'completed', first.error);
  fs.cpSync(path.join(first.runDir, 'models', 'teacher'), path.join(dir, 'teacher2'), { recursive: true });
  const o = await run(imageExperiment({
    knowledge: [{ kind: 'response', method: 'multi-kd', temperature: 4, weight: 1, teacherWeight: 1, teachers: [{ model: path.join(dir, 'teacher2', 'model.json'), weight: 2 }] }],
  }));
  assert.equal(o.result.status, 'completed', o.result.error);
  assertTrains(o.result.runDir, 'distill-s1', ['multi-kd', 'labels']);
  assertNoLeak(o, 'distill-s1');
});

test('weight schedule: linear warm-up scales a term, the logged value stays unweighted', async () => {
  const o = await run(imageExperiment({
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1, schedule: { kind: 'linear-warmup', epochs: 3 } }],
    labels: { weight: 0 },
  }));
  assert.equal(o.result.status, 'completed', o.result.error);
  const steps = metricLines(o.result.runDir).filter((l) => l.type === 'step' && l.job === 'distill-s1');
  for (const s of steps) {
    const l = s.losses as Record<string, number>;
    const factor = Math.min(1, (s.epoch as number) / 3);
    assert.ok(Math.abs(l.total - factor * l.kd) < 1e-4 * Math.max(1, l.kd), `epoch ${s.epoch}: total ${l.total} = ${factor}·kd ${l.kd}`);
  }
});

test('scheme online: teacher and student learn together (deep mutual learning)', async () => {
  const o = await run(imageExperiment({
    teacher: teacherCnn,
    scheme: { kind: 'online', peers: 3 },
    knowledge: [],
  }));
  assert.equal(o.result.status, 'completed', o.result.error);
  const run0 = readRun(o.result.runDir);
  assert.deepEqual(Object.keys(run0.jobs), ['online-s1']);
  assertTrains(o.result.runDir, 'online-s1', ['teacher.labels', 'teacher.dml', 'student.labels', 'student.dml', 'student2.labels', 'student2.dml']);
  assertNoLeak(o, 'online-s1');
  const epoch = metricLines(o.result.runDir).find((l) => l.type === 'epoch' && l.job === 'online-s1')!;
  assert.equal(typeof (epoch.extras as Record<string, number>)['peer:teacher.testAcc'], 'number');
  assert.equal(typeof epoch.agreement, 'number');
  assert.ok(fs.existsSync(path.join(o.result.runDir, 'models', 'online-s1-teacher', 'model.json')));
  const report = JSON.parse(fs.readFileSync(path.join(o.result.runDir, 'report.json'), 'utf8'));
  assert.ok(report.teacher.params > report.student.params);
});

test('scheme self: auxiliary heads learn from the deepest output; heads are not exported', async () => {
  const o = await run(imageExperiment({
    teacher: undefined,
    scheme: { kind: 'self', heads: [{ layer: 'pool_1' }, { layer: 'pool_2' }] },
    baseline: true,
  }));
  assert.equal(o.result.status, 'completed', o.result.error);
  assertTrains(o.result.runDir, 'self-s1', ['labels', 'head:pool_1.labels', 'head:pool_1.kd', 'head:pool_1.hint', 'head:pool_2.kd']);
  assertNoLeak(o, 'self-s1');
  const epoch = metricLines(o.result.runDir).filter((l) => l.type === 'epoch' && l.job === 'self-s1').pop()!;
  const extras = epoch.extras as Record<string, number>;
  assert.ok(extras['head:pool_1.testAcc'] >= 0 && extras['head:pool_2.testAcc'] <= 1);
  const student = await loadLayersModelFromFile(path.join(o.result.runDir, 'student', 'model.json'));
  assert.ok(student.layers.every((l) => !l.name.startsWith('head_') && !l.name.startsWith('hint_')));
  student.dispose();
  const report = JSON.parse(fs.readFileSync(path.join(o.result.runDir, 'report.json'), 'utf8'));
  assert.equal(report.teacher, undefined);
  assert.equal(report.summary.scratch.testAcc.n, 1);
});

test('scheme born-again: generation g+1 learns from generation g', async () => {
  const o = await run(imageExperiment({
    scheme: { kind: 'born-again', generations: 2 },
    student: teacherCnn,
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
  }));
  assert.equal(o.result.status, 'completed', o.result.error);
  const jobs = readRun(o.result.runDir).jobs;
  assert.deepEqual(Object.keys(jobs), ['teacher', 'born-g1-s1', 'born-g2-s1']);
  assert.equal(jobs['born-g2-s1'].teacher, 'born-g1-s1');
  assertTrains(o.result.runDir, 'born-g2-s1', ['kd', 'labels']);
  const report = JSON.parse(fs.readFileSync(path.join(o.result.runDir, 'report.json'), 'utf8'));
  assert.equal(report.exportedJob, 'born-g2-s1');
});

test('scheme ta-chain: teacher → assistant → student, with feature pairs at every stage', async () => {
  const assistant = { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [4, 6], dense: 12, classes: 4 } };
  const o = await run(imageExperiment({
    scheme: { kind: 'ta-chain', assistants: [assistant] },
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 1 },
      { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] },
    ],
  }));
  assert.equal(o.result.status, 'completed', o.result.error);
  const jobs = readRun(o.result.runDir).jobs;
  assert.deepEqual(Object.keys(jobs), ['teacher', 'ta1-s1', 'distill-s1']);
  assert.equal(jobs['distill-s1'].teacher, 'ta1-s1');
  assertTrains(o.result.runDir, 'ta1-s1', ['kd', 'fitnet', 'labels']);
  assertTrains(o.result.runDir, 'distill-s1', ['kd', 'fitnet', 'labels']);
});

test('fitnet hint stage, then resume after a stop keeps adapters and continues', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, imageExperiment({
    knowledge: [
      { kind: 'feature', method: 'fitnet', weight: 1, hintEpochs: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] },
      { kind: 'response', method: 'kd', temperature: 4, weight: 1 },
    ],
  }));
  let stopNow = false;
  const first = await runExperiment({
    experiment: file,
    emit: (m) => {
      if (m.type === 'epoch' && m.job === 'distill-s1' && m.epoch === 1) stopNow = true;
    },
    shouldStop: () => stopNow,
  });
  assert.equal(first.status, 'cancelled', first.error);
  const resumed = await runExperiment({ resume: first.runDir });
  assert.equal(resumed.status, 'completed', resumed.error);
  const epochs = metricLines(first.runDir).filter((l) => l.type === 'epoch' && l.job === 'distill-s1').map((l) => l.epoch);
  assert.deepEqual(epochs, [1, 2, 3]);
  // hint stage: in epoch 1 the total is the fitnet term alone; afterwards kd and labels join in
  for (const st of metricLines(first.runDir).filter((l) => l.type === 'step' && l.job === 'distill-s1')) {
    const l = st.losses as Record<string, number>;
    const expected = st.epoch === 1 ? l.fitnet : l.fitnet + l.kd + l.labels;
    assert.ok(Math.abs(l.total - expected) < 1e-4 * Math.max(1, expected), `epoch ${st.epoch}: total ${l.total} vs ${expected}`);
  }
});

/** Model-dependent problems are refused before any run folder exists (the pre-flight), each located in the experiment file. */
async function locatedErrors(exp: Record<string, unknown>): Promise<string[]> {
  const dir = tempDir();
  const file = writeExperiment(dir, exp);
  const err = await runExperiment({ experiment: file }).then((r) => assert.fail(`expected a refusal, got ${r.status} in ${r.runDir}`), (e: unknown) => e);
  assert.ok(err instanceof ExperimentError, String(err));
  assert.equal(fs.existsSync(path.join(dir, '.distill')), false, 'no run folder');
  return err.message.split('\n').map((line) => line.replace(file, 'exp.distill.json'));
}

test('an unknown layer name is an error at the pair, listing the closest names', async () => {
  const errors = await locatedErrors(imageExperiment({
    knowledge: [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'conv2', student: 'conv_2' }] }],
  }));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^exp\.distill\.json:\d+:\d+ {2}knowledge\[0\]\.pairs\[0\]\.teacher: the teacher has no layer "conv2"; closest: "conv_2", "conv_1"/);
});

test('a pair of incompatible ranks for the method names both layers, both shapes and the fix', async () => {
  const errors = await locatedErrors(imageExperiment({
    knowledge: [{ kind: 'feature', method: 'at', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] }],
  }));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /knowledge\[0\]\.pairs\[0\]: at: teacher "dense_1" \[\?, ?16\] ↔ student "dense_1" \[\?, ?8\]: at needs tensors of rank 4 .*use "fitnet" with a "dense" adapter/);
});

test('FSP layers of different spatial sizes are refused with both sizes', async () => {
  const errors = await locatedErrors(imageExperiment({
    knowledge: [{ kind: 'relation', method: 'fsp', weight: 1, pairs: [{ teacher: ['conv_1', 'conv_2'], student: ['conv_1', 'conv_1'] }] }],
  }));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /knowledge\[0\]\.pairs\[0\]\.teacher: fsp: the teacher's layers "conv_1" \[\?, ?8, ?8, ?6\] and "conv_2" \[\?, ?4, ?4, ?8\] must be feature maps of the same spatial size/);
});

test('a self-distillation head on a layer that does not exist', async () => {
  const errors = await locatedErrors(imageExperiment({ teacher: undefined, scheme: { kind: 'self', heads: [{ layer: 'pool_9' }] } }));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /scheme\.heads\[0\]\.layer: the student has no layer "pool_9"; closest: "pool_1", "pool_2"/);
});

test('augmented training images: the teacher runs on every batch (no cached outputs) and the run trains', async () => {
  const dir = tempDir();
  const exp = imageExperiment({ knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }] });
  (exp.data as Record<string, unknown>).augment = { shift: 1 };
  const logs: string[] = [];
  const result = await runExperiment({ experiment: writeExperiment(dir, exp), emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(result.status, 'completed', result.error);
  assert.ok(logs.some((l) => /augmented \(data\.augment\), so the teacher runs on every batch/.test(l)), logs.join('\n'));
  assertTrains(result.runDir, 'distill-s1', ['kd', 'labels']);
});

test('teacher feature cache: float16 features give the same losses as running the teacher per batch; 0 disables it', async () => {
  const knowledge = [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] }];
  const runWith = async (mb: number) => {
    const logs: string[] = [];
    const r = await runExperiment({
      experiment: writeExperiment(tempDir(), imageExperiment({ knowledge, teacherCacheMB: mb })),
      emit: (m) => { if (m.type === 'log') logs.push(m.message); },
    });
    assert.equal(r.status, 'completed', r.error);
    const steps = metricLines(r.runDir).filter((l) => l.type === 'step' && l.job === 'distill-s1');
    return { logs, losses: steps.map((s) => (s.losses as Record<string, number>).fitnet) };
  };
  const cached = await runWith(64);
  const perBatch = await runWith(0);
  assert.ok(cached.logs.some((l) => /teacher features cached for conv_2: \d+ MB as float16/.test(l)), cached.logs.join('\n'));
  assert.ok(perBatch.logs.some((l) => /teacher feature cache disabled \(teacherCacheMB 0\): the teacher runs on every batch for conv_2/.test(l)));
  // the same seed, data and weights: the first step differs only by float16 rounding of the features
  assert.ok(Math.abs(cached.losses[0] - perBatch.losses[0]) <= 2e-3 * Math.abs(perBatch.losses[0]), `${cached.losses[0]} vs ${perBatch.losses[0]}`);
});

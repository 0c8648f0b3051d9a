/**
 * A whole experiment in-process on synthetic data: the run folder's files, the report, the
 * exported student, per-term metrics, failures (NaN loss, mismatched models) and no tensor leak.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runExperiment } from '../../src/engine/run';
import { ExperimentError } from '../../src/config/parse';
import { readRun } from '../../src/runs/store';
import { loadLayersModelFromFile } from '../../src/engine/models/fileIO';
import { listCheckpoints } from '../../src/engine/runs/checkpoints';
import { metricLines, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';
import type { Report } from '../../src/runs/report';

test('a synthetic experiment runs to completion and fills its run folder', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ seeds: [1, 2] }));
  const events: string[] = [];
  const result = await runExperiment({ experiment: file, emit: (m) => events.push(m.type) });
  assert.equal(result.status, 'completed', result.error);
  const runDir = result.runDir;
  assert.equal(path.dirname(path.dirname(runDir)), path.join(dir, '.distill', 'runs'));
  for (const f of ['config.json', 'run.json', 'metrics.jsonl', 'report.json', 'student/model.json', 'student/weights.bin',
    'models/teacher/model.json', 'models/scratch-s1/model.json', 'models/distill-s2/model.json']) {
    assert.ok(fs.existsSync(path.join(runDir, f)), `${f} exists`);
  }
  const run = readRun(runDir);
  assert.equal(run.status, 'completed');
  assert.ok(run.backend?.name);
  assert.ok(run.versions['tfjs-core']);
  assert.deepEqual(Object.keys(run.jobs), ['teacher', 'scratch-s1', 'distill-s1', 'scratch-s2', 'distill-s2']);
  assert.ok(Object.values(run.jobs).every((j) => j.status === 'completed' && j.completedEpochs === j.epochs));

  const lines = metricLines(runDir);
  const steps = lines.filter((l) => l.type === 'step' && l.job === 'distill-s1');
  assert.ok(steps.length > 0);
  for (const s of steps) {
    const losses = s.losses as Record<string, number>;
    assert.deepEqual(Object.keys(losses).sort(), ['kd', 'labels', 'total']);
    assert.ok(Math.abs(losses.total - (0.9 * losses.kd + 0.1 * losses.labels)) < 1e-4, 'total = Σ wᵢ·termᵢ');
  }
  const scratchSteps = lines.filter((l) => l.type === 'step' && l.job === 'scratch-s1');
  assert.deepEqual(Object.keys(scratchSteps[0].losses as object).sort(), ['labels', 'total']);
  const epochs = lines.filter((l) => l.type === 'epoch');
  assert.equal(epochs.length, 2 + 4 * 2);
  const e = epochs.find((l) => l.job === 'distill-s1' && l.epoch === 2)!;
  for (const k of ['trainAcc', 'valAcc', 'testAcc', 'testErrors', 'agreement', 'klTeacher']) assert.equal(typeof e[k], 'number', k);
  assert.equal(listCheckpoints(runDir, 'distill-s1').length, 2);

  const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Required<Report>;
  assert.equal(report.summary.distill!.testAcc.n, 2);
  assert.equal(report.teacher.params, 16 * 64 + 64 + 64 * 4 + 4);
  assert.equal(report.student.params, 16 * 8 + 8 + 8 * 4 + 4);
  assert.equal(report.teacher.bytes, 4 * report.teacher.params);
  assert.ok(report.compression.params > 7 && report.compression.params < 8);
  assert.ok(report.teacher.testAcc > 0.5, `teacher learned: ${report.teacher.testAcc}`);
  const student = await loadLayersModelFromFile(path.join(runDir, 'student', 'model.json'));
  assert.equal(student.countParams(), report.student.params);
  student.dispose();
  assert.ok(events.includes('started') && events.includes('progress') && events.includes('epoch') && events.includes('done'));
});

test('a run leaves no tensors behind', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 },
    train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } } }));
  // warm-up run: backend init and kernel caches allocate once
  await runExperiment({ experiment: file });
  const before = tf.memory().numTensors;
  const r = await runExperiment({ experiment: file });
  assert.equal(r.status, 'completed', r.error);
  assert.equal(tf.memory().numTensors, before);
});

test('a run stopped mid-way, or failing, leaves no tensors behind either (the fixed teacher included)', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ baseline: false }));
  await runExperiment({ experiment: file });
  const before = tf.memory().numTensors;
  let epochs = 0;
  const stopped = await runExperiment({ experiment: file, emit: (m) => { if (m.type === 'epoch' && m.job === 'distill-s1') epochs++; }, shouldStop: () => epochs > 0 });
  assert.equal(stopped.status, 'cancelled', stopped.error);
  assert.equal(tf.memory().numTensors, before, 'after a stop');
  // a failure after the teacher is loaded: a NaN loss in the distillation job
  const bad = writeExperiment(dir, syntheticExperiment({ baseline: false, training: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', learningRate: 1e30 } } }), 'bad.distill.json');
  const failed = await runExperiment({ experiment: bad });
  assert.equal(failed.status, 'failed');
  assert.equal(tf.memory().numTensors, before, 'after a failure');
});

test('a NaN loss stops the run at that step, names the term, keeps earlier checkpoints and metrics', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    baseline: false,
    training: { epochs: 3, batchSize: 32, optimizer: { kind: 'sgd', learningRate: 1e38 }, logEvery: 1 },
  }));
  const result = await runExperiment({ experiment: file });
  assert.equal(result.status, 'failed');
  assert.match(result.error!, /distill-s1: loss term "(kd|labels|total)" is (NaN|Infinity|-Infinity) at epoch \d+, step \d+ \(global step \d+\)/);
  const run = readRun(result.runDir);
  assert.equal(run.status, 'failed');
  assert.equal(run.error, result.error);
  assert.equal(run.jobs.teacher.status, 'completed');
  assert.equal(listCheckpoints(result.runDir, 'teacher').length, 2, 'teacher checkpoints kept');
  const lines = metricLines(result.runDir);
  assert.ok(lines.some((l) => l.type === 'epoch' && l.job === 'teacher'), 'earlier metrics kept');
  assert.ok(lines.some((l) => l.type === 'event' && l.event === 'failed'));
});

test('a student whose output width differs from the teacher is refused before any run folder, with both widths', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [8], classes: 5 } },
  }));
  assert.match(await refusedBeforeRunFolder(file), /student \(models\.ts#mlp\): its output has 5 units, the teacher's has 4/);
});

test('labels beyond the model outputs are refused, naming the range', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [8], classes: 3 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
  }));
  assert.match(await refusedBeforeRunFolder(file), /labels go up to 3, but the teacher \(models\.ts#mlp\) has 3 outputs \(labels must be in 0\.\.2\)/);
});

test('a model input that does not fit the data is refused with both shapes', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 20, hidden: [8], classes: 4 } },
  }));
  assert.match(await refusedBeforeRunFolder(file), /input has shape \[20\] per sample, but the data's samples have shape \[16\]/);
});

test('a pre-trained teacher model.json is used as it is; a corrupt one is refused before any run folder, naming the file', async () => {
  const dir = tempDir();
  const first = await runExperiment({ experiment: writeExperiment(dir, syntheticExperiment({ seeds: [1], baseline: false })) });
  assert.equal(first.status, 'completed', first.error);
  const teacherJson = path.join(first.runDir, 'models', 'teacher', 'model.json');
  const dir2 = tempDir();
  fs.cpSync(path.dirname(teacherJson), path.join(dir2, 'teacher'), { recursive: true });
  const exp = syntheticExperiment({ teacher: { model: 'teacher/model.json' }, baseline: false });
  const ok = await runExperiment({ experiment: writeExperiment(dir2, exp) });
  assert.equal(ok.status, 'completed', ok.error);
  assert.equal(readRun(ok.runDir).jobs.teacher, undefined, 'no teacher training job');

  fs.writeFileSync(path.join(dir2, 'teacher', 'model.json'), '{"modelTopology": ');
  assert.match(await refusedBeforeRunFolder(writeExperiment(dir2, exp)), /teacher[/\\]model\.json: not valid JSON/);

  fs.cpSync(path.dirname(teacherJson), path.join(dir2, 'teacher'), { recursive: true });
  const w = path.join(dir2, 'teacher', 'weights.bin');
  fs.truncateSync(w, fs.statSync(w).size - 8);
  assert.match(await refusedBeforeRunFolder(writeExperiment(dir2, exp)), /weights\.bin: weight data is \d+ bytes, but .*model\.json weightsManifest\[0\] expects \d+ bytes/);
});

test('a learning-rate schedule drives every step (warm-up then cosine), and a resumed run continues on the same curve', async () => {
  const dir = tempDir();
  const optimizer = { kind: 'adam', learningRate: 0.02, schedule: 'cosine', warmupEpochs: 0.5, minLearningRate: 0.001 };
  const file = writeExperiment(dir, syntheticExperiment({
    baseline: false,
    training: { epochs: 3, batchSize: 32, optimizer, logEvery: 1 },
  }));
  let stopNow = false;
  const first = await runExperiment({
    experiment: file,
    emit: (m) => {
      if (m.type === 'progress' && m.job === 'distill-s1' && m.epoch === 2 && m.step >= 3) stopNow = true;
    },
    shouldStop: () => stopNow,
  });
  assert.equal(first.status, 'cancelled', first.error);
  const resumed = await runExperiment({ resume: first.runDir });
  assert.equal(resumed.status, 'completed', resumed.error);
  const steps = metricLines(first.runDir).filter((l) => l.type === 'step' && l.job === 'distill-s1');
  const perEpoch = 448 / 32; // 512 samples less the 1/8 validation split, batches of 32
  assert.equal(steps.length, 3 * perEpoch, 'every step logged once across the stop');
  const total = 3 * perEpoch;
  const warm = 0.5 * perEpoch;
  steps.forEach((s) => {
    const k = (s.globalStep as number) - 1; // the step's 0-based index
    const expected = k < warm ? (0.02 * (k + 1)) / warm : 0.001 + (0.019 * (1 + Math.cos((Math.PI * (k - warm)) / (total - 1 - warm)))) / 2;
    assert.ok(Math.abs((s.lr as number) - expected) < 1e-12, `step ${k}: lr ${String(s.lr)} vs ${expected}`);
  });
  assert.ok(Math.abs((steps[steps.length - 1].lr as number) - 0.001) < 1e-12, 'ends at minLearningRate');
});

/**
 * Bad models are refused by the pre-flight (what `distill check` does) before a run folder exists:
 * the located message of an ExperimentError, and no new folder under the runs folder.
 */
async function refusedBeforeRunFolder(file: string): Promise<string> {
  const runs = path.join(path.dirname(file), '.distill', 'runs');
  const before = fs.existsSync(runs) ? fs.readdirSync(runs, { recursive: true }).length : 0;
  const err = await runExperiment({ experiment: file }).then((r) => assert.fail(`expected a refusal, got ${r.status} in ${r.runDir}`), (e: unknown) => e);
  assert.ok(err instanceof ExperimentError, String(err));
  assert.match(err.message, /exp\.distill\.json:\d+:\d+ {2}/);
  assert.equal(fs.existsSync(runs) ? fs.readdirSync(runs, { recursive: true }).length : 0, before, 'no run folder created');
  return err.message;
}

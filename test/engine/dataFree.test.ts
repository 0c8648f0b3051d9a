/**
 * Data-free distillation end to end (issue 18, TF.js engine): a tiny BN teacher trained here on
 * synthetic images, a run that synthesises inputs from it (job synthesize → synthesized/), distils
 * the student on them and compares with real-data KD and scratch on the reference (report.json
 * dataFree); a synthesis stopped between batches resumes with only the missing batches, the
 * finished ones byte for byte as they were and all of them equal to an uninterrupted run's; a
 * teacher without BatchNormalization and the config rules are refused, located.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runExperiment } from '../../src/engine/run';
import { ExperimentError } from '../../src/config/errors';
import { loadExperimentText } from '../../src/config/parse';
import { readRun } from '../../src/runs/store';
import { generateSynthetic } from '../../src/engine/data';
import { saveLayersModel } from '../../src/engine/models/fileIO';
import { withSeededRandom } from '../../src/engine/training/random';
import type { Report } from '../../src/runs/report';
import { cnn, cnnBn } from '../../examples/models';
import { summaryTable } from '../../src/cli/main';
import { dataFreeShapeProblems } from '../../src/engine/synthesis/dataFreeCheck';
import type { ExperimentConfig } from '../../src/config/types';
import { metricLines, studentCnn, tempDir, writeExperiment } from '../helpers/experiments';

const SHAPE = [8, 8, 1];
const trainSrc = { format: 'synthetic', kind: 'images', samples: 256, classes: 4, shape: SHAPE, seed: 1 };
const testSrc = { format: 'synthetic', kind: 'images', samples: 64, classes: 4, shape: SHAPE, seed: 2 };

/** Trains a small teacher (seeded) on the synthetic training images and saves it as dir/<name>/model.json. */
async function savedTeacher(dir: string, name: string, withBn: boolean): Promise<string> {
  const ds = generateSynthetic(trainSrc as Parameters<typeof generateSynthetic>[0]);
  const x = tf.tensor(ds.x.map((v) => v / ds.maxValue), [ds.size, ...SHAPE]);
  const y = tf.oneHot(tf.tensor1d(ds.y, 'int32'), 4);
  await withSeededRandom(5, async () => {
    const model = withBn ? cnnBn(tf, { inputShape: [8, 8, 1], filters: [4, 6], dense: 8, classes: 4 }) : cnn(tf, { inputShape: [8, 8, 1], filters: [4, 6], dense: 8, classes: 4 });
    model.compile({ optimizer: tf.train.adam(0.02), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b) });
    await model.fit(x, y, { epochs: 4, batchSize: 32, shuffle: false, verbose: 0 });
    await saveLayersModel(model, path.join(dir, name));
    model.dispose();
  });
  tf.dispose([x, y]);
  return `${name}/model.json`;
}

function dataFreeExperiment(teacher: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'data-free', seeds: [1],
    data: {
      train: { format: 'teacher-synthesized', samples: 48, batchSize: 16, iterations: 15, learningRate: 0.1, seed: 3, reference: trainSrc, ...extra },
      test: testSrc,
    },
    teacher: { model: teacher },
    student: studentCnn,
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 2, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 5 },
    baseline: true,
  };
}

const readBatch = (runDir: string, name: string) => fs.readFileSync(path.join(runDir, 'synthesized', name));

test('a data-free run synthesises from the BN teacher, distils on it, and reports against real-data KD and scratch; a stopped synthesis resumes with only the missing batches', async () => {
  const dir = tempDir();
  const teacher = await savedTeacher(dir, 'teacher', true);
  const file = writeExperiment(dir, dataFreeExperiment(teacher));
  const events: { type: string; job?: string }[] = [];
  const r = await runExperiment({ experiment: file, emit: (m) => events.push(m as { type: string; job?: string }) });
  assert.equal(r.status, 'completed', r.error);
  const run = readRun(r.runDir);
  assert.deepEqual(Object.keys(run.jobs), ['synthesize', 'scratch-s1', 'distill-s1', 'real-s1']);
  assert.equal(run.jobs.synthesize.epochs, 3);
  assert.equal(run.jobs.synthesize.completedEpochs, 3);
  assert.equal(run.jobs['real-s1'].data, 'reference');
  assert.deepEqual(fs.readdirSync(path.join(r.runDir, 'synthesized')).sort(),
    ['batch-0001.bin', 'batch-0001.json', 'batch-0002.bin', 'batch-0002.json', 'batch-0003.bin', 'batch-0003.json', 'meta.json']);
  const b1 = JSON.parse(readBatch(r.runDir, 'batch-0001.json').toString()) as { labels: number[]; count: number; bnLoss: { start: number; end: number } };
  assert.deepEqual(b1.labels, Array.from({ length: 16 }, (_, i) => i % 4));
  assert.equal(readBatch(r.runDir, 'batch-0001.bin').length, 16 * 64 * 4);
  assert.ok(events.some((e) => e.type === 'progress' && e.job === 'synthesize'), 'the synthesis reports progress');

  const lines = metricLines(r.runDir);
  const synthEpochs = lines.filter((l) => l.type === 'epoch' && l.job === 'synthesize');
  assert.equal(synthEpochs.length, 3);
  assert.equal(typeof (synthEpochs[0].extras as Record<string, number>)['synth.bnLossStart'], 'number');
  const synthSteps = lines.filter((l) => l.type === 'step' && l.job === 'synthesize');
  assert.deepEqual(Object.keys(synthSteps[0].losses as object).sort(), ['bn', 'class', 'l2', 'total', 'tv']);
  assert.deepEqual(synthSteps.filter((l) => l.epoch === 1).map((l) => l.step), [5, 10, 15]);

  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Required<Report>;
  const df = report.dataFree;
  assert.equal(df.samples, 48);
  assert.equal(df.batches, 3);
  assert.ok(df.bnLoss.end < df.bnLoss.start, `BN term ${df.bnLoss.start} → ${df.bnLoss.end}`);
  assert.ok(df.teacherAcc >= 0 && df.teacherAcc <= 1);
  assert.equal(df.reference?.format, 'synthetic');
  assert.equal(df.reference?.distill.testAcc.n, 1);
  assert.equal(report.summary.distill!.testAcc.n, 1);
  assert.equal(report.summary.scratch!.testAcc.n, 1);
  assert.equal(report.exportedJob, 'distill-s1');
  // The CLI's table ends with the three students side by side (the same line for a torch run's report).
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  assert.match(summaryTable(report), new RegExp(`data-free: 48 inputs synthesised in 3 batches.*distilled on synthesised inputs ${pct(report.summary.distill!.testAcc.mean)}`
    + `, distilled on the reference \\(synthetic\\) ${pct(df.reference!.distill.testAcc.mean)}, scratch on the reference ${pct(report.summary.scratch!.testAcc.mean)}\\.`));
  // The teacher's outputs are computed over each data set: those over the reference (scratch, real-s1)
  // are never taken for the synthesised inputs' (both are 48 / 256 rows of the same config's data).
  const logs = events.filter((e) => e.type === 'log').map((e) => (e as { message?: string }).message ?? '');
  assert.ok(!logs.some((m) => m.includes('reusing the cached outputs of the teacher')), logs.join('\n'));
  assert.equal(logs.filter((m) => m.startsWith('caching the outputs of the teacher')).length, 2, 'once over the reference, once over the synthesised inputs');
  assert.ok(fs.existsSync(path.join(r.runDir, 'student', 'model.json')));
  // distill-s1 trained on the synthesised set (48 inputs → 3 steps an epoch), real-s1 on the reference (256 → 16)
  assert.equal(lines.filter((l) => l.type === 'step' && l.job === 'distill-s1' && l.epoch === 1).at(-1)?.step, 3);
  assert.equal(lines.filter((l) => l.type === 'step' && l.job === 'real-s1' && l.epoch === 1).at(-1)?.step, 16);

  // Stopped once batch 1 is written, then resumed.
  const stopRun = await runExperiment({ experiment: file, shouldStop: () => {
    const parent = path.dirname(r.runDir);
    const runs = fs.readdirSync(parent).map((d) => path.join(parent, d)).filter((d) => d !== r.runDir);
    return runs.some((d) => fs.existsSync(path.join(d, 'synthesized', 'batch-0001.json')));
  } });
  assert.equal(stopRun.status, 'cancelled');
  assert.equal(readRun(stopRun.runDir).jobs.synthesize.completedEpochs, 1);
  assert.ok(!fs.existsSync(path.join(stopRun.runDir, 'synthesized', 'batch-0002.json')));
  const before = { bin: readBatch(stopRun.runDir, 'batch-0001.bin'), json: readBatch(stopRun.runDir, 'batch-0001.json'),
    mtime: fs.statSync(path.join(stopRun.runDir, 'synthesized', 'batch-0001.bin')).mtimeMs };
  const resumed = await runExperiment({ resume: stopRun.runDir });
  assert.equal(resumed.status, 'completed', resumed.error);
  assert.deepEqual(readBatch(stopRun.runDir, 'batch-0001.bin'), before.bin);
  assert.deepEqual(readBatch(stopRun.runDir, 'batch-0001.json'), before.json);
  assert.equal(fs.statSync(path.join(stopRun.runDir, 'synthesized', 'batch-0001.bin')).mtimeMs, before.mtime, 'batch 1 was not rewritten');
  for (const b of ['batch-0002.bin', 'batch-0003.bin']) assert.deepEqual(readBatch(stopRun.runDir, b), readBatch(r.runDir, b), `${b} equals the uninterrupted run's`);
  const resumedLines = metricLines(stopRun.runDir);
  const marker = resumedLines.findIndex((l) => l.type === 'resume' && l.job === 'synthesize');
  assert.ok(marker > 0);
  assert.deepEqual([resumedLines[marker].epoch, resumedLines[marker].step], [2, 0]);
  assert.ok(resumedLines.slice(marker).filter((l) => l.job === 'synthesize' && l.type === 'epoch').every((l) => (l.epoch as number) >= 2));
});

test('a teacher without BatchNormalization is refused with the reason, located at data.train.format', async () => {
  const dir = tempDir();
  const teacher = await savedTeacher(dir, 'plain', false);
  const file = writeExperiment(dir, dataFreeExperiment(teacher));
  await assert.rejects(runExperiment({ experiment: file }), (e: unknown) => {
    assert.ok(e instanceof ExperimentError);
    const p = e.errors.find((x) => x.path.join('.') === 'data.train.format');
    assert.ok(p, e.message);
    assert.match(p.message, /DeepInversion matches the statistics of the teacher's BatchNormalization layers; teacher plain\/model\.json has none/);
    return true;
  });
  assert.ok(!fs.existsSync(path.join(dir, '.distill', 'runs')) || fs.readdirSync(path.join(dir, '.distill', 'runs')).length === 0, 'no run folder');
});

test('data-free config rules: offline scheme, a trained teacher, no standardize, no validation; teacher-synthesized only as data.train', () => {
  const base = dataFreeExperiment('t/model.json') as { data: Record<string, unknown>; teacher: Record<string, unknown> };
  const exp = {
    ...base, scheme: { kind: 'born-again', generations: 2 },
    teacher: { module: 'models.ts', export: 'cnnBn', train: { epochs: 1, batchSize: 8, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    data: { ...base.data, augment: { shift: 1 }, normalize: 'standardize', validation: { fraction: 0.1 } },
  };
  const dir = tempDir();
  const file = writeExperiment(dir, exp);
  const got = loadExperimentText(file, fs.readFileSync(file, 'utf8')).errors.map((e) => `${e.path.join('.')}: ${e.message}`);
  for (const [where, what] of [['scheme.kind', /needs scheme "offline", found "born-again"/], ['teacher.train', /no training data to train the teacher on/],
    ['data.normalize', /no training data to fit "standardize" on/], ['data.validation', /no real training data to hold out/]] as const) {
    assert.ok(got.some((g) => g.startsWith(`${where}: `) && what.test(g)), `${where} in ${JSON.stringify(got)}`);
  }
  assert.ok(!got.some((g) => g.startsWith('data.augment')), `data.augment is allowed on a data-free run: ${JSON.stringify(got)}`);
  const asTest = { ...base, data: { ...base.data, test: { format: 'teacher-synthesized', samples: 8 } } };
  const f2 = writeExperiment(dir, asTest, 'b.distill.json');
  assert.ok(loadExperimentText(f2, fs.readFileSync(f2, 'utf8')).errors.some((e) => e.path.join('.') === 'data.test.format'));
});

test('without a reference scratch trains on the synthesised inputs; the competition term applies from the second batch', async () => {
  const dir = tempDir();
  const teacher = await savedTeacher(dir, 'teacher', true);
  const exp = dataFreeExperiment(teacher, { reference: undefined, samples: 32, competition: { weight: 1, temperature: 3, studentSteps: 4 } });
  const file = writeExperiment(dir, exp);
  const r = await runExperiment({ experiment: file });
  assert.equal(r.status, 'completed', r.error);
  assert.deepEqual(Object.keys(readRun(r.runDir).jobs), ['synthesize', 'scratch-s1', 'distill-s1']);
  assert.equal(readRun(r.runDir).jobs['scratch-s1'].data, undefined);
  const lines = metricLines(r.runDir);
  const steps = lines.filter((l) => l.type === 'step' && l.job === 'synthesize');
  assert.ok(steps.filter((l) => l.epoch === 1).every((l) => !('competition' in (l.losses as object))));
  const second = steps.filter((l) => l.epoch === 2);
  assert.ok(second.length > 0 && second.every((l) => typeof (l.losses as Record<string, number>).competition === 'number'));
  for (const l of second) {
    const x = l.losses as Record<string, number>;
    assert.ok(Math.abs(x.total - (x.bn + x.class + 1e-4 * x.tv + 1e-5 * x.l2 + x.competition)) < 1e-3 * Math.max(1, x.total), 'total = Σ wᵢ·termᵢ');
  }
  // scratch trained on the 32 synthesised inputs: 2 steps an epoch
  assert.equal(lines.filter((l) => l.type === 'step' && l.job === 'scratch-s1' && l.epoch === 1).at(-1)?.step, 2);
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Required<Report>;
  assert.equal(report.dataFree.batches, 2);
  assert.equal(report.dataFree.reference, undefined);
});

test('jitter and flip rules, located: a whole number ≥ 0, below the image size, images only', () => {
  const base = dataFreeExperiment('t/model.json') as { data: { train: Record<string, unknown>; test: Record<string, unknown> } };
  const dir = tempDir();
  const errorsOf = (train: Record<string, unknown>, test = base.data.test, name = 'j.distill.json') => {
    const file = writeExperiment(dir, { ...base, data: { ...base.data, train: { ...base.data.train, ...train }, test } }, name);
    return loadExperimentText(file, fs.readFileSync(file, 'utf8')).errors.map((e) => `${e.path.join('.')}: ${e.message}`).filter((e) => e.startsWith('data.'));
  };
  assert.deepEqual(errorsOf({ jitter: 2, flip: true }), []);
  assert.ok(errorsOf({ jitter: -1 }).some((e) => e.startsWith('data.train.jitter: ')), JSON.stringify(errorsOf({ jitter: -1 })));
  assert.ok(errorsOf({ jitter: 1.5 }).some((e) => e.startsWith('data.train.jitter: ')));
  assert.deepEqual(errorsOf({ jitter: 8 }), ["data.train.jitter: expected a jitter below the image's height and width (8×8), found 8"]);
  const vectors = { format: 'synthetic', kind: 'vectors', samples: 64, classes: 4, shape: [6], seed: 2 };
  assert.deepEqual(errorsOf({ flip: true }, vectors), ['data.train.flip: flip moves the pixels of images [H, W, C], but the inputs are vectors: remove "flip"']);
  assert.deepEqual(errorsOf({ jitter: 1 }, { format: 'csv', path: 'x.csv' }), ['data.train.jitter: jitter moves the pixels of images [H, W, C], but the inputs are vectors: remove "jitter" (or set it to 0)']);
  const augFile = writeExperiment(dir, { ...base, data: { ...base.data, test: vectors, augment: { shift: 1 } } }, 'aug.distill.json');
  assert.deepEqual(loadExperimentText(augFile, fs.readFileSync(augFile, 'utf8')).errors.map((e) => `${e.path.join('.')}: ${e.message}`).filter((e) => e.startsWith('data.')),
    ['data.augment.shift: augments images, but the synthesised inputs are vectors (the shape of data.test)']);
  const teacherOnly = writeExperiment(dir, { ...base, data: { ...base.data, augment: { shift: 1, jobs: 'teacher' } } }, 'aug-t.distill.json');
  const warned = loadExperimentText(teacherOnly, fs.readFileSync(teacherOnly, 'utf8')).errors.filter((e) => e.path.join('.') === 'data.augment.jobs');
  assert.deepEqual(warned.map((e) => e.severity), ['warning']);
  // known only once read (idx): the engine checks the shape it read (dataFreeCheck.ts)
  assert.deepEqual(dataFreeShapeProblems({ ...base, data: { ...base.data, train: { ...base.data.train, jitter: 3 } } } as unknown as ExperimentConfig, [3, 3, 1]),
    [{ path: ['data', 'train', 'jitter'], message: "expected a jitter below the image's height and width (3×3), found 3" }]);
  assert.deepEqual(dataFreeShapeProblems({ ...base, data: { ...base.data, train: { ...base.data.train, flip: true } } } as unknown as ExperimentConfig, [10]),
    [{ path: ['data', 'train', 'flip'], message: 'flip moves the pixels of images [H, W, C], but the inputs are vectors of shape [10]: remove "flip"' }]);
});

test('a data-free run with jitter, flips and data.augment: synthesised with the jitter, the student trained on augmented inputs with the teacher on every batch', async () => {
  const dir = tempDir();
  const teacher = await savedTeacher(dir, 'teacher', true);
  const exp = dataFreeExperiment(teacher, { reference: undefined, samples: 32, iterations: 10, jitter: 1, flip: true });
  (exp.data as Record<string, unknown>).augment = { shift: 1, flip: true };
  const file = writeExperiment(dir, exp);
  const events: { type: string; message?: string }[] = [];
  const r = await runExperiment({ experiment: file, emit: (m) => events.push(m as { type: string; message?: string }) });
  assert.equal(r.status, 'completed', r.error);
  const logs = events.filter((e) => e.type === 'log').map((e) => e.message ?? '');
  assert.ok(logs.some((m) => m.startsWith('distill-s1: the training images are augmented')), logs.join('\n'));
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Required<Report>;
  assert.equal(report.dataFree.batches, 2);
  assert.ok(report.dataFree.bnLoss.end < report.dataFree.bnLoss.start);
  assert.equal(metricLines(r.runDir).filter((l) => l.type === 'epoch' && l.job === 'distill-s1').length, 2);
});

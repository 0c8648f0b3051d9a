/**
 * Teacher health (issue 13, point 5): a teacher at chance (here one that answers class 0 for every
 * sample, with a BatchNormalization layer) is reported in the run log, report.json `warnings` and
 * the CLI table, with the likely causes; a teacher that learned is not. The chance level and the
 * below-scratch rule are checked against figures computed here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runExperiment } from '../../src/engine/run';
import type { Report } from '../../src/runs/report';
import { chanceLevel, hasBatchNorm, teacherBelowScratchWarning, teacherChanceWarning } from '../../src/engine/results/teacherHealth';
import { summaryTable } from '../../src/cli/main';
import { compressionData } from '../../src/host/panels/panelData';
import { warningBadges, warningText } from '../../src/host/reportWarnings';
import type { EngineToHost } from '../../src/protocol/engine';
import { metricLines, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

/** A teacher module: Dense → BatchNormalization → Dense whose kernel is 0 and bias favours class 0. */
const CONSTANT_TEACHER = `
export function constant(tf, args) {
  const input = tf.input({ shape: [args.inputs] });
  const h = tf.layers.dense({ units: 8, name: 'hidden' }).apply(input);
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(h);
  const out = tf.layers.dense({ units: args.classes, kernelInitializer: 'zeros', name: 'out' }).apply(bn);
  const model = tf.model({ inputs: input, outputs: out });
  const bias = new Array(args.classes).fill(0);
  bias[0] = 5;
  model.getLayer('out').setWeights([tf.zeros([8, args.classes]), tf.tensor1d(bias)]);
  return model;
}
`;

/** Dense → BatchNormalization (Keras's default momentum 0.99) → ReLU → Dense. */
const BN_TEACHER = `
export function bn(tf, args) {
  const input = tf.input({ shape: [args.inputs] });
  let x = tf.layers.dense({ units: 32, name: 'd1' }).apply(input);
  x = tf.layers.batchNormalization({ name: 'bn' }).apply(x);
  x = tf.layers.activation({ activation: 'relu' }).apply(x);
  const out = tf.layers.dense({ units: args.classes, name: 'out' }).apply(x);
  return tf.model({ inputs: input, outputs: out });
}
`;

/**
 * Rows of 16 features around 100 (not normalised, as raw sensor values are), feature j raised by 3
 * when j % 4 is the label: easy to learn, but the batch statistics are far from BN's initial 0 / 1.
 */
function offsetCsv(n: number, seed: number): string {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % 4;
    rows.push([...Array.from({ length: 16 }, (_, j) => (100 + (j % 4 === y ? 3 : 0) + (rnd() - 0.5) * 2).toFixed(3)), String(y)].join(','));
  }
  return rows.join('\n') + '\n';
}

function readReport(runDir: string): Report {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Report;
}

void test('chance level: the larger of 1/K and the majority-class rate, and the margin around it', () => {
  const balanced = chanceLevel(Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), 4);
  assert.equal(balanced.chance, 0.25);
  assert.equal(balanced.threshold, 0.25 + 0.075);
  const skewed = chanceLevel(Int32Array.from([1, 1, 1, 1, 1, 1, 0, 2]), 3);
  assert.equal(skewed.majority, 0.75);
  assert.equal(skewed.majorityClass, 1);
  assert.equal(skewed.chance, 0.75);
  assert.ok(Math.abs(skewed.threshold - 0.775) < 1e-12);

  // Logits for 8 samples of 4 classes: a model always answering class 1 is at chance; a perfect one is not.
  const labels = Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]);
  const oneHot = (cls: number[]) => Float32Array.from(cls.flatMap((c) => [0, 1, 2, 3].map((k) => (k === c ? 1 : 0))));
  const ctx = { split: 'validation' as const, batchNorm: true, trainedSteps: 57, normalize: 'scale' };
  const w = teacherChanceWarning(oneHot([1, 1, 1, 1, 1, 1, 1, 1]), labels, 4, ctx);
  assert.ok(w);
  assert.equal(w.kind, 'teacher-near-chance');
  assert.match(w.message, /25\.0% accuracy on the validation split \(8 samples, every prediction is class 1\)/);
  assert.match(w.causes[0], /BatchNormalization statistics \(it was trained for 57 steps in this run\)/);
  assert.ok(w.causes.some((c) => /normalised differently/.test(c)));
  assert.ok(w.causes.some((c) => /wrong label column/.test(c)));
  assert.equal(teacherChanceWarning(oneHot([0, 1, 2, 3, 0, 1, 2, 3]), labels, 4, ctx), undefined);
  // 3 of 8 right = 37.5%, above 32.5%: not at chance; 2 of 8 = 25%: at chance.
  assert.equal(teacherChanceWarning(oneHot([0, 1, 2, 0, 1, 2, 0, 1]), labels, 4, ctx), undefined);
  assert.ok(teacherChanceWarning(oneHot([0, 1, 0, 0, 1, 0, 1, 0]), labels, 4, ctx));

  const scratch = { mean: 0.8, std: 0, n: 1 };
  assert.match(teacherBelowScratchWarning(0.7, scratch, ctx)!.message, /teacher \(70\.0% test accuracy\) is below the student trained from scratch \(80\.0%\)/);
  assert.equal(teacherBelowScratchWarning(0.8, scratch, ctx), undefined);
  assert.equal(teacherBelowScratchWarning(0.7, undefined, ctx), undefined);
});

void test('hasBatchNorm finds BatchNormalization layers', () => {
  const plain = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
  const bn = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] }), tf.layers.batchNormalization()] });
  assert.equal(hasBatchNorm(plain), false);
  assert.equal(hasBatchNorm(bn), true);
  plain.dispose();
  bn.dispose();
});

void test('a teacher that predicts one class is warned about in the run log, report.json and the CLI table; a good one is not', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'constant.js'), CONSTANT_TEACHER);
  const bad = syntheticExperiment({
    teacher: { module: 'constant.js', export: 'constant', args: { inputs: 16, classes: 4 } },
    training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 2 },
  });
  const logs: EngineToHost[] = [];
  const result = await runExperiment({ experiment: writeExperiment(dir, bad, 'bad.distill.json'), emit: (m) => logs.push(m), teacherThread: false });
  assert.equal(result.status, 'completed', result.error);
  const report = readReport(result.runDir);
  // Independent figures: the validation split's class-0 rate is what a class-0 teacher scores.
  assert.ok(report.warnings, 'report.json has warnings');
  const chance = report.warnings.find((w) => w.kind === 'teacher-near-chance');
  assert.ok(chance, JSON.stringify(report.warnings));
  assert.match(chance.message, /the teacher is at chance: [\d.]+% accuracy on the validation split \(64 samples, every prediction is class 0\)/);
  assert.match(chance.causes[0], /BatchNormalization/);
  const below = report.warnings.find((w) => w.kind === 'teacher-below-scratch');
  assert.ok(report.summary.scratch!.testAcc.mean > report.teacher!.testAcc, 'the scratch student beats a constant teacher here');
  assert.ok(below, 'below the scratch student');

  const warns = logs.filter((m): m is Extract<EngineToHost, { type: 'log' }> => m.type === 'log' && m.level === 'warn');
  assert.ok(warns.some((m) => m.message.startsWith('the teacher is at chance') && /Likely causes: too few training steps for its BatchNormalization/.test(m.message)),
    JSON.stringify(warns));
  // Logged when the teacher is loaded, before any student trains.
  const firstWarn = logs.findIndex((m) => m.type === 'log' && m.level === 'warn' && m.message.startsWith('the teacher is at chance'));
  assert.ok(firstWarn < logs.findIndex((m) => m.type === 'progress'));

  const table = summaryTable(report);
  assert.match(table, /^teacher ⚠ /m);
  assert.match(table, /⚠ warning: the teacher is at chance: .*every prediction is class 0/);
  assert.match(table, /likely causes:\n {2}- too few training steps for its BatchNormalization statistics/);
  assert.match(table, /⚠ warning: the teacher \([\d.]+% test accuracy\) is below the student trained from scratch/);

  // The compression panel's data and the Experiments tree's labels read the same warnings.
  const panel = compressionData(result.runDir, 't', []);
  assert.deepEqual(panel.warnings, report.warnings.map((w) => ({ message: w.message, causes: w.causes })));
  assert.match(panel.columns.find((c) => c.name === 'teacher')!.note ?? '', /⚠ see the warning above/);
  assert.deepEqual(warningBadges(report), report.warnings.map((w) => `⚠ ${w.kind === 'teacher-near-chance' ? 'teacher at chance' : 'teacher below scratch'}`));
  assert.match(warningText(chance), /^the teacher is at chance: .*\. Likely causes: too few training steps for its BatchNormalization statistics/);

  const good = await runExperiment({ experiment: writeExperiment(dir, syntheticExperiment(), 'good.distill.json'), teacherThread: false });
  assert.equal(good.status, 'completed', good.error);
  const goodReport = readReport(good.runDir);
  assert.deepEqual(goodReport.warnings, []);
  assert.ok(goodReport.teacher!.testAcc > 0.5);
  const goodTable = summaryTable(goodReport);
  assert.match(goodTable, /^teacher {2}/m);
  assert.doesNotMatch(goodTable, /warning/);
  const goodPanel = compressionData(good.runDir, 't', []);
  assert.equal(goodPanel.warnings, undefined);
  assert.equal(goodPanel.columns.find((c) => c.name === 'teacher')!.note, undefined);
  assert.deepEqual(warningBadges(goodReport), []);
});

void test('a BatchNormalization teacher trained a few steps (statistics still near their initial values) is caught at chance', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'bn.js'), BN_TEACHER);
  fs.writeFileSync(path.join(dir, 'train.csv'), offsetCsv(512, 1));
  fs.writeFileSync(path.join(dir, 'test.csv'), offsetCsv(256, 2));
  const experiment = syntheticExperiment({
    data: { train: { format: 'csv', path: 'train.csv' }, test: { format: 'csv', path: 'test.csv' }, validation: { fraction: 0.125 }, normalize: 'none' },
    // 448 training rows / 64 = 7 steps: the moving mean and variance move 1 − 0.99^7 ≈ 7 % of the way.
    teacher: { module: 'bn.js', export: 'bn', args: { inputs: 16, classes: 4 }, train: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
  });
  const logs: EngineToHost[] = [];
  const result = await runExperiment({ experiment: writeExperiment(dir, experiment), emit: (m) => logs.push(m), teacherThread: false });
  assert.equal(result.status, 'completed', result.error);
  const report = readReport(result.runDir);
  const w = report.warnings?.find((x) => x.kind === 'teacher-near-chance');
  assert.ok(w, JSON.stringify(report.warnings));
  assert.match(w.message, /accuracy on the validation split \(64 samples, (every prediction is class \d|[\d.]+% of its predictions are class \d)\)/);
  assert.match(w.causes[0], /^too few training steps for its BatchNormalization statistics \(it was trained for 7 steps in this run\)/);
  assert.ok(logs.some((m) => m.type === 'log' && m.level === 'warn' && m.message.startsWith('the teacher is at chance')));
  assert.match(summaryTable(report), /⚠ warning: the teacher is at chance/);
  // It did learn — in training mode, where BatchNormalization uses the batch's own statistics.
  const teacherEpoch = metricLines(result.runDir).find((l) => l.type === 'epoch' && l.job === 'teacher')!;
  assert.ok((teacherEpoch.trainAcc as number) > 0.5, `training accuracy ${String(teacherEpoch.trainAcc)}`);
});

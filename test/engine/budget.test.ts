/**
 * Budget sanity (issue 13, point 4): `epochs` and `batchSize` beyond sane bounds are refused with a
 * located error naming the bound; a batchSize beyond the training split and a training time
 * estimated (from measured steps) at more than a day are warnings — in `distill check` (hence
 * Problems in the editor) and at the start of a run, before its first step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { loadExperimentText } from '../../src/config/parse';
import { checkExperiment } from '../../src/engine/check';
import { runExperiment } from '../../src/engine/run';
import { DAY_SECONDS, durationWarning, estimateDuration, remainingSteps } from '../../src/engine/training/budget';
import { planJobs } from '../../src/engine/training/jobs';
import { main } from '../../src/cli/main';
import type { EngineToHost } from '../../src/protocol/engine';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

/** The small synthetic experiment with its training replaced, 256 training samples, no validation split. */
function experiment(training: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = syntheticExperiment();
  const data = base.data as Record<string, Record<string, unknown>>;
  return {
    ...base,
    data: { ...data, train: { ...data.train, samples: 256 }, validation: undefined },
    training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, ...training },
    ...extra,
  };
}

void test('epochs and batchSize beyond the bounds are located errors naming the bound', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, {});
  const text = JSON.stringify(experiment({ epochs: 1e9, batchSize: 100000 }), null, 2).replace('1000000000', '1e9');
  const { config, errors } = loadExperimentText(file, text);
  assert.equal(config, undefined);
  const epochs = errors.find((e) => e.path.join('.') === 'training.epochs');
  const batch = errors.find((e) => e.path.join('.') === 'training.batchSize');
  assert.ok(epochs && batch, JSON.stringify(errors));
  assert.match(epochs.message, /≤ 10000, found 1e9/);
  assert.match(batch.message, /≤ 65536, found 100000/);
  // Located at the value in the file.
  const lines = text.split('\n');
  assert.equal(lines[epochs.location.line - 1].slice(epochs.location.column - 1, epochs.location.column - 1 + 3), '1e9');
  assert.equal(lines[batch.location.line - 1].slice(batch.location.column - 1, batch.location.column - 1 + 6), '100000');
  // The teacher's own training has the same bounds; the largest sane values pass.
  const teacher = loadExperimentText(file, JSON.stringify({ ...experiment({}), teacher: { ...(syntheticExperiment().teacher as object),
    train: { epochs: 20000, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } } }));
  assert.deepEqual(teacher.errors.map((e) => [e.path.join('.'), e.message]), [['teacher.train.epochs', 'expected an integer ≥ 1 and ≤ 10000, found 20000']]);
  assert.deepEqual(loadExperimentText(file, JSON.stringify(experiment({ epochs: 10000, batchSize: 65536 }))).errors.filter((e) => e.severity === 'error'), []);
});

void test('distill check warns (located) when batchSize exceeds the training split, not when it fits', async () => {
  const dir = tempDir();
  const big = await checkExperiment(writeExperiment(dir, experiment({ batchSize: 512 }), 'big.distill.json'));
  assert.deepEqual(big.filter((e) => e.severity === 'error'), []);
  const w = big.filter((e) => e.path.join('.') === 'training.batchSize');
  assert.equal(w.length, 1, JSON.stringify(big));
  assert.equal(w[0].severity, 'warning');
  assert.match(w[0].message, /batchSize 512 exceeds the training split \(256 samples\): every epoch is a single step/);
  const text = JSON.stringify(experiment({ batchSize: 512 }), null, 2).split('\n');
  assert.equal(text[w[0].location.line - 1].slice(w[0].location.column - 1, w[0].location.column + 2), '512');

  const fits = await checkExperiment(writeExperiment(dir, experiment({ batchSize: 256 }), 'fits.distill.json'));
  assert.deepEqual(fits.filter((e) => e.path[0] === 'training'), []);

  // The CLI prints it as a warning and exits 0.
  const printed: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => printed.push(a.join(' '));
  let code: number;
  try {
    code = await main(['check', path.join(dir, 'big.distill.json')]);
  } finally {
    console.log = log;
  }
  assert.equal(code, 0);
  assert.match(printed.join('\n'), /big\.distill\.json:\d+:\d+ +warning: training\.batchSize: batchSize 512 exceeds the training split/);
});

void test('the duration estimate: steps left × measured seconds per step; over a day is a warning', () => {
  const c = loadExperimentText(writeExperiment(tempDir(), {}), JSON.stringify({ ...experiment({ epochs: 3, batchSize: 100 }), seeds: [1, 2] })).config;
  assert.ok(c);
  // Teacher: 2 epochs × ceil(256/32) = 16 steps; per seed scratch + distill: 3 epochs × ceil(256/100) = 9 steps each.
  const jobs = planJobs(c);
  const steps = remainingSteps(c, jobs, 256);
  assert.deepEqual([...steps], [['teacher|32', 16], ['student|100', 36]]);
  jobs['scratch-s1'].completedEpochs = 2;
  jobs.teacher.status = 'completed';
  assert.deepEqual([...remainingSteps(c, jobs, 256)], [['student|100', 30]]);

  const label = (m: string) => m;
  const at = (teacher: number, student: number) => estimateDuration(steps, (m) => (m === 'teacher' ? teacher : student));
  assert.equal(at(2, 1).seconds, 16 * 2 + 36 * 1);
  assert.equal(durationWarning(at(2, 1), label), undefined);
  // Exactly a day is not warned about; beyond it is, at training.epochs, with the figures.
  assert.equal(durationWarning(at(0, DAY_SECONDS / 36), label), undefined);
  const w = durationWarning(at(DAY_SECONDS / 16, DAY_SECONDS / 36), label);
  assert.ok(w);
  assert.deepEqual(w.path, ['training', 'epochs']);
  assert.match(w.message, /estimated training time 2\.0 days \(16 steps of the teacher at 5400000\.00 ms, 36 steps of the student at 2400000\.00 ms/);
  assert.match(w.message, /more than a day/);
});

void test('distill check warns when the measured steps put the training past a day, and not for a short one', async () => {
  const dir = tempDir();
  // 60000 samples, batch 1, 10000 epochs, 10 seeds with the baseline: 2 × 10 × 6e8 = 1.2e10 steps of the student,
  // past a day at anything above 7.2 µs a step (a TF.js optimizer step costs far more).
  const long = experiment({ epochs: 10000, batchSize: 1 }, { seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], teacher: {
    module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [64], classes: 4 } } });
  (long.data as Record<string, Record<string, unknown>>).train.samples = 60000;
  const problems = await checkExperiment(writeExperiment(dir, long, 'long.distill.json'));
  assert.deepEqual(problems.filter((e) => e.severity === 'error'), []);
  const w = problems.find((e) => e.path.join('.') === 'training.epochs');
  assert.ok(w, JSON.stringify(problems));
  assert.equal(w.severity, 'warning');
  const m = /estimated training time ([\d.]+) days \((\d+) steps of the student \(models\.ts#mlp\) at ([\d.]+) ms;/.exec(w.message);
  assert.ok(m, w.message);
  assert.equal(Number(m[2]), 2 * 10 * 10000 * 60000);
  // The days shown are the steps times the measured time per step.
  assert.ok(Math.abs(Number(m[1]) - (Number(m[2]) * Number(m[3])) / 1000 / DAY_SECONDS) <= 0.05 + Number(m[1]) * 0.01, w.message);

  const short = await checkExperiment(writeExperiment(dir, experiment({}), 'short.distill.json'));
  assert.equal(short.find((e) => e.path.join('.') === 'training.epochs'), undefined);
});

void test('a run warns about a batchSize beyond the split and prints its estimated training time before the first step', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, experiment({ batchSize: 512 }));
  const messages: EngineToHost[] = [];
  const result = await runExperiment({ experiment: file, emit: (m) => messages.push(m), teacherThread: false });
  assert.equal(result.status, 'completed', result.error);
  const firstStep = messages.findIndex((m) => m.type === 'progress');
  const warn = messages.findIndex((m) => m.type === 'log' && m.level === 'warn' && m.message.startsWith('training.batchSize: batchSize 512 exceeds the training split (256 samples)'));
  const estimate = messages.findIndex((m) => m.type === 'log' && /^estimated training time .*\(\d+ steps of the teacher/.test(m.message));
  assert.ok(warn >= 0 && estimate >= 0, JSON.stringify(messages.filter((m) => m.type === 'log')));
  assert.ok(warn < firstStep && estimate < firstStep, 'both before the first step');
  const est = messages[estimate] as { message: string };
  // Teacher: 2 epochs × 8 steps; scratch + distill: 2 epochs × 1 step each (the whole split per step).
  assert.match(est.message, /16 steps of the teacher \(models\.ts#mlp\) at [\d.]+ ms, 4 steps of the student \(models\.ts#mlp\) at [\d.]+ ms/);
});

/**
 * The methods of issue 17 through the real engine, beyond "it trains" (test/engine/catalogue.test.ts):
 * ctkd's temperature is logged on every step record, charted by the dashboard's data, and
 * restored from the checkpoint on resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runExperiment } from '../../src/engine/run';
import { DashboardBuilder } from '../../src/host/panels/panelData';
import type { MetricRecord } from '../../src/runs/store';
import { readMetrics } from '../../src/runs/store';
import { imageExperiment, tempDir, writeExperiment } from '../helpers/experiments';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRun } from '../../src/runs/store';
import { latestCheckpoint } from '../../src/engine/runs/checkpoints';

const CTKD = { kind: 'response', method: 'ctkd', initialTemperature: 4, reversalEpochs: 2, maxReversal: 1, weight: 1 };

function temperatures(runDir: string): number[] {
  return readMetrics(runDir)
    .filter((r): r is Extract<MetricRecord, { type: 'step' }> => r.type === 'step' && r.job === 'distill-s1')
    .map((r) => r.params?.['ctkd.temperature'] ?? Number.NaN);
}

test('ctkd: the learned temperature is in every step record, moves, stays in its span, and the dashboard charts it', async () => {
  const r = await runExperiment({ experiment: writeExperiment(tempDir(), imageExperiment({ knowledge: [CTKD] })) });
  assert.equal(r.status, 'completed', r.error);
  const ts = temperatures(r.runDir);
  assert.ok(ts.length >= 3 * 6, `a temperature per logged step (${ts.length})`);
  for (const t of ts) assert.ok(t > 1 && t < 21, `τ in (1, 21): ${t}`);
  assert.ok(Math.abs(ts[0] - 4) < 0.05, `starts near initialTemperature 4: ${ts[0]}`);
  assert.ok(Math.abs(ts[ts.length - 1] - ts[0]) > 1e-3, `the temperature is learned: ${ts[0]} → ${ts[ts.length - 1]}`);
  const points = new DashboardBuilder().points(readMetrics(r.runDir));
  const series = points.params?.find((s) => s.job === 'distill-s1' && s.term === 'ctkd.temperature');
  assert.ok(series, 'a ctkd.temperature series for the dashboard');
  assert.deepEqual(series.value, ts);
});

test('ctkd: a stopped and resumed run continues from the checkpointed temperature (the same curve as an uninterrupted run)', async () => {
  const straight = await runExperiment({ experiment: writeExperiment(tempDir(), imageExperiment({ knowledge: [CTKD] })) });
  assert.equal(straight.status, 'completed', straight.error);
  let stopNow = false;
  const first = await runExperiment({
    experiment: writeExperiment(tempDir(), imageExperiment({ knowledge: [CTKD] })),
    emit: (m) => { if (m.type === 'epoch' && m.job === 'distill-s1' && m.epoch === 1) stopNow = true; },
    shouldStop: () => stopNow,
  });
  assert.equal(first.status, 'cancelled', first.error);
  const resumed = await runExperiment({ resume: first.runDir });
  assert.equal(resumed.status, 'completed', resumed.error);
  const a = temperatures(straight.runDir);
  const b = temperatures(first.runDir);
  assert.equal(b.length, a.length);
  b.forEach((t, i) => assert.ok(Math.abs(t - a[i]) <= 1e-5 * a[i], `step ${i}: resumed ${t} vs uninterrupted ${a[i]}`));
});

// ---------------------------------------------------------------------------------------------
// crd

const CRD = { kind: 'relation', method: 'crd', weight: 1, embedding: 16, negatives: 32, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] };

function crdLosses(runDir: string): number[] {
  return readMetrics(runDir)
    .filter((r): r is Extract<MetricRecord, { type: 'step' }> => r.type === 'step' && r.job === 'distill-s1')
    .map((r) => r.losses.crd);
}

test('crd: the memory banks are checkpointed — a stopped and resumed run has the losses of an uninterrupted one', async () => {
  const straight = await runExperiment({ experiment: writeExperiment(tempDir(), imageExperiment({ knowledge: [CRD] })) });
  assert.equal(straight.status, 'completed', straight.error);
  let stopNow = false;
  const first = await runExperiment({
    experiment: writeExperiment(tempDir(), imageExperiment({ knowledge: [CRD] })),
    emit: (m) => { if (m.type === 'epoch' && m.job === 'distill-s1' && m.epoch === 1) stopNow = true; },
    shouldStop: () => stopNow,
  });
  assert.equal(first.status, 'cancelled', first.error);
  const ckpt = latestCheckpoint(first.runDir, 'distill-s1')!;
  const extras = JSON.parse(fs.readFileSync(path.join(ckpt.dir, 'extras.json'), 'utf8')) as { models: string[]; specs: { name: string; shape: number[] }[] };
  assert.deepEqual(extras.models.filter((m) => m.includes('crd_memory')).length, 2, extras.models.join(', '));
  // 192 training samples × 16: the banks, whole
  assert.ok(extras.specs.some((s) => s.name.includes('crd_memory_student') && s.shape.join() === '192,16'), JSON.stringify(extras.specs));
  const resumed = await runExperiment({ resume: first.runDir });
  assert.equal(resumed.status, 'completed', resumed.error);
  const a = crdLosses(straight.runDir);
  const b = crdLosses(first.runDir);
  assert.equal(b.length, a.length);
  b.forEach((v, i) => assert.ok(Math.abs(v - a[i]) <= 1e-4 * Math.abs(a[i]), `step ${i}: resumed ${v} vs uninterrupted ${a[i]}`));
  // the heads and banks stay out of the exported student
  const exported = JSON.parse(fs.readFileSync(path.join(first.runDir, 'student', 'model.json'), 'utf8')) as { modelTopology: unknown };
  assert.ok(!JSON.stringify(exported.modelTopology).includes('crd'), 'no crd layer in the exported student');
  assert.equal(readRun(first.runDir).jobs['distill-s1'].completedEpochs, 3);
});

test('crd: banks above maxMemoryMB and more negatives than samples are refused before training, located, with the fix', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, imageExperiment({
    knowledge: [
      { ...CRD, embedding: 4096, maxMemoryMB: 1 },
      { ...CRD, negatives: 500 },
    ],
  }));
  // refused by the pre-flight, before a run folder exists
  const error = await runExperiment({ experiment: file }).then(() => assert.fail('the run should be refused'), (e: Error) => e.message);
  const lines = error.split('\n').map((l) => l.replace(file, 'exp.distill.json'));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], /^exp\.distill\.json:\d+:\d+ {2}knowledge\[0\]\.embedding: crd: the memory banks hold 2 × 192 samples × 4096 = 6 MB, above maxMemoryMB 1: lower "embedding"/);
  assert.match(lines[1], /^exp\.distill\.json:\d+:\d+ {2}knowledge\[1\]\.negatives: crd: 500 negatives per sample, but the training split has 192 samples: give "negatives" below 192/);
  assert.equal(fs.existsSync(path.join(dir, '.distill', 'runs')), false, 'no run folder: nothing was trained');
});

test('reviewkd: stages listed deep to shallow, and a vector stage, are refused before training at their pairs', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, imageExperiment({
    knowledge: [
      { kind: 'feature', method: 'reviewkd', weight: 1, pairs: [{ teacher: 'conv_2', student: 'conv_2' }, { teacher: 'conv_1', student: 'conv_1' }] },
      { kind: 'feature', method: 'reviewkd', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] },
    ],
  }));
  // refused by the pre-flight, before a run folder exists
  const error = await runExperiment({ experiment: file }).then(() => assert.fail('the run should be refused'), (e: Error) => e.message);
  const lines = error.split('\n').map((l) => l.replace(file, 'exp.distill.json'));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], /^exp\.distill\.json:\d+:\d+ {2}knowledge\[0\]\.pairs\[1\]: reviewkd: stages go from shallow to deep.*"conv_2" is 4×4, the next "conv_1" 8×8: list the pairs from the shallowest stage to the deepest/);
  assert.match(lines[1], /^exp\.distill\.json:\d+:\d+ {2}knowledge\[1\]\.pairs\[0\]: reviewkd: teacher "dense_1" \[\?,16\] ↔ student "dense_1" \[\?,8\]: reviewkd fuses feature maps of rank 4/);
  assert.equal(fs.existsSync(path.join(dir, '.distill', 'runs')), false, 'no run folder: nothing was trained');
});

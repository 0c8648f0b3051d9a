/**
 * Derived students in real runs, the int8 export in report.json, and a 3-point width sweep on
 * synthetic data: every point its own run, the teacher trained once, resumable, the report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import { readRun } from '../../src/runs/store';
import { runSweep } from '../../src/engine/sweep';
import { createSweep, pointText, readSweep, sweepSummary } from '../../src/runs/sweeps';
import { inspectTarget } from '../../src/engine/inspect';
import { ExperimentError } from '../../src/config/parse';
import { sweepTable } from '../../src/cli/sweep';
import { summaryTable } from '../../src/cli/main';
import type { Report } from '../../src/runs/report';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

/** A teacher 16 → 64 → 64 → 4 trained first; the student derived from it. */
function derivedExperiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return syntheticExperiment({
    teacher: {
      module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [64, 64], classes: 4 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    },
    student: { derive: { width: 0.25, round: 4 } },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 4 },
    ...overrides,
  });
}

void test('a derived student trains; its architecture is in the run folder; report.json has the int8 student', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, derivedExperiment({
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
      // Layer names are kept, so a pair by name resolves on the derived student.
      { kind: 'feature', method: 'fitnet', weight: 0.1, pairs: [{ teacher: 'dense_2', student: 'dense_2' }] },
    ],
  }));
  const r = await runExperiment({ experiment: file });
  assert.equal(r.status, 'completed', r.error);
  const archDir = path.join(r.runDir, 'student-architecture');
  for (const f of ['model.json', 'weights.bin', 'derivation.json']) assert.ok(fs.existsSync(path.join(archDir, f)), f);
  const derivation = JSON.parse(fs.readFileSync(path.join(archDir, 'derivation.json'), 'utf8')) as { widths: unknown[] };
  assert.deepEqual(derivation.widths, [{ layer: 'dense_1', from: 64, to: 16 }, { layer: 'dense_2', from: 64, to: 16 }]);
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Required<Report>;
  // 16·16+16 = 272, 16·16+16 = 272, 16·4+4 = 68.
  assert.equal(report.student.params, 272 + 272 + 68);
  const q = report.quantized;
  assert.equal(q.dir, 'student/int8');
  assert.ok(fs.existsSync(path.join(r.runDir, 'student', 'int8', 'model.json')));
  // Kernels 256 + 256 + 64 values + 5 bytes per channel (16 + 16 + 4); biases 36 floats.
  assert.equal(q.bytes, 576 + 5 * 36 + 4 * 36);
  assert.equal(q.floatBytes, 4 * 612);
  assert.ok(q.testAcc > 0.3 && Math.abs(q.accDrop) < 0.1, JSON.stringify(q));
  assert.equal(typeof q.agreement, 'number');
  assert.match(summaryTable(report), /student \(distilled, int8\)/);
});

void test('a derivation that cannot be built is refused before any run folder, located at the derive field', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, derivedExperiment({ student: { derive: { drop: ['logits'] } } }));
  // refused by the pre-flight, before a run folder exists
  await assert.rejects(runExperiment({ experiment: file }), (e: unknown) => e instanceof ExperimentError &&
    /exp\.distill\.json:\d+:\d+ {2}student\.derive\.drop\[0\]: dropping layer "logits" would remove the output layer/.test(e.message));
  assert.equal(fs.existsSync(path.join(dir, '.distill')), false);
});

void test('distill inspect: teacher vs derived student, layer by layer, with the compression ratio', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, derivedExperiment());
  const text = await inspectTarget(file, 'wasm');
  assert.match(text, /dense_1: 64 → 16 units/);
  assert.match(text, /dense_2 +Dense +\[\?, 64\] → \[\?, 16\] +4,160 +272 +16,640 +1,088/);
  assert.match(text, /ratio T\/S +9\.00× +9\.00× +9\.16×/); // teacher 16·64+64 + 64·64+64 + 64·4+4 = 5508 = 9 × 612
  assert.match(text, /int8 student .*: \d+ bytes/);
});

void test('a 3-point width sweep runs to completion: one run per point, the teacher trained once', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, derivedExperiment({ sweep: { 'student.derive.width': [0.125, 0.25, 0.5], seeds: [1, 2] } }));
  const sweepDir = createSweep(file);
  assert.equal(path.dirname(path.dirname(sweepDir)), path.join(dir, '.distill', 'sweeps'));
  const sweep = await runSweep(sweepDir);
  assert.equal(sweep.status, 'completed', JSON.stringify(sweep.points.map((p) => p.error)));
  assert.deepEqual(sweep.points.map((p) => p.values['student.derive.width']), [0.125, 0.25, 0.5]);
  const runs = sweep.points.map((p) => path.join(sweepDir, p.runDir!));
  assert.ok(runs.every((r) => r.startsWith(path.join(sweepDir, 'runs'))));
  // Only the first point trains the teacher; the others use its model.json.
  assert.deepEqual(runs.map((r) => Boolean(readRun(r).jobs.teacher)), [true, false, false]);
  assert.equal(sweep.teacher?.model, path.join(runs[0], 'models', 'teacher', 'model.json'));
  assert.deepEqual(Object.keys(readRun(runs[1]).jobs), ['scratch-s1', 'distill-s1', 'scratch-s2', 'distill-s2']);
  const summary = sweepSummary(sweepDir);
  // Sorted by size: widths 0.125 (8, rounded up from the multiple of 4), 0.25 (16), 0.5 (32).
  assert.deepEqual(summary.rows.map((r) => r.params), [8 * 16 + 8 + 8 * 8 + 8 + 8 * 4 + 4, 612, 32 * 16 + 32 + 32 * 32 + 32 + 32 * 4 + 4]);
  assert.ok(summary.rows.every((r) => r.distilled?.n === 2 && r.scratch?.n === 2 && r.int8));
  assert.ok(summary.rows.some((r) => r.pareto));
  assert.ok(fs.existsSync(path.join(sweepDir, 'report.json')));
  const table = sweepTable(summary);
  assert.match(table, /student\.derive\.width/);
  assert.match(table, /◆/);
  // Resuming a completed sweep runs nothing again.
  const again = await runSweep(sweepDir);
  assert.equal(again.status, 'completed');
  assert.deepEqual(again.points.map((p) => p.runDir), sweep.points.map((p) => p.runDir));
  assert.equal(readSweep(sweepDir).points.length, 3);
});

void test('sweep points: values written in, seeds set, sweep removed, the shared teacher', () => {
  const text = '{\n  "name": "x", // c\n  "student": { "derive": { "width": 0.5 } },\n  "knowledge": [{ "weight": 1 }],\n  "sweep": { "student.derive.width": [0.25] }\n}';
  const t = pointText(text, { 'student.derive.width': 0.25, 'knowledge[0].weight': 0.5 }, [3, 4], '/t/model.json');
  const v = JSON.parse(t.replace('// c', '')) as Record<string, unknown>;
  assert.deepEqual(v, { name: 'x', student: { derive: { width: 0.25 } }, knowledge: [{ weight: 0.5 }], seeds: [3, 4], teacher: { model: '/t/model.json' } });
  assert.match(t, /\/\/ c/, 'comments kept');
});

void test('a sweep of more points than the limit needs confirmation (--yes)', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, derivedExperiment({ sweep: { 'student.derive.width': [0.25, 0.5, 1], 'training.epochs': [1, 2, 3] } }));
  assert.throws(() => createSweep(file), (e: unknown) => e instanceof ExperimentError &&
    /sweep: the sweep has 9 points \(3 × 3\), each a run of 1 seed: more than 8, so it needs confirmation — run it with --yes/.test(e.message));
  assert.throws(() => createSweep(file, { maxPoints: 4, yes: false }), /more than 4/);
  assert.ok(fs.existsSync(path.join(createSweep(file, { yes: true }), 'sweep.json')));
});

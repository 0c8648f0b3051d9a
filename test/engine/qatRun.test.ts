/**
 * issue 18: quantisation-aware distillation end to end on synthetic data (TF.js engine) — the
 * qat-s<seed> jobs planned and trained after each distilled student, the result folder with the
 * float weights and qat.json, the exports student/int4 (post-training) and student/int4-qat, the
 * report's quantizedVariants and qat (report.json valid against schema/report.schema.json), and
 * the CLI's table; the qat copy, loaded from disk, scores exactly what the qat job's fake-quantised
 * evaluation scored.
 */
import { before, test } from 'node:test';
import * as cp from 'child_process';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import { readMetrics, readRun } from '../../src/runs/store';
import type { EpochRecord } from '../../src/runs/store';
import type { Report } from '../../src/runs/report';
import { summaryTable } from '../../src/cli/main';
import { REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';
import { runFolderViolations } from '../helpers/runSchemas';

const CLI = path.join(REPO, 'dist', 'cli.js');

before(() => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

const lastEpoch = (runDir: string, job: string): EpochRecord =>
  readMetrics(runDir).filter((r): r is EpochRecord => r.type === 'epoch' && r.job === job).sort((a, b) => a.epoch - b.epoch).pop()!;

test('offline run with student.quantize {bits 4, aware, activations}: qat jobs, exports, report rows', { timeout: 300_000 }, async () => {
  const base = syntheticExperiment();
  const file = writeExperiment(tempDir(), syntheticExperiment({
    seeds: [1, 2],
    student: { ...(base.student as object), quantize: { bits: 4, aware: true, activations: true } },
  }));
  const r = await runExperiment({ experiment: file, teacherThread: false });
  assert.equal(r.status, 'completed', r.error);
  const jobs = readRun(r.runDir).jobs;
  assert.deepEqual(Object.keys(jobs), ['teacher', 'scratch-s1', 'distill-s1', 'qat-s1', 'scratch-s2', 'distill-s2', 'qat-s2']);
  assert.deepEqual(jobs['qat-s1'].quantize, { bits: 4, activations: true });
  assert.equal(jobs['qat-s1'].final, false);
  assert.equal(jobs['qat-s2'].status, 'completed');
  const qatFile = JSON.parse(fs.readFileSync(path.join(r.runDir, 'models', 'qat-s1', 'qat.json'), 'utf8')) as { bits: number; ranges: Record<string, { min: number; max: number }> };
  assert.equal(qatFile.bits, 4);
  assert.deepEqual(Object.keys(qatFile.ranges), ['dense_1', 'logits']);
  for (const d of ['int8', 'int4', 'int4-qat']) assert.ok(fs.existsSync(path.join(r.runDir, 'student', d, 'model.json')), `student/${d}`);
  const copy = JSON.parse(fs.readFileSync(path.join(r.runDir, 'student', 'int4-qat', 'model.json'), 'utf8')) as { distillQuantization: { format: string; activations: unknown } };
  assert.equal(copy.distillQuantization.format, 'distill-int4-per-channel');
  assert.deepEqual(copy.distillQuantization.activations, qatFile.ranges);

  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Report;
  assert.deepEqual(runFolderViolations(r.runDir), []);
  // the qat jobs are not "distilled" students of the summary (final false)
  assert.equal(report.summary.distill?.testAcc.n, 2);
  assert.ok(!Object.keys(report.jobs).some((j) => j.startsWith('qat-')));
  const [ptq, qat] = report.quantizedVariants!;
  assert.equal(report.quantizedVariants!.length, 2);
  assert.deepEqual([ptq.dir, ptq.method, ptq.bits, ptq.format], ['student/int4', 'ptq', 4, 'distill-int4-per-channel']);
  assert.deepEqual([qat.dir, qat.method, qat.bits, qat.activations, qat.job], ['student/int4-qat', 'qat', 4, true, 'qat-s1']);
  // post-training int4 is measured against the same float student as the int8 row
  assert.equal(ptq.floatTestAcc, report.quantized!.floatTestAcc);
  assert.ok(ptq.bytes < report.quantized!.bytes, 'int4 is smaller than int8');
  // the loaded int4-qat copy computes what the qat job's fake-quantised evaluation computed
  const last1 = lastEpoch(r.runDir, 'qat-s1');
  assert.equal(qat.testAcc, last1.testAcc);
  assert.equal(qat.testErrors, last1.testErrors);
  assert.equal(qat.accDrop, qat.floatTestAcc - qat.testAcc);
  const last2 = lastEpoch(r.runDir, 'qat-s2');
  assert.deepEqual(report.qat, {
    testAcc: { mean: (last1.testAcc + last2.testAcc) / 2, std: report.qat!.testAcc.std, n: 2 },
    testErrors: { mean: (last1.testErrors + last2.testErrors) / 2, std: report.qat!.testErrors.std, n: 2 }, bits: 4, activations: true,
  });
  const text = summaryTable(report);
  assert.match(text, /student \(int4, post-training\)/);
  assert.match(text, /student \(int4, quantisation-aware, activations\)/);
  assert.match(text, /qat jobs \(int4 fake-quantised, activations\)/);
  assert.match(text, /student\/int4-qat, distill-int4-per-channel\): [\d.]+× smaller than float32/);
  // distill export --job int4-qat: the copy with its FORMAT.md, byte for byte
  const dest = path.join(tempDir(), 'out');
  const ex = cp.spawnSync(process.execPath, [CLI, 'export', r.runDir, dest, '--job', 'int4-qat'], { encoding: 'utf8' });
  assert.equal(ex.status, 0, ex.stdout + ex.stderr);
  assert.match(ex.stdout, /exported int4-qat student/);
  for (const f of ['FORMAT.md', 'model.json', 'weights.bin']) {
    assert.ok(fs.readFileSync(path.join(dest, f)).equals(fs.readFileSync(path.join(r.runDir, 'student', 'int4-qat', f))), f);
  }
});

test('bits 8, aware, weights only: one qat row (student/int8-qat), no int4 copy', { timeout: 300_000 }, async () => {
  const base = syntheticExperiment();
  const file = writeExperiment(tempDir(), syntheticExperiment({
    baseline: false, student: { ...(base.student as object), quantize: { bits: 8, aware: true } },
  }));
  const r = await runExperiment({ experiment: file, teacherThread: false });
  assert.equal(r.status, 'completed', r.error);
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Report;
  assert.deepEqual(report.quantizedVariants!.map((q) => [q.dir, q.method, q.bits, q.activations]), [['student/int8-qat', 'qat', 8, false]]);
  assert.ok(!fs.existsSync(path.join(r.runDir, 'student', 'int4')));
  assert.equal(report.quantizedVariants![0].bytes, report.quantized!.bytes, 'same architecture, same int8 size');
  assert.equal(report.quantizedVariants![0].testAcc, lastEpoch(r.runDir, 'qat-s1').testAcc);
  assert.deepEqual(runFolderViolations(r.runDir), []);
});

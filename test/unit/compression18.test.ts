/**
 * The compression report's issue-18 data (src/host/panels/panelData.ts compressionData /
 * quantizedAndDataFree) from a run folder whose report.json has the new fields: a row per quantised
 * copy in the report's order with its label, the QAT summary, the data-free comparison (scratch on
 * the reference or on the synthesised inputs), and the discriminator-wins warning shown with the
 * others without marking the teacher's column. Figures written out by hand.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, test } from 'node:test';
import { compressionData, quantizedAndDataFree } from '../../src/host/panels/panelData';
import type { QuantizedFigures, Report } from '../../src/runs/report';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'comp18-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const stat = (mean: number, std = 0, n = 3) => ({ mean, std, n });
const q = (extra: Partial<QuantizedFigures>): QuantizedFigures => ({ dir: 'student/int8', format: 'int8', bytes: 1000, floatBytes: 4000, compression: 4, testAcc: 0.95, testErrors: 500, floatTestAcc: 0.96, accDrop: 0.01, ...extra });

function report(): Report {
  return {
    experiment: 'e', runId: 'r', backend: 'wasm', scheme: 'offline', jobs: {}, exportedJob: 'distill-s1', testSize: 10_000,
    teacher: { params: 100_000, bytes: 400_000, flops: 1, latencyMsPerSample: 1, testAcc: 0.99, testErrors: 100 },
    student: { params: 10_000, bytes: 4000, flops: 1, latencyMsPerSample: 0.1 },
    summary: { distill: { testAcc: stat(0.9), testErrors: stat(1000) }, scratch: { testAcc: stat(0.8), testErrors: stat(2000) } },
    quantized: q({ agreement: 0.93 }),
    quantizedVariants: [q({ dir: 'student/int4', bits: 4, method: 'ptq', bytes: 600 }), q({ dir: 'student/int4-qat', bits: 4, method: 'qat', activations: true, job: 'qat-s1', testAcc: 0.955, floatTestAcc: 0.954, accDrop: -0.001 })],
    qat: { testAcc: stat(0.953, 0.001), testErrors: stat(470), bits: 4, activations: true },
    dataFree: { samples: 512, batches: 4, bnLoss: { start: 5, end: 0.5 }, teacherAcc: 0.98, reference: { format: 'mnist', distill: { testAcc: stat(0.97), testErrors: stat(300) } } },
    warnings: [{ kind: 'discriminator-wins', message: 'the discriminator averaged 99.7 % accuracy in epoch 1 of distill-s1', causes: ['its learning rate is too high'] }],
  };
}

test('quantised rows in the report\'s order, labelled by bits and method; QAT summary; data-free comparison', () => {
  const d = quantizedAndDataFree(report());
  assert.deepEqual(d.quantized!.map((r) => [r.label, r.dir, r.bytes, r.accDrop, r.job]), [
    ['int8 · post-training', 'student/int8', 1000, 0.01, undefined],
    ['int4 · post-training', 'student/int4', 600, 0.01, undefined],
    ['int4 · quantisation-aware + activations', 'student/int4-qat', 1000, -0.001, 'qat-s1'],
  ]);
  assert.equal(d.quantized![0].agreement, 0.93);
  assert.deepEqual(d.qat, { testAcc: stat(0.953, 0.001), bits: 4, activations: true });
  assert.deepEqual(d.dataFree, { samples: 512, batches: 4, bnLoss: { start: 5, end: 0.5 }, teacherAcc: 0.98, scratchOn: 'real',
    dataFree: stat(0.9), realKd: stat(0.97), referenceFormat: 'mnist', scratch: stat(0.8) });
  // without a reference: no real-data KD, the scratch student trained on the synthesised inputs
  const r = report();
  delete r.dataFree!.reference;
  assert.equal(quantizedAndDataFree(r).dataFree!.scratchOn, 'synthesized');
  assert.equal(quantizedAndDataFree(r).dataFree!.realKd, undefined);
  // an older report: nothing of issue 18
  const old = report();
  delete old.quantizedVariants;
  delete old.qat;
  delete old.dataFree;
  assert.deepEqual(quantizedAndDataFree(old), {});
});

test('a run folder: the discriminator-wins warning shown, the teacher not marked; the issue-18 sections present', () => {
  const run = path.join(tmp, 'run');
  fs.mkdirSync(run);
  const now = new Date().toISOString();
  fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ id: 'r', experiment: 'e', experimentFile: '/x/e.distill.json', status: 'completed', versions: {}, createdAt: now, updatedAt: now, resumes: [], jobs: {} }));
  fs.writeFileSync(path.join(run, 'report.json'), JSON.stringify(report()));
  const d = compressionData(run, 't', []);
  assert.deepEqual(d.warnings, [{ message: 'the discriminator averaged 99.7 % accuracy in epoch 1 of distill-s1', causes: ['its learning rate is too high'] }]);
  assert.equal(d.columns.find((c) => c.name === 'teacher')?.note, undefined);
  assert.equal(d.quantized?.length, 3);
  assert.equal(d.dataFree?.samples, 512);
});

/**
 * The run's verdict (issue 20): teacher / scratch / distilled, the difference with its 95 %
 * uncertainty (seeds and test-set noise), flagged when distillation lost or is within noise.
 * Uncertainties are recomputed here from their definition.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accuracyError, verdict } from '../../src/runs/verdict';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('the issue\'s case: distilled 96.0 % vs scratch 96.6 %, one seed, 1,000 test images → flagged as lost, within noise', () => {
  const v = verdict({ teacher: { testAcc: 0.989 }, summary: { scratch: { testAcc: { mean: 0.966, std: 0, n: 1 } }, distill: { testAcc: { mean: 0.96, std: 0, n: 1 } } }, testSize: 1000 })!;
  const se = Math.sqrt(0.96 * 0.04 / 1000 + 0.966 * 0.034 / 1000);
  close(v.difference!, 0.96 - 0.966, 'difference');
  close(v.uncertainty!, 1.96 * se, 'uncertainty');
  assert.equal(v.outcome, 'worse');
  assert.equal(v.flagged, true);
  assert.equal(v.headline, `teacher 98.90 % · scratch 96.60 % · distilled 96.00 %: −0.60 ± ${(1.96 * se * 100).toFixed(2)} points vs scratch (95 %, 1 seed, 1,000 test images)`);
  assert.match(v.note, /^distillation lost to scratch \(within noise\)/);
});

test('seeds add their spread; a clear gain is not flagged, a small one is within noise', () => {
  const s = { mean: 0.9, std: 0.01, n: 3 };
  const d = { mean: 0.95, std: 0.005, n: 3 };
  close(accuracyError(s, 10_000), Math.sqrt(0.01 ** 2 / 3 + 0.9 * 0.1 / 10_000), 'seed + test error');
  close(accuracyError(s), 0.01 / Math.sqrt(3), 'seeds only');
  const win = verdict({ summary: { scratch: { testAcc: s }, distill: { testAcc: d } }, testSize: 10_000 })!;
  assert.equal(win.outcome, 'better');
  assert.equal(win.flagged, false);
  assert.match(win.headline, /^scratch 90\.00 % · distilled 95\.00 %: \+5\.00 ± \d\.\d\d points vs scratch \(95 %, 3 seeds, 10,000 test images\)$/);
  const small = verdict({ summary: { scratch: { testAcc: s }, distill: { testAcc: { mean: 0.905, std: 0.01, n: 3 } } }, testSize: 10_000 })!;
  assert.equal(small.outcome, 'noise');
  assert.equal(small.flagged, true);
  assert.match(small.note, /^within noise/);
});

test('no scratch baseline: said, not flagged; no distilled student: no verdict', () => {
  const v = verdict({ teacher: { testAcc: 0.9 }, summary: { distill: { testAcc: { mean: 0.8, std: 0, n: 1 } } }, testSize: 500 })!;
  assert.equal(v.outcome, 'no-baseline');
  assert.equal(v.flagged, false);
  assert.equal(v.headline, 'teacher 90.00 % · distilled 80.00 % (1 seed, 500 test images)');
  assert.equal(verdict({ summary: {} }), undefined);
});

test('the CLI table ends with the verdict, flagged (the issue\'s 96.0 vs 96.6 %), with the batch-1 latency explained', async () => {
  const { summaryTable } = await import('../../src/cli/main');
  const figures = { params: 1000, bytes: 4000, flops: 2000, latencyMsPerSample: 0.1 };
  const stat = (mean: number) => ({ mean, std: 0, n: 1 });
  const report = {
    experiment: 'e', runId: 'r', backend: 'cpu', scheme: 'offline', jobs: {}, exportedJob: 'distill-s1', testSize: 1000,
    teacher: { ...figures, params: 8000, testAcc: 0.989, testErrors: 11 }, student: figures,
    compression: { params: 8, bytes: 8, flops: 8.5, speedup: 1.01 },
    summary: { scratch: { testAcc: stat(0.966), testErrors: stat(34) }, distill: { testAcc: stat(0.96), testErrors: stat(40) } },
  };
  const table = summaryTable(report as unknown as Parameters<typeof summaryTable>[0]);
  assert.match(table, /\nVerdict: teacher 98\.90 % · scratch 96\.60 % · distilled 96\.00 %: −0\.60 ± \d\.\d\d points vs scratch \(95 %, 1 seed, 1,000 test images\)\.\n⚠ distillation lost to scratch \(within noise\)/);
  assert.match(table, /×1\.01 faster at batch 1 for 8\.5× fewer FLOPs: at batch 1 a forward pass is dominated by the fixed cost of each call/);
});

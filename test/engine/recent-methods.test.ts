/**
 * The methods of issue 17 through the real engine, beyond "it trains" (test/engine/catalogue.test.ts):
 * ctkd's temperature is logged on every step record, charted by the dashboard's data, and
 * restored from the checkpoint on resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runExperiment } from '../../src/engine/run';
import { DashboardBuilder } from '../../src/host/panels/panelData';
import type { MetricRecord } from '../../src/engine/runs/store';
import { readMetrics } from '../../src/engine/runs/store';
import { imageExperiment, tempDir, writeExperiment } from '../helpers/experiments';

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

/** The `estimate` probe (issue 20: New Experiment shows "≈ 40 s on this machine" before Run). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimate } from '../../src/engine/probe';
import { initBackend } from '../../src/engine/backend';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

test('the estimate counts the steps the run will take (counted independently here) and times them on this machine', async () => {
  await initBackend('cpu');
  const file = writeExperiment(tempDir(), syntheticExperiment());
  const e = await estimate(file);
  // 512 samples, 1/8 for validation → 448 to train; batch 32 → 14 steps per epoch; 2 epochs
  // teacher: 28 steps; scratch and distilled students: 2 × 28 = 56 steps of the same architecture
  const perEpoch = Math.ceil((512 - 512 * 0.125) / 32);
  assert.ok(e.seconds !== undefined && Number.isFinite(e.seconds) && e.seconds > 0, JSON.stringify(e));
  assert.match(e.description ?? '', new RegExp(`${2 * perEpoch} steps of the teacher[^,]* at [\\d.]+ ms`));
  assert.match(e.description ?? '', new RegExp(`${2 * 2 * perEpoch} steps of the student[^,;]* at [\\d.]+ ms`));
});

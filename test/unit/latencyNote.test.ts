/**
 * The compression report explains a speed-up that lags the FLOPs at batch 1 (issue 20: ×1.01 for
 * 8.5× fewer FLOPs, unexplained) and measures a larger batch too.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { LARGE_BATCH, latencyExplanation } from '../../src/runs/latencyNote';
import { modelStats } from '../../src/engine/metrics/modelStats';
import { modelFigures } from '../../src/engine/results/report';
import { mlp } from '../../examples/models';

before(async () => {
  await tf.setBackend('cpu');
});

test('batch 1 speed-up far below the FLOPs ratio: explained, with the larger batch', () => {
  const why = latencyExplanation({ flopsRatio: 8.5, speedup: 1.01, speedupBatch: 3.2, batch: 64 });
  assert.ok(why);
  assert.match(why, /^×1\.01 faster at batch 1 for 8\.5× fewer FLOPs: at batch 1 a forward pass is dominated by the fixed cost of each call/);
  assert.match(why, /At batch 64 the student is ×3\.20 faster per sample: there the arithmetic shows\.$/);
  // without a batch measurement (older reports): the explanation alone
  assert.doesNotMatch(latencyExplanation({ flopsRatio: 8.5, speedup: 1.01 })!, /At batch/);
});

test('no explanation when the speed-up follows the FLOPs, or there is nothing to explain', () => {
  assert.equal(latencyExplanation({ flopsRatio: 4, speedup: 3 }), undefined);
  assert.equal(latencyExplanation({ flopsRatio: 1.2, speedup: 1 }), undefined);
  assert.equal(latencyExplanation({ flopsRatio: 8, speedup: 2.83 }), undefined, 'the square root of the FLOPs ratio is the threshold');
  assert.ok(latencyExplanation({ flopsRatio: 8, speedup: 2.8 }));
});

test('the report\'s model figures measure latency at batch 1 and at the larger batch', async () => {
  const m = mlp(tf, { inputs: 16, hidden: [32], classes: 4 });
  try {
    const f = await modelFigures(m, [16]);
    const s = modelStats(m);
    assert.deepEqual([f.params, f.flops], [s.params, s.flops]);
    assert.equal(f.latencyBatch?.batch, LARGE_BATCH);
    assert.ok(Number.isFinite(f.latencyBatch!.msPerSample) && f.latencyBatch!.msPerSample > 0);
    assert.ok(Number.isFinite(f.latencyMsPerSample) && f.latencyMsPerSample > 0);
  } finally {
    m.dispose();
  }
});

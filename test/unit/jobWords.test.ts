/**
 * How issue 18's jobs, logged values and quantised copies read (src/runs/jobWords.ts) and where the
 * views use those words: the status bar / tree progress of a data-free run's synthesis counts
 * batches, real-s<seed> and qat-s<seed> say what they are, the discriminator's params read as words, the
 * quantised rows are named by bits and method, the discriminator-wins warning has its short label.
 * Expected texts written out by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { epochUnit, jobLabel, paramLabel, positionWords, quantizedLabel } from '../../src/protocol/jobWords';
import { progressText, statusTooltipLines, takeSnapshot } from '../../src/host/liveRuns';
import type { RunHandle } from '../../src/host/runManager';
import type { ProgressMessage } from '../../src/protocol/engine';
import { warningBadges, warningLabel } from '../../src/host/reportWarnings';

test('job labels: synthesize, real-s*, qat-s* say what they are; other jobs stay their id', () => {
  assert.equal(jobLabel('synthesize'), 'synthesize · data-free inputs');
  assert.equal(jobLabel('real-s1'), 'real-s1 · KD on real data');
  assert.equal(jobLabel('qat-s12'), 'qat-s12 · quantisation-aware');
  for (const j of ['teacher', 'scratch-s1', 'distill-s2', 'real-sx', 'qat', 'myqat-s1']) assert.equal(jobLabel(j), j);
  assert.equal(positionWords('synthesize', 3, 8), 'synthesizing batch 3/8');
  assert.equal(positionWords('distill-s1', 3, 8), 'epoch 3/8');
  assert.equal(epochUnit('synthesize'), 'batch');
  assert.equal(epochUnit('qat-s1'), 'epoch');
});

test('param labels: the discriminator\'s loss and accuracy of each adversarial term, other names unchanged', () => {
  assert.equal(paramLabel('adversarial.discLoss'), 'discriminator loss (adversarial)');
  assert.equal(paramLabel('adversarial.discAcc'), 'discriminator accuracy (adversarial)');
  assert.equal(paramLabel('adversarial#2.discAcc'), 'discriminator accuracy (adversarial#2)');
  assert.equal(paramLabel('ctkd.temperature'), 'ctkd.temperature');
  assert.equal(paramLabel('discLoss'), 'discLoss');
  assert.equal(paramLabel('.discLoss'), '.discLoss');
});

test('quantised copies: bits and method (absent = int8 post-training), activations said for QAT', () => {
  assert.equal(quantizedLabel({}), 'int8 · post-training');
  assert.equal(quantizedLabel({ bits: 4, method: 'ptq' }), 'int4 · post-training');
  assert.equal(quantizedLabel({ bits: 8, method: 'qat' }), 'int8 · quantisation-aware');
  assert.equal(quantizedLabel({ bits: 4, method: 'qat', activations: true }), 'int4 · quantisation-aware + activations');
});

function progress(job: string, epoch: number, epochs: number): ProgressMessage {
  return { type: 'progress', job, phase: 'distill', epoch, epochs, step: 120, steps: 200, losses: { bn: 0.4, total: 0.5234 }, samplesPerSecond: 64, etaSeconds: 30 };
}

test('progress words: the synthesis says "synthesizing batch b/B" (no epoch), other jobs keep theirs', () => {
  assert.equal(progressText(progress('synthesize', 3, 8)), 'synthesizing batch 3/8 · loss 0.523 · 30 s left');
  assert.equal(progressText(progress('real-s1', 2, 5)), 'real-s1 · epoch 2/5 · loss 0.523 · 30 s left');
  const h = { key: 'k', kind: 'start', state: 'running', logTail: [], finished: new Promise(() => {}), queuedAt: 0, runDir: '/ws/.distill/runs/df/20261202-101010',
    experimentFile: '/ws/df.distill.json', progress: progress('synthesize', 3, 8) } as unknown as RunHandle;
  assert.deepEqual(statusTooltipLines(takeSnapshot([h], 1)), ['20261202-101010: running — synthesize · data-free inputs, synthesizing batch 3/8, iteration 120/200, 64 samples/s, 30 s left']);
  const q = { ...h, progress: progress('qat-s1', 1, 2) } as unknown as RunHandle;
  assert.deepEqual(statusTooltipLines(takeSnapshot([q], 1)), ['20261202-101010: running — qat-s1 · quantisation-aware, epoch 1/2, step 120/200, 64 samples/s, 30 s left']);
});

test('the discriminator-wins warning has a short label for the tree', () => {
  const w = { kind: 'discriminator-wins' as const, message: 'the discriminator of adversarial averaged 99.6 % accuracy in epoch 2 of distill-s1', causes: ['its learning rate is too high'] };
  assert.equal(warningLabel(w), 'discriminator wins');
  assert.deepEqual(warningBadges({ warnings: [w] }), ['⚠ discriminator wins']);
});

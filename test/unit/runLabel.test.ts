/** Default run labels from the config difference to the previous run (issue 20). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configDiffLabel } from '../../src/host/runLabel';

const base = {
  name: 'mnist', seeds: [1],
  knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
  training: { epochs: 3, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.001 } },
};
const clone = () => structuredClone(base) as typeof base & Record<string, unknown>;

test('methods added and removed: +at +fitnet, −kd', () => {
  const c = clone();
  (c.knowledge as unknown[]).push({ kind: 'feature', method: 'at', weight: 100, pairs: [] }, { kind: 'feature', method: 'fitnet', weight: 1, pairs: [] });
  assert.equal(configDiffLabel(base, c), '+at +fitnet');
  const d = clone();
  d.knowledge = [{ kind: 'response', method: 'dkd', temperature: 4, weight: 1 }] as typeof base.knowledge;
  assert.equal(configDiffLabel(base, d), '+dkd −kd');
});

test('a changed value: T=8, epochs=5, lr=0.002; several are cut to three', () => {
  const c = clone();
  c.knowledge[0].temperature = 8;
  assert.equal(configDiffLabel(base, c), 'T=8');
  c.training.epochs = 5;
  c.training.optimizer.learningRate = 0.002;
  assert.equal(configDiffLabel(base, c), 'T=8 epochs=5 lr=0.002');
  c.seeds = [1, 2];
  assert.equal(configDiffLabel(base, c), 'seeds=[1,2] T=8 epochs=5 +1 more');
});

test('the same config (another name only): no label', () => {
  const c = clone();
  c.name = 'other';
  assert.equal(configDiffLabel(base, c), undefined);
});

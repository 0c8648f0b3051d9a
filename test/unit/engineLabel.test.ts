import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { runEngine } from '../../src/runs/engineLabel';

const backend = (name: string, notes: string[]) => ({ name, versions: {}, notes, customKernels: [] });

test('a torch run names its device, and its precision when it is not fp32', () => {
  const versions = { torch: '1.13.0a0', python: '3.11.2' };
  assert.equal(runEngine({ versions, backend: backend('cpu', ['threads: 2 (affinity)', 'precision: fp32']) }).label, 'torch · cpu');
  const bf16 = runEngine({ versions, backend: backend('cuda:0', ['threads: 8 (affinity)', 'precision: bf16']) });
  assert.equal(bf16.label, 'torch · cuda:0 · bf16');
  assert.equal(bf16.precision, 'bf16');
  assert.equal(bf16.versions, 'torch 1.13.0a0, Python 3.11.2');
});

test('a TF.js run names its backend only; a run not started yet names the engine', () => {
  assert.equal(runEngine({ versions: {}, backend: backend('wasm', ['precision: bf16']) }).label, 'tfjs · wasm');
  assert.equal(runEngine({ versions: {} }, 'torch').label, 'torch');
  assert.equal(runEngine({ versions: {} }).label, 'tfjs');
});

/**
 * The cross-engine conformance fixture (test/fixtures/conformance/losses.json) is what the TF.js
 * engine computes today: regenerated here from the engine's own losses (test/helpers/conformance.ts,
 * wasm backend as the engine initialises it) and compared with the file. A changed loss, a new
 * method in the catalogue without a case, or a catalogue edit fails here, naming the case; the fix is
 * `node --import tsx test/helpers/write-conformance-fixture.ts`, then python/tests/test_conformance.py holds the
 * PyTorch engine to the new numbers.
 *
 * Inputs, options and parameters must be identical (seeded, float32-exact); values and gradients
 * agree to 1e-5 relative to each tensor's largest magnitude (the wasm build with or without SIMD may
 * round float32 sums differently; on one machine they are equal).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/backend';
import { METHOD_INFO } from '../../src/methods/catalogue';
import { buildConformanceFixture, FIXTURE_PATH } from '../helpers/conformance';
import type { ConformanceFixture, FixtureTensor } from '../helpers/conformance';
import { REPO } from '../helpers/experiments';

let fresh: ConformanceFixture;
let stored: ConformanceFixture;
const REGENERATE = 'regenerate it with `node --import tsx test/helpers/write-conformance-fixture.ts`';

before(async () => {
  await initBackend('wasm');
  fresh = buildConformanceFixture();
  stored = JSON.parse(fs.readFileSync(path.join(REPO, FIXTURE_PATH), 'utf8')) as ConformanceFixture;
});

function close(name: string, what: string, a: number[], b: number[], rtol = 1e-5): void {
  assert.equal(a.length, b.length, `${name}: ${what}: ${a.length} values in the fixture, ${b.length} now; ${REGENERATE}`);
  const scale = Math.max(...b.map(Math.abs), 1e-30);
  const err = Math.max(0, ...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(err <= rtol * scale, `${name}: ${what}: the fixture differs from the TF.js engine by ${err} (relative ${err / scale}); ${REGENERATE}`);
}

/** Deep equality where numbers may differ by 1e-5 relative (options and extras that come from kernels: crd's Z, banks, ctkd's τ). */
function approxEqual(name: string, what: string, a: unknown, b: unknown): void {
  if (typeof b === 'number' && typeof a === 'number') {
    assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(b), 1e-30), `${name}: ${what}: ${a} in the fixture, ${b} now; ${REGENERATE}`);
  } else if (Array.isArray(b) && b.every((v) => typeof v === 'number') && Array.isArray(a)) {
    close(name, what, a as number[], b as number[]);
  } else if (b && typeof b === 'object' && a && typeof a === 'object' && !Array.isArray(b)) {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${name}: ${what}: keys differ; ${REGENERATE}`);
    for (const k of Object.keys(b)) approxEqual(name, `${what}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
  } else {
    assert.deepEqual(a, b, `${name}: ${what} differs; ${REGENERATE}`);
  }
}

function sameTensors(name: string, what: string, a: Record<string, FixtureTensor>, b: Record<string, FixtureTensor>, exact: boolean): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${name}: ${what} names differ; ${REGENERATE}`);
  for (const k of Object.keys(b)) {
    assert.deepEqual(a[k].shape, b[k].shape, `${name}: ${what} ${k}: shape differs; ${REGENERATE}`);
    if (exact) assert.deepEqual(a[k].data, b[k].data, `${name}: ${what} ${k}: values differ; ${REGENERATE}`);
    else close(name, `${what} ${k}`, a[k].data, b[k].data);
  }
}

test('the fixture covers every method of the catalogue, with its shape rules', () => {
  const methods = new Set(fresh.cases.map((c) => c.method));
  const missing = METHOD_INFO.map((m) => m.method).filter((m) => !methods.has(m));
  assert.deepEqual(missing, [], `methods of src/methods/catalogue.ts without a conformance case in test/helpers/conformance.ts: ${missing.join(', ')}`);
  assert.deepEqual(stored.catalogue, fresh.catalogue, `the catalogue changed since the fixture was written; ${REGENERATE}`);
  assert.equal(stored.backend, 'wasm');
  assert.equal(stored.layout, fresh.layout);
});

test('the fixture holds the TF.js engine\'s current values and gradients', () => {
  assert.deepEqual(stored.cases.map((c) => c.name), fresh.cases.map((c) => c.name), `the cases changed; ${REGENERATE}`);
  fresh.cases.forEach((c, i) => {
    const s = stored.cases[i];
    assert.equal(s.method, c.method, `${c.name}: method`);
    approxEqual(c.name, 'options', s.options, c.options);
    sameTensors(c.name, 'input', s.inputs, c.inputs, true);
    sameTensors(c.name, 'parameter', s.params, c.params, true);
    close(c.name, 'value', [s.value], [c.value]);
    sameTensors(c.name, 'gradient', s.grads, c.grads, false);
    assert.ok(Object.values(c.grads).every((g) => g.data.some((v) => v !== 0)), `${c.name}: a zero gradient checks nothing`);
  });
  fresh.cases.forEach((c, i) => approxEqual(c.name, 'extra', stored.cases[i].extra, c.extra));
  // crd's negatives are integers: exactly the sampler's.
  const crd = (cs: ConformanceFixture['cases']) => cs.find((c) => c.name === 'crd')!.extra;
  assert.deepEqual(crd(stored.cases).rows, crd(fresh.cases).rows);
  assert.deepEqual(crd(stored.cases).bankS, crd(fresh.cases).bankS);
});

test('the fixture holds the catalogue\'s shape messages, the adapter plans, the losses\' refusals and the closest-name lists', () => {
  assert.deepEqual(stored.shapeMessages, fresh.shapeMessages, `pairShapeError changed; ${REGENERATE}`);
  assert.deepEqual(stored.adapterPlans, fresh.adapterPlans, `planAdapter changed; ${REGENERATE}`);
  assert.deepEqual(stored.closestNames, fresh.closestNames, `closestNames changed; ${REGENERATE}`);
  assert.deepEqual(stored.reviewStages, fresh.reviewStages, `reviewStageProblems changed; ${REGENERATE}`);
  assert.deepEqual(stored.errorMessages, fresh.errorMessages, `a loss function's refusal changed; ${REGENERATE}`);
  assert.ok(fresh.shapeMessages.some((m) => m.message === null) && fresh.shapeMessages.some((m) => m.message !== null));
  assert.ok(fresh.adapterPlans.some((p) => p.error) && fresh.adapterPlans.some((p) => p.description && p.description !== 'none'));
});

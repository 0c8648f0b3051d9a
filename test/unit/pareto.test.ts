/** The Pareto front (src/runs/pareto.ts) against the O(n²) definition, on random and adversarial sets. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SizeAccuracy } from '../../src/runs/pareto';
import { frontOrder, paretoFront } from '../../src/runs/pareto';
import { mulberry32 } from '../../src/engine/training/random';

/** The definition, written out: i is on the front iff no j is ≤ in size, ≥ in accuracy and strictly better in one. */
function naive(points: SizeAccuracy[]): boolean[] {
  const ok = (p: SizeAccuracy) => Number.isFinite(p.size) && Number.isFinite(p.acc);
  return points.map((p, i) => ok(p) && !points.some((o, j) => j !== i && ok(o) && o.size! <= p.size! && o.acc! >= p.acc! && (o.size! < p.size! || o.acc! > p.acc!)));
}

/** Deterministic PRNG (the engine's mulberry32) so a failure is reproducible. */
const rng = mulberry32;

test('matches the O(n²) definition on 500 random sets (ties, duplicates and missing values included)', () => {
  const r = rng(7);
  let fronts = 0;
  for (let trial = 0; trial < 500; trial++) {
    const n = 1 + Math.floor(r() * 40);
    // few distinct values so that equal sizes, equal accuracies and exact duplicates are common
    const levels = 1 + Math.floor(r() * 8);
    const pts: SizeAccuracy[] = Array.from({ length: n }, () => ({
      size: r() < 0.08 ? undefined : Math.floor(r() * levels) * 1000,
      acc: r() < 0.08 ? (r() < 0.5 ? undefined : NaN) : Math.floor(r() * levels) / levels,
    }));
    const got = paretoFront(pts);
    assert.deepEqual(got, naive(pts), `trial ${trial}: ${JSON.stringify(pts)}`);
    fronts += got.filter(Boolean).length;
  }
  assert.ok(fronts > 500, 'the random sets have non-trivial fronts');
});

test('small cases by hand', () => {
  // (size, acc): b dominates c (smaller and more accurate); a and b trade off; d equals b
  const pts = [{ size: 10, acc: 0.8 }, { size: 20, acc: 0.9 }, { size: 30, acc: 0.85 }, { size: 20, acc: 0.9 }, { size: 20, acc: 0.7 }];
  assert.deepEqual(paretoFront(pts), [true, true, false, true, false]);
  assert.deepEqual(frontOrder(pts), [0, 1, 3]);
  assert.deepEqual(paretoFront([]), []);
  assert.deepEqual(paretoFront([{ size: 5, acc: undefined }]), [false]);
  // a larger point is on the front only when it is strictly more accurate
  assert.deepEqual(paretoFront([{ size: 1, acc: 0.5 }, { size: 2, acc: 0.5 }]), [true, false]);
});

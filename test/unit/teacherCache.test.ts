/**
 * The training-split logits filled on demand (src/engine/models/teacherCache.ts).
 * Run: node --import tsx --test test/unit/teacherCache.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillTrainLogits, lacksTrainLogits } from '../../src/engine/models/teacherCache';
import type { TeacherLogits } from '../../src/engine/models/teacherCache';

void test('rows are recorded once, the missing count falls, and a complete split drops its marks', () => {
  const c = 2;
  const l: TeacherLogits = { train: new Float32Array(4 * c), trainMissing: new Uint8Array(4).fill(1), trainMissingCount: 4, test: new Float32Array(0) };
  assert.ok(lacksTrainLogits(l, Int32Array.of(3, 1)));
  fillTrainLogits(l, Int32Array.of(3, 1), Float32Array.of(30, 31, 10, 11), c);
  assert.deepEqual(Array.from(l.train), [0, 0, 10, 11, 0, 0, 30, 31]);
  assert.equal(l.trainMissingCount, 2);
  assert.ok(!lacksTrainLogits(l, Int32Array.of(1, 3)), 'rows 1 and 3 are there');
  assert.ok(lacksTrainLogits(l, Int32Array.of(1, 2)));
  // A row already recorded keeps its first value (a batch may repeat rows).
  fillTrainLogits(l, Int32Array.of(1, 0, 2), Float32Array.of(-1, -1, 0.5, 0.25, 20, 21), c);
  assert.deepEqual(Array.from(l.train), [0.5, 0.25, 10, 11, 20, 21, 30, 31]);
  assert.equal(l.trainMissing, undefined, 'complete');
  assert.equal(l.trainMissingCount, undefined);
  assert.ok(!lacksTrainLogits(l, Int32Array.of(0, 1, 2, 3)));
  fillTrainLogits(l, Int32Array.of(0), Float32Array.of(9, 9), c);
  assert.equal(l.train[0], 0.5, 'nothing is rewritten once complete');
});

/** float16 encoding against known bit patterns and a bound on the rounding error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHalf, fromHalf, gatherHalfRows, toHalf } from '../../src/engine/training/f16';

test('known half-precision bit patterns', () => {
  const cases: [number, number][] = [
    [0, 0x0000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [1e6, 0x7c00],
    [2 ** -24, 0x0001], [2 ** -14, 0x0400], [0.333251953125, 0x3555], [-Infinity, 0xfc00],
  ];
  for (const [v, h] of cases) {
    assert.equal(toHalf(v), h, `toHalf(${v})`);
    if (Number.isFinite(v) && Math.abs(v) <= 65504) assert.equal(fromHalf(h), v, `fromHalf(0x${h.toString(16)})`);
  }
  assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
});

test('round trip within half a unit in the last place (relative 2^-11) over a wide range', () => {
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const v = (Math.random() * 2 - 1) * 10 ** (Math.random() * 8 - 4);
    const back = fromHalf(toHalf(v));
    if (Math.abs(v) >= 2 ** -14) worst = Math.max(worst, Math.abs(back - v) / Math.abs(v));
    else assert.ok(Math.abs(back - v) <= 2 ** -25, `subnormal ${v} → ${back}`);
  }
  assert.ok(worst <= 2 ** -11, `worst relative error ${worst}`);
});

test('gathering rows decodes the right samples', () => {
  const all = new Uint16Array(6);
  encodeHalf(Float32Array.from([1, 2, 3, 4, 5, 6]), all);
  assert.deepEqual(Array.from(gatherHalfRows(all, Int32Array.from([2, 0]), 2)), [5, 6, 1, 2]);
});

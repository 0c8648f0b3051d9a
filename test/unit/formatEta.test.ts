/** The status bar's time left (issue 20): seconds, minutes, hours, computed independently here. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatEta } from '../../src/host/sparkline';

test('time left: s, min s, h min; rounded; never negative', () => {
  for (const s of [0, 1, 59, 60, 61, 125, 599, 3599, 3600, 3661, 7800, 86_399]) {
    const r = Math.round(s);
    const want = r < 60 ? `${r} s` : r < 3600 ? `${Math.floor(r / 60)} min ${String(r % 60).padStart(2, '0')} s`
      : `${Math.floor(r / 3600)} h ${String(Math.floor(r / 60) % 60).padStart(2, '0')} min`;
    assert.equal(formatEta(s), want, String(s));
  }
  assert.equal(formatEta(44.6), '45 s');
  assert.equal(formatEta(125), '2 min 05 s');
  assert.equal(formatEta(7800), '2 h 10 min');
  assert.equal(formatEta(-3), '0 s');
});

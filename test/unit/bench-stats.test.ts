/** The quality benchmark's paired t-test against textbook values (Student t table) and an independent numeric integration. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { incompleteBeta, mean, pairedTTest, std, tTwoSided } from '../../bench/stats';

/** Two-sided tail of Student's t by Simpson integration of its density (independent of the beta function). */
function tailByIntegration(t: number, nu: number): number {
  const logC = lgammaSeries((nu + 1) / 2) - lgammaSeries(nu / 2) - 0.5 * Math.log(nu * Math.PI);
  const f = (x: number) => Math.exp(logC - ((nu + 1) / 2) * Math.log(1 + (x * x) / nu));
  const n = 20000;
  const h = t / n;
  let s = f(0) + f(t);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  return 1 - 2 * (s * h) / 3;
}

/** log Γ for half-integers and integers, exactly: Γ(n) = (n−1)!, Γ(n + ½) = (2n)!√π / (4ⁿ n!). */
function lgammaSeries(x: number): number {
  if (Number.isInteger(x)) {
    let s = 0;
    for (let k = 2; k < x; k++) s += Math.log(k);
    return s;
  }
  const n = x - 0.5;
  let s = 0.5 * Math.log(Math.PI);
  for (let k = 1; k <= n; k++) s += Math.log(n + k) - Math.log(4);
  return s;
}

test('t-test tails match the t table (two-sided 0.05 and 0.01 critical values) and numeric integration', () => {
  // critical values: ν = 4: 2.776 (0.05), 4.604 (0.01); ν = 9: 2.262 (0.05); ν = 1: 12.706 (0.05)
  for (const [t, nu, p] of [[2.776, 4, 0.05], [4.604, 4, 0.01], [2.262, 9, 0.05], [12.706, 1, 0.05]]) {
    assert.ok(Math.abs(tTwoSided(t, nu) - p) < 2e-4, `t=${t} ν=${nu}: ${tTwoSided(t, nu)} vs ${p}`);
  }
  for (const [t, nu] of [[0.5, 4], [1.7, 4], [3.2, 6], [2.1, 3]]) {
    assert.ok(Math.abs(tTwoSided(t, nu) - tailByIntegration(t, nu)) < 1e-6, `t=${t} ν=${nu}`);
  }
  assert.equal(tTwoSided(0, 4), 1);
  assert.ok(Math.abs(incompleteBeta(0.3, 2, 3) - 0.3483) < 1e-4); // I_0.3(2,3) = 0.3483
});

test('paired t-test: differences, not the spread of each sample, decide', () => {
  // each sample varies a lot across seeds, but a beats b by 0.01 ± small on every seed
  const b = [0.80, 0.90, 0.85, 0.70, 0.95];
  const a = b.map((x, i) => x + 0.01 + [0.001, -0.001, 0.002, 0, -0.002][i]);
  const r = pairedTTest(a, b);
  assert.ok(Math.abs(r.delta - 0.01) < 1e-12);
  assert.ok(r.p < 1e-3, `p ${r.p}`);
  // no consistent difference: large p
  const c = b.map((x, i) => x + [0.01, -0.01, 0.005, -0.006, 0.001][i]);
  assert.ok(pairedTTest(c, b).p > 0.5);
  assert.deepEqual(pairedTTest(b, b), { delta: 0, t: 0, p: 1, n: 5 });
  assert.equal(mean([1, 2, 3]), 2);
  assert.equal(std([1, 2, 3]), 1);
  assert.throws(() => pairedTTest([1], [2]), { message: 'paired t-test: expected two samples of the same size ≥ 2, found 1 and 1' });
});

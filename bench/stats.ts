/**
 * Small statistics for the quality benchmark: mean, sample standard deviation, and the paired
 * t-test (two-sided) used to say whether a method's gain over the scratch student is beyond seed
 * noise. The Student t distribution's tail comes from the regularised incomplete beta function
 * (continued fraction, Lentz's method): P(|T| > t) = I_{ν/(ν+t²)}(ν/2, ½).
 */

export function mean(xs: number[]): number {
  return xs.reduce((a, x) => a + x, 0) / xs.length;
}

/** Sample standard deviation (n − 1); 0 for a single value. */
export function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

function logGamma(x: number): number {
  // Lanczos, g = 7, n = 9
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xx = x - 1;
  let a = c[0];
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Two-sided p-value of a Student t statistic with ν degrees of freedom. */
export function tTwoSided(t: number, nu: number): number {
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(nu / (nu + t * t), nu / 2, 0.5);
}

export interface PairedTest {
  /** Mean of the differences a − b. */
  delta: number;
  t: number;
  /** Two-sided p-value (1 when every difference is 0). */
  p: number;
  n: number;
}

/** Paired t-test of a against b (same seeds, same order). */
export function pairedTTest(a: number[], b: number[]): PairedTest {
  if (a.length !== b.length || a.length < 2) throw new Error(`paired t-test: expected two samples of the same size ≥ 2, found ${a.length} and ${b.length}`);
  const d = a.map((x, i) => x - b[i]);
  const m = mean(d);
  const s = std(d);
  if (s === 0) return { delta: m, t: m === 0 ? 0 : Math.sign(m) * Infinity, p: m === 0 ? 1 : 0, n: d.length };
  const t = m / (s / Math.sqrt(d.length));
  return { delta: m, t, p: tTwoSided(t, d.length - 1), n: d.length };
}

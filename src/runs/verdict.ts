/**
 * The verdict of a run (issue 20): teacher / scratch / distilled test accuracy, the difference
 * distilled − scratch with its uncertainty, and a flag when distillation lost to scratch or the
 * difference is within noise. Pure (no TF.js): the CLI table, the tree tooltip, the dashboard's
 * header card and the compression report all show the same thing.
 *
 * Uncertainty of one model's accuracy: the spread over seeds (sample std / √seeds) and the test
 * set's own sampling noise (binomial, √(p(1−p)/N)), added in quadrature; of the difference, the two
 * models' uncertainties in quadrature (the seeds of the two students are independent). The
 * interval is ± 1.96 of that (95 %).
 */

export interface AccuracyStat { mean: number; std: number; n: number }

/** What the verdict needs of report.json. */
export interface VerdictInput {
  teacher?: { testAcc: number };
  summary: { scratch?: { testAcc: AccuracyStat }; distill?: { testAcc: AccuracyStat } };
  testSize?: number;
}

export interface Verdict {
  teacher?: number;
  scratch?: AccuracyStat;
  distilled: AccuracyStat;
  /** distilled − scratch (fraction), when there is a scratch baseline. */
  difference?: number;
  /** Half-width of the 95 % interval of the difference (fraction). */
  uncertainty?: number;
  seeds: number;
  testSize?: number;
  /** better: above scratch beyond noise; worse: below scratch; noise: within ± uncertainty; no-baseline. */
  outcome: 'better' | 'worse' | 'noise' | 'no-baseline';
  /** Shown with a warning: distillation lost to scratch, or the result is within noise. */
  flagged: boolean;
  /** One line: `teacher 98.90 % · scratch 96.60 % · distilled 96.00 %: −0.60 ± 0.85 points vs scratch (1 seed, 1,000 test images)`. */
  headline: string;
  /** Why it is flagged, or what it means. */
  note: string;
}

const Z95 = 1.96;

/** Standard error of a model's test accuracy: seeds and the test set's sampling noise. */
export function accuracyError(s: AccuracyStat, testSize?: number): number {
  const seeds = s.n > 1 ? (s.std * s.std) / s.n : 0;
  const test = testSize && testSize > 0 ? (s.mean * (1 - s.mean)) / testSize : 0;
  return Math.sqrt(seeds + test);
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)}`;
const count = (n: number) => n.toLocaleString('en-US');

export function verdict(r: VerdictInput): Verdict | undefined {
  const d = r.summary.distill?.testAcc;
  if (!d) return undefined;
  const s = r.summary.scratch?.testAcc;
  const seeds = d.n;
  const sizes = `${seeds} seed${seeds === 1 ? '' : 's'}${r.testSize ? `, ${count(r.testSize)} test images` : ''}`;
  const models = [r.teacher ? `teacher ${pct(r.teacher.testAcc)}` : undefined, s ? `scratch ${pct(s.mean)}` : undefined, `distilled ${pct(d.mean)}`]
    .filter(Boolean).join(' · ');
  if (!s) {
    return {
      teacher: r.teacher?.testAcc, distilled: d, seeds, testSize: r.testSize, outcome: 'no-baseline', flagged: false,
      headline: `${models} (${sizes})`, note: 'no scratch baseline in this run: set "baseline": true to know what distillation bought',
    };
  }
  const difference = d.mean - s.mean;
  const uncertainty = Z95 * Math.sqrt(accuracyError(d, r.testSize) ** 2 + accuracyError(s, r.testSize) ** 2);
  const outcome = difference < 0 ? 'worse' : difference > uncertainty ? 'better' : 'noise';
  const within = Math.abs(difference) <= uncertainty;
  const note = outcome === 'worse'
    ? `distillation lost to scratch${within ? ' (within noise)' : ''}: check the teacher, the temperature and the weights`
    : outcome === 'noise'
      ? `within noise: the difference is smaller than its uncertainty${seeds === 1 ? '; more seeds or a larger test set would tell' : ''}`
      : 'distillation beat scratch beyond noise';
  return {
    teacher: r.teacher?.testAcc, scratch: s, distilled: d, difference, uncertainty, seeds, testSize: r.testSize, outcome,
    flagged: outcome !== 'better',
    headline: `${models}: ${points(difference)} ± ${(uncertainty * 100).toFixed(2)} points vs scratch (95 %, ${sizes})`,
    note,
  };
}

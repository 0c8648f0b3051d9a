/**
 * Adversarial health (issue 18): a discriminator that tells the teacher's outputs from the
 * student's almost always (mean accuracy ≥ 0.99 over an epoch) gives the student no useful
 * gradient — −log σ(D(s)) saturates its direction, and the term only pushes the student's outputs
 * away from where D has put them. Found in the epoch records' `extras` (`<term>.discAcc`, the
 * epoch means the adversarial term logs), reported once per run as the `discriminator-wins`
 * warning in report.json, naming every job, term, epoch and accuracy.
 */
import type { MetricRecord } from '../../runs/store';
import type { ReportWarning } from '../../runs/report';

/** Mean discriminator accuracy over an epoch at or above which the discriminator "wins". */
export const DISCRIMINATOR_WINS = 0.99;

/** The `discriminator-wins` warning for the epoch records of `records`, or undefined when no epoch qualifies. */
export function discriminatorWinsWarning(records: readonly MetricRecord[]): ReportWarning | undefined {
  const hits: { job: string; term: string; epoch: number; acc: number }[] = [];
  for (const r of records) {
    if (r.type !== 'epoch' || !r.extras) continue;
    for (const [key, acc] of Object.entries(r.extras)) {
      if (!key.endsWith('.discAcc') || !(acc >= DISCRIMINATOR_WINS)) continue;
      hits.push({ job: r.job, term: key.slice(0, -'.discAcc'.length), epoch: r.epoch, acc });
    }
  }
  if (hits.length === 0) return undefined;
  const shown = hits.slice(0, 5).map((h) => `${h.job} epoch ${h.epoch} (${h.term}): ${(h.acc * 100).toFixed(1)}%`);
  const more = hits.length > shown.length ? ` and ${hits.length - shown.length} more epoch(s)` : '';
  return {
    kind: 'discriminator-wins',
    message: `the adversarial discriminator wins: its mean accuracy over an epoch reached ≥ ${DISCRIMINATOR_WINS * 100}% in ${shown.join('; ')}${more}; ` +
      'a discriminator that always tells the student from the teacher gives the student no useful signal',
    causes: [
      'the discriminator learns faster than the student: lower its "learningRate" (default 0.0002) or use fewer "hidden" units',
      'what it sees separates the networks trivially (a near one-hot teacher softmax against a softer student\'s, or paired features of another scale): raise "temperature", or let a KD or feature term close the gap first (a "linear-warmup" schedule on the adversarial term)',
      'the adversarial term\'s weight is too small for the student to answer: raise its "weight"',
    ],
  };
}

/** The per-class part of the CLI's closing table: the classes where the distilled student loses most. */
import type { Report } from '../runs/report';
import { pct, table } from './format';

/**
 * The `n` classes with the largest drop of the distilled student against the teacher (or, without
 * a teacher, the scratch student), as a table; undefined when the report has no per-class figures.
 */
export function worstClassesTable(r: Report, n = 5): string | undefined {
  const p = r.perClass;
  if (!p || p.gaps.length === 0) return undefined;
  const against = p.reference === 'teacher' ? 'teacher' : p.reference === 'scratch' ? 'scratch' : 'perfect';
  const rows = [['class', 'test n', ...(p.teacher ? ['teacher'] : []), ...(p.scratch ? ['scratch'] : []), 'distilled', `Δ vs ${against}`]];
  for (const g of p.gaps.slice(0, n)) {
    const delta = -g.drop * 100;
    rows.push([`${g.class} ${g.name === String(g.class) ? '' : g.name}`.trim(), String(Math.round(g.support)),
      ...(p.teacher ? [pct(g.teacher)] : []), ...(p.scratch ? [pct(g.scratch)] : []), pct(g.distill),
      `${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(2)} pts`]);
  }
  const seeds = r.summary.distill?.testAcc.n ?? 1;
  return `${Math.min(n, p.gaps.length)} worst classes of the distilled student (test split, last epoch${seeds > 1 ? `, ${seeds} seeds pooled` : ''}):\n${table(rows)}`;
}

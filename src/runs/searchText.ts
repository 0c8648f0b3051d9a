/**
 * A student search as text (issue 18): the candidates with their figures and whether they fit, a
 * rung's results and who goes on, the last rung's Pareto table with the chosen student marked.
 * The search process logs them as it goes (src/engine/search.ts); `distill sweep` and
 * `distill sweep-report` print them from sweep.json (src/cli/sweep.ts). Pure.
 */
import { bytes, human, pct, table } from '../cli/format';
import { finalFront, sizeOf } from './search';
import type { SearchState, SweepJson } from './sweeps';

const AXIS_LABEL: Record<string, string> = {
  'student.derive.width': 'width',
  'student.derive.depth': 'depth',
  'student.derive.swap.Conv2D': 'separable',
};

function axisCells(values: Record<string, number>, keys: string[]): string[] {
  return keys.map((k) => (k === 'student.derive.swap.Conv2D' ? (values[k] ? 'yes' : 'no') : String(values[k])));
}

const ms = (x: number): string => `${x.toFixed(3)} ms`;

/** The budget in words: `params ≤ 50 000, latency ≤ 0.5 ms`. */
export function budgetText(b: SearchState['budget']): string {
  return [
    ...(b.params !== undefined ? [`params ≤ ${human(b.params)}`] : []),
    ...(b.bytes !== undefined ? [`bytes ≤ ${bytes(b.bytes)}`] : []),
    ...(b.latencyMs !== undefined ? [`latency ≤ ${b.latencyMs} ms/sample`] : []),
  ].join(', ');
}

/** Every candidate: its values, figures, whether it fits (or why not), and how far it went. */
export function candidatesTable(s: SearchState, keys: string[]): string {
  const rows = [['candidate', ...keys.map((k) => AXIS_LABEL[k] ?? k), 'params', 'bytes', 'latency (b=1)', 'fits', 'rung', s.objective, '']];
  for (const c of s.candidates) {
    rows.push([c.id, ...axisCells(c.values, keys), human(c.params), bytes(c.bytes), ms(c.latencyMs),
      c.fits ? 'yes' : `no: ${c.reason ?? ''}`, c.rung !== undefined ? String(c.rung) : '—', c.score !== undefined ? pct(c.score) : '—',
      s.chosen?.candidate === c.id ? '★ chosen' : c.dropped ? 'dropped' : ''].map(String));
  }
  return `${table(rows)}\nbudget: ${budgetText(s.budget)}; ${s.candidates.filter((c) => c.fits).length} of ${s.candidates.length} candidates fit`;
}

/** One rung's results, best first, and who goes on. */
export function rungText(sweep: SweepJson, rung: number, kept: string[] | undefined): string {
  const s = sweep.search!;
  const keys = Object.keys(sweep.axes);
  const pts = sweep.points.filter((p) => p.rung === rung);
  const byId = new Map(s.candidates.map((c) => [c.id, c]));
  const rows = [['candidate', ...keys.map((k) => AXIS_LABEL[k] ?? k), 'point', 'params', s.objective, '']];
  const sorted = [...pts].sort((a, b) => (byId.get(b.candidate!)?.score ?? -1) - (byId.get(a.candidate!)?.score ?? -1));
  for (const p of sorted) {
    const c = byId.get(p.candidate!)!;
    const score = c.rung !== undefined && c.rung >= rung ? c.score : undefined;
    rows.push([c.id, ...axisCells(c.values, keys), p.id, human(c.params), score !== undefined ? pct(score) : p.status,
      kept ? (kept.includes(c.id) ? 'continues' : 'dropped') : '']);
  }
  const head = `rung ${rung + 1}/${s.rungEpochs.length} (${s.rungEpochs[rung]} epoch${s.rungEpochs[rung] === 1 ? '' : 's'})`;
  const tail = kept ? `\n${kept.length} of ${pts.length} continue${kept.length === 1 ? 's' : ''} (the best ⌈n/${s.eta}⌉ by ${s.objective}; ties: fewer params, then candidate order)` : '';
  return `${head}\n${table(rows)}${tail}`;
}

/** The last rung's Pareto table (score against `against`), the chosen candidate marked ★. */
export function frontTable(sweep: Pick<SweepJson, 'axes' | 'search'>): string {
  const s = sweep.search!;
  const keys = Object.keys(sweep.axes);
  const { rows, chosen } = finalFront(s);
  const axis = s.against === 'latency' ? 'latency (b=1)' : s.against;
  const out = [['candidate', ...keys.map((k) => AXIS_LABEL[k] ?? k), axis, s.objective, 'Pareto', '']];
  for (const c of [...rows].sort((a, b) => sizeOf(a, s.against) - sizeOf(b, s.against))) {
    const size = s.against === 'params' ? human(c.params) : s.against === 'bytes' ? bytes(c.bytes) : ms(c.latencyMs);
    out.push([c.id, ...axisCells(c.values, keys), size, pct(c.score), c.pareto ? '◆' : '', c.id === (s.chosen?.candidate ?? chosen) ? '★ chosen' : '']);
  }
  const pick = s.chosen ? `chosen: ${s.chosen.candidate} (point ${s.chosen.point})` : chosen ? `best so far: ${chosen}` : 'no candidate trained in the last rung yet';
  return `Pareto front of the last rung (${s.objective} against ${s.against}; ◆ on the front, ★ the chosen student)\n${table(out)}\n${pick}`;
}

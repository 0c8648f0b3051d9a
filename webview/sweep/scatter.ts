/**
 * Accuracy against size (parameters or bytes) on a log x axis, one dot per measured point (± std
 * over seeds as a bar), the Pareto front as a staircase, the teacher's accuracy as a dashed line.
 * Dots carry `data-point` (the panel highlights and opens points by it).
 */
import type { SweepPanelData, SweepPointView } from '../../src/protocol/webviews';
import type { Scale } from './svg';
import { human, humanBytes, linear, log10, s } from './svg';

export type SizeMetric = 'params' | 'bytes';

export const pct = (v: number) => `${(v * 100).toFixed(v >= 0.995 || v < 0.1 ? 2 : 1)} %`;

const M = { l: 62, r: 18, t: 14, b: 44 };

/** The measured points (size and distilled accuracy known) with their coordinates. */
export function measured(points: SweepPointView[], metric: SizeMetric): { p: SweepPointView; size: number; acc: number; std: number }[] {
  return points.filter((p) => p[metric] !== undefined && p[metric]! > 0 && p.distilled)
    .map((p) => ({ p, size: p[metric]!, acc: p.distilled!.mean, std: p.distilled!.n > 1 ? p.distilled!.std : 0 }));
}

export function scatter(d: SweepPanelData, metric: SizeMetric, width: number, height = 320): SVGSVGElement {
  const pts = measured(d.points, metric);
  const svg = s('svg', { id: 'scatter', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `distilled test accuracy against ${metric} (log scale), Pareto front drawn` });
  const fmt = metric === 'bytes' ? humanBytes : human;
  // issue 18: a search's budget on this size axis (drawn as a line, the region over it as a band)
  const budget = metric === 'params' ? d.search?.budget.params : d.search?.budget.bytes;
  const x: Scale = log10([...pts.map((q) => q.size), ...(budget !== undefined && pts.length ? [budget] : [])], M.l, width - M.r, fmt);
  const accs = pts.flatMap((q) => [q.acc - q.std, q.acc + q.std]);
  if (d.teacher) accs.push(d.teacher.testAcc);
  const y: Scale = linear(accs, height - M.b, M.t, pct, 5, [0, 1]);
  const axes = s('g', { class: 'axes' });
  axes.append(s('line', { x1: M.l, x2: width - M.r, y1: height - M.b, y2: height - M.b, class: 'axis' }));
  axes.append(s('line', { x1: M.l, x2: M.l, y1: M.t, y2: height - M.b, class: 'axis' }));
  for (const t of pts.length ? x.ticks : []) {
    axes.append(s('line', { x1: x(t), x2: x(t), y1: M.t, y2: height - M.b, class: 'grid' }));
    axes.append(s('text', { x: x(t), y: height - M.b + 16, 'text-anchor': 'middle', class: 'tick x-tick' }, fmt(t)));
  }
  for (const t of y.ticks) {
    axes.append(s('line', { x1: M.l, x2: width - M.r, y1: y(t), y2: y(t), class: 'grid' }));
    axes.append(s('text', { x: M.l - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick y-tick' }, pct(t)));
  }
  axes.append(s('text', { x: (M.l + width - M.r) / 2, y: height - 6, 'text-anchor': 'middle', class: 'label' }, `${metric === 'bytes' ? 'bytes' : 'parameters'} (log scale)`));
  axes.append(s('text', { x: 14, y: (M.t + height - M.b) / 2, 'text-anchor': 'middle', class: 'label', transform: `rotate(-90 14 ${(M.t + height - M.b) / 2})` }, 'distilled test accuracy'));
  svg.append(axes);
  if (pts.length === 0) {
    svg.append(s('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'empty' }, 'no point has finished yet'));
    return svg;
  }
  if (d.teacher) {
    const ty = y(d.teacher.testAcc);
    svg.append(s('line', { x1: M.l, x2: width - M.r, y1: ty, y2: ty, class: 'teacher' }),
      // at the left end: the small points sit there, far below the teacher, the large ones near it at the right
      s('text', { x: M.l + 6, y: ty - 5, 'text-anchor': 'start', class: 'teacher-label' }, `teacher ${pct(d.teacher.testAcc)}`));
  }
  if (budget !== undefined) {
    const bx = x(budget);
    svg.append(s('rect', { id: 'over-budget', x: bx, y: M.t, width: Math.max(0, width - M.r - bx), height: height - M.b - M.t, class: 'over-budget' }),
      s('line', { id: 'budget', x1: bx, x2: bx, y1: M.t, y2: height - M.b, class: 'budget', 'data-budget': budget }),
      s('text', { x: bx - 4, y: M.t + 12, 'text-anchor': 'end', class: 'budget-label' }, `budget ${fmt(budget)}`));
  }
  // the front as a staircase: right at the accuracy already reached, then up at the next front point
  const front = pts.filter((q) => q.p.pareto[metric]).sort((a, b) => a.size - b.size || b.acc - a.acc);
  if (front.length) {
    let dpath = `M${x(front[0].size)},${y(front[0].acc)}`;
    for (const q of front.slice(1)) dpath += ` H${x(q.size)} V${y(q.acc)}`;
    svg.append(s('path', { id: 'pareto-front', d: dpath, class: 'front', 'data-points': front.map((q) => q.p.id).join(' ') }));
  }
  for (const q of pts) {
    const cx = x(q.size);
    const cy = y(q.acc);
    const g = s('g', { class: `dot${q.p.pareto[metric] ? ' pareto' : ''}${q.p.dropped ? ' dropped' : ''}${q.p.chosen ? ' chosen' : ''}`, 'data-point': q.p.id, tabindex: 0, role: 'button',
      'aria-label': `${q.p.id}: ${fmt(q.size)}, ${pct(q.acc)}${q.p.pareto[metric] ? ', on the Pareto front' : ''}${q.p.chosen ? ', the chosen student' : ''} — open its dashboard` });
    if (q.std > 0) g.append(s('line', { x1: cx, x2: cx, y1: y(q.acc - q.std), y2: y(q.acc + q.std), class: 'errbar' }));
    g.append(s('circle', { cx, cy, r: q.p.pareto[metric] ? 6 : 4.5 }));
    g.append(s('text', { x: cx + 8, y: cy - 6, class: 'dot-label' }, `${q.p.id}${q.p.rung !== undefined ? ` r${q.p.rung + 1}` : ''}${q.p.chosen ? ' ★' : ''}`));
    g.append(s('title', {}, `${q.p.id} (${Object.entries(q.p.values).map(([k, v]) => `${k}=${v}`).join(', ')})\n${fmt(q.size)} ${metric}, distilled ${pct(q.acc)}${q.std ? ` ± ${(q.std * 100).toFixed(2)}` : ''}`));
    svg.append(g);
  }
  return svg;
}

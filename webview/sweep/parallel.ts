/**
 * Parallel coordinates: one vertical axis per swept field, then the final metrics (distilled
 * accuracy, scratch accuracy and agreement when measured, parameters and bytes on log scales); one
 * line per point (`data-point`), drawn between neighbouring axes where both values are known, so a
 * point still running shows its swept values already. Front points are drawn in the accent colour.
 */
import type { SweepPanelData, SweepPointView } from '../../src/protocol/webviews';
import { pct } from './scatter';
import type { Scale } from './svg';
import { human, humanBytes, linear, log10, s } from './svg';

interface Axis {
  key: string;
  label: string;
  value: (p: SweepPointView) => number | undefined;
  log?: boolean;
  format: (v: number) => string;
}

const num = (v: number) => (Number.isInteger(v) ? String(v) : String(+v.toPrecision(4)));

export function parallelAxes(d: SweepPanelData): Axis[] {
  const axes: Axis[] = Object.keys(d.axes).map((k) => ({ key: k, label: k, value: (p) => p.values[k], format: num }));
  axes.push({ key: 'distilled', label: 'distilled acc', value: (p) => p.distilled?.mean, format: pct });
  if (d.points.some((p) => p.scratch)) axes.push({ key: 'scratch', label: 'scratch acc', value: (p) => p.scratch?.mean, format: pct });
  if (d.points.some((p) => p.agreement)) axes.push({ key: 'agreement', label: 'agreement', value: (p) => p.agreement?.mean, format: pct });
  axes.push({ key: 'params', label: 'params', value: (p) => p.params, log: true, format: human });
  axes.push({ key: 'bytes', label: 'bytes', value: (p) => p.bytes, log: true, format: humanBytes });
  return axes;
}

const M = { l: 40, r: 40, t: 48, b: 26 };
const labelOf = (a: Axis) => `${a.label}${a.log ? ' (log)' : ''}`;

export function parallel(d: SweepPanelData, width: number, height = 260): SVGSVGElement {
  const axes = parallelAxes(d);
  const svg = s('svg', { id: 'parallel', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `parallel coordinates over ${axes.map((a) => a.label).join(', ')}` });
  const gap = axes.length > 1 ? (width - M.l - M.r) / (axes.length - 1) : 0;
  const xs = axes.map((_, i) => M.l + i * gap);
  const scales: Scale[] = axes.map((a) => {
    const vals = d.points.map(a.value).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return a.log ? log10(vals, height - M.b, M.t, a.format) : linear(vals, height - M.b, M.t, a.format, 4);
  });
  const lines = s('g', { class: 'lines' });
  for (const p of d.points) {
    let dpath = '';
    let prev: [number, number] | undefined;
    const known: [number, number][] = [];
    axes.forEach((a, i) => {
      const v = a.value(p);
      if (v === undefined || !Number.isFinite(v) || (a.log && v <= 0)) {
        prev = undefined;
        return;
      }
      const pt: [number, number] = [xs[i], scales[i](v)];
      dpath += `${prev ? 'L' : 'M'}${pt[0].toFixed(1)},${pt[1].toFixed(1)} `;
      prev = pt;
      known.push(pt);
    });
    if (!dpath) continue;
    const front = p.pareto.params || p.pareto.bytes;
    const g = s('g', { class: `pline status-${p.status}${front ? ' pareto' : ''}${p.dropped ? ' dropped' : ''}`, 'data-point': p.id, tabindex: 0, role: 'button', 'aria-label': `${p.id} — open its dashboard` });
    g.append(s('path', { d: dpath.trim(), class: 'hit' }), s('path', { d: dpath.trim(), class: 'stroke' }));
    // values without a known neighbour (a queued point of a one-field sweep) still show, as dots
    if (!dpath.includes('L')) for (const [cx, cy] of known) g.append(s('circle', { cx, cy, r: 3, class: 'stroke' }));
    g.append(s('title', {}, `${p.id}: ${axes.map((a) => { const v = a.value(p); return `${a.label} ${v === undefined ? '–' : a.format(v)}`; }).join(', ')}`));
    lines.append(g);
  }
  svg.append(lines);
  // labels on one row would run into each other (≈ 7 px a character at 11 px; the first starts at its
  // axis, the last ends at its axis, the others are centred): then every other one goes a row up
  const w = axes.map((a) => labelOf(a).length * 7);
  const right = (i: number) => (i === 0 ? xs[i] + w[i] : i === axes.length - 1 ? xs[i] : xs[i] + w[i] / 2);
  const left = (i: number) => (i === 0 ? xs[i] : i === axes.length - 1 ? xs[i] - w[i] : xs[i] - w[i] / 2);
  const crowded = axes.some((_, i) => i > 0 && right(i - 1) + 10 > left(i));
  axes.forEach((a, i) => {
    const g = s('g', { class: 'paxis', 'data-axis': a.key });
    g.append(s('line', { x1: xs[i], x2: xs[i], y1: M.t, y2: height - M.b, class: 'axis' }));
    const anchor = i === 0 ? 'start' : i === axes.length - 1 ? 'end' : 'middle';
    // narrow panels: neighbouring labels on two rows, so that long field paths do not overlap
    const label = labelOf(a);
    const stagger = crowded && i % 2 === 1 ? 14 : 0;
    g.append(s('text', { x: xs[i], y: M.t - 18 - stagger, 'text-anchor': anchor, class: 'label' }, label));
    // the axis's smallest and largest value, where they are (not round ticks: the values are the plan's)
    const vals = d.points.map(a.value).filter((v): v is number => v !== undefined && Number.isFinite(v) && (!a.log || v > 0));
    const ends = vals.length ? [...new Set([Math.min(...vals), Math.max(...vals)])] : [];
    const right = i === axes.length - 1;
    for (const t of ends) g.append(s('text', { x: xs[i] + (right ? -4 : 4), y: scales[i](t) + 4, 'text-anchor': right ? 'end' : 'start', class: 'tick' }, a.format(t)));
    svg.append(g);
  });
  return svg;
}

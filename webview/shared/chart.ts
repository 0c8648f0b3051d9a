/**
 * Line charts on uPlot (small, fast with 100k-point series, canvas): themed from --vscode-*
 * variables, log-y, and a cheap `update` that hands uPlot the grown arrays (no DOM rebuilt).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { themeColor } from './dom';

export interface LineSpec {
  label: string;
  color: string;
  width?: number;
  dash?: number[];
  alpha?: number;
  /** Draw points only (e.g. per-epoch accuracies). */
  points?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  height?: number;
  lines: LineSpec[];
  /** x is an integer step or epoch count, not time: ticks only at whole numbers (issue 20: no "1.25" epochs). */
  integerX?: boolean;
  /** y is never negative (a learning rate): the axis starts at 0 and a constant is shown as itself, not "0". */
  nonNegativeY?: boolean;
}

/** Whole-number tick spacings (uPlot picks the smallest that fits). */
const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1e6, 2e6, 5e6];

/** A tick label with as many digits as the spacing needs: 0.002 stays 0.002, 1e-5 is 1e-5, never "0" for a small value. */
export function tickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(0, Math.min(3, Math.ceil(-Math.log10(Math.abs(step) / a) - 1e-9))));
  const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(Math.abs(step) || a) - 1e-9)));
  return v.toFixed(decimals);
}

/** For every series, the index of its last value (for the legend when the cursor is off the chart). */
export function lastIndices(data: uPlot.AlignedData): (number | null)[] {
  return data.map((col, si) => {
    if (si === 0) return col.length ? col.length - 1 : null;
    for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null && col[i] !== undefined) return i;
    return null;
  });
}

function withAlpha(color: string, alpha: number): string {
  if (alpha >= 1) return color;
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const a = Math.round(alpha * 255).toString(16).padStart(2, '0');
  return `#${m[1]}${a}`;
}

export function makeChart(el: HTMLElement, opts: ChartOptions, data: uPlot.AlignedData): uPlot {
  const fg = themeColor('--vscode-foreground', '#cccccc');
  const grid = themeColor('--vscode-editorWidget-border', '#454545');
  const axis = (label: string): uPlot.Axis => ({ label, stroke: fg, grid: { stroke: grid, width: 0.5 }, ticks: { stroke: grid, width: 0.5 } });
  const width = Math.max(300, el.clientWidth || 600);
  const labels = (_u: uPlot, splits: number[]) => {
    const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : Math.abs(splits[0] ?? 0) || 1;
    return splits.map((v) => tickLabel(v, step));
  };
  const xAxis: uPlot.Axis = { ...axis(opts.xLabel), ...(opts.integerX ? { incrs: INTEGER_INCRS, values: (_u: uPlot, splits: number[]) => splits.map((v) => String(Math.round(v))) } : {}) };
  // a constant non-negative series (a constant learning rate): ticks at 0, half and the value itself
  const constantSplits = (u: uPlot, _axis: number, min: number, max: number, incr: number): number[] => {
    const ys = u.data.slice(1).flatMap((c) => [...c]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const hi = ys.length ? Math.max(...ys) : 0;
    if (hi > 0 && Math.min(...ys) === hi) return [0, hi / 2, hi];
    const out: number[] = [];
    for (let v = Math.ceil(min / incr) * incr; v <= max + incr * 1e-9; v += incr) out.push(Number(v.toPrecision(12)));
    return out;
  };
  const yAxis: uPlot.Axis = { ...axis(opts.yLabel), ...(opts.logY ? {} : { values: labels, size: 60 }), ...(opts.nonNegativeY ? { splits: constantSplits } : {}) };
  const yScale: uPlot.Scale = opts.logY ? { distr: 3 } : opts.nonNegativeY
    ? { range: (_u, min, max) => (max > 0 ? [0, min === max ? max * 1.5 : max * 1.1] : [0, 1]) }
    : {};
  // the legend shows each series' last value while the cursor is off the chart (issue 20: not "--")
  const showLast = (u: uPlot) => {
    if (u.cursor.idx === null || u.cursor.idx === undefined) u.setLegend({ idxs: lastIndices(u.data) }, false);
  };
  const chart = new uPlot({
    title: opts.title,
    width,
    height: opts.height ?? 240,
    scales: { x: { time: false }, y: yScale },
    axes: [xAxis, yAxis],
    legend: { live: true },
    hooks: { ready: [showLast], setData: [showLast], setCursor: [showLast] },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: opts.xLabel },
      ...opts.lines.map((l) => ({
        label: l.label,
        stroke: withAlpha(l.color, l.alpha ?? 1),
        width: l.width ?? 1.5,
        dash: l.dash,
        spanGaps: true,
        points: { show: l.points ?? false, size: 5, fill: l.color },
      })),
    ],
  }, data, el);
  Object.assign(el, { uplot: chart }); // tests read the drawn ticks and the legend through it
  return chart;
}

/** Keeps a chart as wide as its container. */
export function autoWidth(chart: uPlot, el: HTMLElement): () => void {
  let live = true;
  const ro = new ResizeObserver(() => {
    const w = Math.max(300, el.clientWidth);
    if (live && el.isConnected && Math.abs(w - chart.width) > 2) chart.setSize({ width: w, height: chart.height });
  });
  ro.observe(el);
  return () => {
    live = false;
    ro.disconnect();
    chart.destroy();
  };
}

/**
 * Exponential moving average with TensorBoard's debiasing, `w` in [0, 1): smoothed[i] from
 * smoothed[i-1] only, so appending points extends it without recomputing the past.
 */
export class Smoother {
  private last = 0;
  private n = 0;
  constructor(public w: number) {}
  push(v: number): number {
    if (!Number.isFinite(v)) return v;
    this.n++;
    this.last = this.last * this.w + (1 - this.w) * v;
    return this.w === 0 ? v : this.last / (1 - this.w ** this.n);
  }
}

export function chartsToPng(canvases: HTMLCanvasElement[], background: string): string {
  const w = Math.max(...canvases.map((c) => c.width));
  const hTotal = canvases.reduce((a, c) => a + c.height, 0);
  const out = document.createElement('canvas');
  out.width = w;
  out.height = Math.max(1, hTotal);
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, out.width, out.height);
  let y = 0;
  for (const c of canvases) {
    ctx.drawImage(c, 0, y);
    y += c.height;
  }
  return out.toDataURL('image/png');
}

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
  /** x is an integer step or epoch count, not time. */
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
  return new uPlot({
    title: opts.title,
    width,
    height: opts.height ?? 240,
    scales: { x: { time: false }, y: opts.logY ? { distr: 3 } : {} },
    axes: [axis(opts.xLabel), axis(opts.yLabel)],
    legend: { live: true },
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

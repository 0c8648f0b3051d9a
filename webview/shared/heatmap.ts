/**
 * Heatmaps of feature-map channels on canvases, coloured with d3-scale-chromatic (viridis for
 * activations, a diverging red-blue for differences). Normalisation is a display choice: per
 * channel (each channel's own min..max) or shared (one range for the whole grid).
 */
import { interpolateRdBu, interpolateViridis, interpolateGreys } from 'd3-scale-chromatic';

export type Norm = 'channel' | 'shared';
export type Scheme = 'sequential' | 'diverging' | 'grey';

function rgb(css: string): [number, number, number] {
  const m = /rgb\((\d+), ?(\d+), ?(\d+)\)/.exec(css);
  if (m) return [+m[1], +m[2], +m[3]];
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(css);
  return hex ? [parseInt(hex[1], 16), parseInt(hex[2], 16), parseInt(hex[3], 16)] : [0, 0, 0];
}

/** 256-entry lookup tables, built once. */
const LUT: Record<Scheme, [number, number, number][]> = {
  sequential: Array.from({ length: 256 }, (_, i) => rgb(interpolateViridis(i / 255))),
  diverging: Array.from({ length: 256 }, (_, i) => rgb(interpolateRdBu(1 - i / 255))),
  grey: Array.from({ length: 256 }, (_, i) => rgb(interpolateGreys(1 - i / 255))),
};

function range(values: number[][]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const ch of values) {for (const v of ch) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }}
  return [lo, hi];
}

/** One channel (h×w) on a canvas, `scale` CSS pixels per value. */
export function heatmapCanvas(values: number[], h: number, w: number, [lo, hi]: [number, number], scheme: Scheme, label: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  c.title = label;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  const lut = LUT[scheme];
  const sym = scheme === 'diverging' ? Math.max(Math.abs(lo), Math.abs(hi)) : 0;
  for (let i = 0; i < h * w; i++) {
    const v = values[i];
    const t = scheme === 'diverging' ? (sym > 0 ? (v / sym + 1) / 2 : 0.5) : hi > lo ? (v - lo) / (hi - lo) : 0;
    const [r, g, b] = lut[Math.max(0, Math.min(255, Math.round(t * 255)))];
    img.data[i * 4] = r;
    img.data[i * 4 + 1] = g;
    img.data[i * 4 + 2] = b;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/** A grid of channel heatmaps; each cell sized so that the map is at least `cell` px wide. */
export function heatmapGrid(grid: { channels: number[][]; h: number; w: number }, norm: Norm, scheme: Scheme, title: string, cell = 64): HTMLElement {
  const wrap = document.createElement('div');
  wrap.className = 'heatgrid';
  const shared = range(grid.channels);
  const strip = grid.h === 1;
  grid.channels.forEach((ch, i) => {
    const r: [number, number] = norm === 'shared' ? shared : range([ch]);
    const c = heatmapCanvas(ch, grid.h, grid.w, r, scheme, `${title} channel ${i + 1}: ${r[0].toPrecision(3)} … ${r[1].toPrecision(3)}`);
    c.style.width = strip ? '100%' : `${Math.max(cell, grid.w)}px`;
    c.style.height = strip ? '24px' : `${Math.max(cell, grid.w) * (grid.h / grid.w)}px`;
    wrap.append(c);
  });
  return wrap;
}

/** SVG helpers of the Sweep panel: elements, linear and log scales with readable ticks, number formats. */

const NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined> = {}, ...kids: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, String(v));
  for (const c of kids) el.append(c);
  return el;
}

export interface Scale {
  (v: number): number;
  ticks: number[];
  format: (v: number) => string;
  log: boolean;
}

/** `1.2k`, `34k`, `1.5M`: sizes on an axis. */
export function human(n: number): string {
  const a = Math.abs(n);
  const f = (v: number, u: string) => `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '')}${u}`;
  if (a >= 1e9) return f(n / 1e9, 'G');
  if (a >= 1e6) return f(n / 1e6, 'M');
  if (a >= 1e3) return f(n / 1e3, 'k');
  return f(n, '');
}

export function humanBytes(n: number): string {
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${+(n / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** The domain of values, padded: a single value (or equal values) gets a range around it. */
function extent(values: number[], log: boolean): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (log) {
    lo = Math.log10(lo);
    hi = Math.log10(hi);
    const pad = Math.max(0.05, (hi - lo) * 0.08);
    return [lo - pad, hi + pad];
  }
  if (hi === lo) return [lo - Math.max(Math.abs(lo) * 0.1, 0.01), hi + Math.max(Math.abs(hi) * 0.1, 0.01)];
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

/** A linear scale onto [r0, r1] with about `count` ticks at 1, 2 or 5 × 10^k steps. */
export function linear(values: number[], r0: number, r1: number, format: (v: number) => string, count = 5, clamp?: [number, number]): Scale {
  let [d0, d1] = extent(values.length ? values : [0, 1], false);
  if (clamp) [d0, d1] = [Math.max(clamp[0], d0), Math.min(clamp[1], d1)];
  const f = ((v: number) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0)) as Scale;
  const raw = (d1 - d0) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? raw;
  f.ticks = [];
  for (let t = Math.ceil(d0 / step) * step; t <= d1 + step * 1e-9; t += step) f.ticks.push(+t.toPrecision(12));
  f.format = format;
  f.log = false;
  return f;
}

/** A log10 scale onto [r0, r1]; ticks at 1, 2, 5 × 10^k (only powers of ten when the range is wide). */
export function log10(values: number[], r0: number, r1: number, format: (v: number) => string): Scale {
  const pos = values.filter((v) => v > 0);
  const [d0, d1] = extent(pos.length ? pos : [1, 10], true);
  const f = ((v: number) => r0 + ((Math.log10(Math.max(v, 1e-300)) - d0) / (d1 - d0)) * (r1 - r0)) as Scale;
  const mults = d1 - d0 > 3 ? [1] : d1 - d0 > 1.2 ? [1, 3] : [1, 2, 5];
  f.ticks = [];
  for (let k = Math.floor(d0); k <= Math.ceil(d1); k++) {
    for (const m of mults) {
      const t = m * 10 ** k;
      const l = Math.log10(t);
      if (l >= d0 && l <= d1) f.ticks.push(t);
    }
  }
  // a narrow range (all points within a factor of ~1.5) may hold no 1-2-5 tick: label its ends
  if (f.ticks.length < 2) f.ticks = [10 ** (d0 + (d1 - d0) * 0.1), 10 ** (d1 - (d1 - d0) * 0.1)];
  f.format = format;
  f.log = true;
  return f;
}

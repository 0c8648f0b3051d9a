/** Unicode sparklines (▁▂▃▄▅▆▇█) for tree descriptions and inline decorations. Pure. */

const BARS = '▁▂▃▄▅▆▇█';

/** Averages `values` into at most `width` buckets, then maps each to a bar (min → ▁, max → █). */
export function sparkline(values: readonly number[], width = 12): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return '';
  const buckets: number[] = [];
  const n = Math.min(width, finite.length);
  for (let b = 0; b < n; b++) {
    const from = Math.floor((b * finite.length) / n);
    const to = Math.max(from + 1, Math.floor(((b + 1) * finite.length) / n));
    let sum = 0;
    for (let i = from; i < to; i++) sum += finite[i];
    buckets.push(sum / (to - from));
  }
  const lo = Math.min(...buckets);
  const hi = Math.max(...buckets);
  const span = hi - lo;
  return buckets.map((v) => BARS[span > 0 ? Math.round(((v - lo) / span) * (BARS.length - 1)) : 3]).join('');
}

/** A loss value in a few significant digits: 0.231, 1.42e-4, 12.3. */
export function formatLoss(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return String(v ?? '–');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

export function formatPercent(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** `45 s`, `3 min 05 s`, `2 h 10 min`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Tiny DOM helpers and number formats shared by the panel apps (no framework). */
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...kids: (Node | string | undefined | false)[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...kids: (Node | string | undefined | false)[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...kids: (Node | string | undefined | false)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids) if (c !== undefined && c !== false) el.append(c);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

export const fmtInt = (n: number | undefined) => (n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
export const fmtPct = (n: number | undefined) => (n === undefined ? '–' : `${(n * 100).toFixed(2)} %`);
export const fmtNum = (n: number | undefined, d = 4) => (n === undefined || !Number.isFinite(n) ? '–' : Math.abs(n) >= 1e4 || (Math.abs(n) < 1e-3 && n !== 0) ? n.toExponential(2) : n.toFixed(d));
export const fmtShape = (s: (number | null)[]) => `[${s.map((d) => (d === null ? 'B' : d)).join(', ')}]`;
export function fmtBytes(n: number | undefined): string {
  if (n === undefined) return '–';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
export const fmtStat = (s: { mean: number; std: number; n: number } | undefined, f = fmtPct) => (!s ? '–' : s.n > 1 ? `${f(s.mean)} ± ${f(s.std)}` : f(s.mean));

/** A CSS custom property of the theme (e.g. `--vscode-charts-blue`), with a fallback. */
export function themeColor(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** Series colours from the theme's chart palette. */
export function palette(): string[] {
  return [
    themeColor('--vscode-charts-blue', '#3794ff'), themeColor('--vscode-charts-orange', '#d18616'),
    themeColor('--vscode-charts-green', '#89d185'), themeColor('--vscode-charts-purple', '#b180d7'),
    themeColor('--vscode-charts-red', '#f14c4c'), themeColor('--vscode-charts-yellow', '#cca700'),
    '#4ec9b0', '#c586c0', '#9cdcfe', '#ce9178',
  ];
}

export function notice(container: HTMLElement, level: 'info' | 'error', message: string): void {
  clear(container);
  container.className = `notice ${level}`;
  container.setAttribute('role', level === 'error' ? 'alert' : 'status');
  container.textContent = message;
}

/**
 * The Sweep panel: a sweep's points as a table with their live status, distilled accuracy against
 * size (parameters or bytes, log axis) with the Pareto front, and parallel coordinates over the
 * swept fields and the final metrics. Hovering a point anywhere highlights it everywhere; clicking
 * it (row, dot or line; Enter on a focused one) asks the host to open its run's dashboard.
 */
import type { SweepPanelData, SweepPointView } from '../../src/protocol/webviews';
import { clear, fmtBytes, fmtInt, h, notice } from '../shared/dom';
import { getState, post, setUiState, start } from '../shared/ipc';
import { parallel } from './parallel';
import type { SizeMetric } from './scatter';
import { pct, scatter } from './scatter';

const app = document.getElementById('app')!;
let data: SweepPanelData | undefined;
let metric: SizeMetric = (getState().ui as { metric?: SizeMetric } | undefined)?.metric === 'bytes' ? 'bytes' : 'params';
let hovered: string | undefined;

const STATUS_LABEL: Record<SweepPointView['status'], string> = {
  queued: 'queued', running: 'running', completed: 'completed', failed: 'failed', cancelled: 'cancelled', interrupted: 'interrupted',
};

const stat = (v: SweepPointView['distilled']) => (!v ? '–' : v.n > 1 ? `${pct(v.mean)} ± ${(v.std * 100).toFixed(2)}` : pct(v.mean));

/** Highlights one point in the table, the scatter and the parallel coordinates (or none). */
function highlight(id: string | undefined): void {
  hovered = id;
  document.body.classList.toggle('hovering', id !== undefined);
  for (const el of document.querySelectorAll('[data-point]')) el.classList.toggle('hl', el.getAttribute('data-point') === id);
  // the highlighted line is drawn last, above the others
  if (id) {
    const line = document.querySelector(`#parallel .pline[data-point="${CSS.escape(id)}"]`);
    line?.parentNode?.appendChild(line);
  }
}

function open(id: string): void {
  const p = data?.points.find((q) => q.id === id);
  if (!p) return;
  if (!p.hasRun) {
    notice(document.getElementById('notice')!, 'info', `${id} is ${p.state}: its dashboard opens once its run has started.`);
    return;
  }
  post({ type: 'openPoint', point: id });
}

/** Hover, click and Enter on anything with `data-point` inside `root`. */
function wire(root: Element): void {
  const pointOf = (e: Event) => (e.target as Element | null)?.closest?.('[data-point]')?.getAttribute('data-point') ?? undefined;
  root.addEventListener('mouseover', (e) => {
    const id = pointOf(e);
    if (id !== hovered) highlight(id);
  });
  root.addEventListener('mouseleave', () => highlight(undefined));
  root.addEventListener('focusin', (e) => highlight(pointOf(e)));
  root.addEventListener('focusout', () => highlight(undefined));
  root.addEventListener('click', (e) => {
    const id = pointOf(e);
    if (id) open(id);
  });
  root.addEventListener('keydown', (e) => {
    const k = (e as KeyboardEvent).key;
    const id = pointOf(e);
    if (id && (k === 'Enter' || k === ' ')) {
      e.preventDefault();
      open(id);
    }
  });
}

function table(d: SweepPanelData): HTMLElement {
  const keys = Object.keys(d.axes);
  // columns no point has (no baseline, no agreement measured) are left out
  const hasScratch = d.points.some((p) => p.scratch);
  const hasAgreement = d.points.some((p) => p.agreement);
  // issue 18: a search's rung and candidate columns, the dropped greyed, the chosen marked
  const search = d.search;
  const rungs = search?.rungEpochs.length ?? 0;
  const head = h('tr', {}, h('th', { scope: 'col' }, 'point'),
    search && h('th', { scope: 'col', class: 'num', title: 'successive halving: the rung (of how many) and its epochs' }, 'rung'), search && h('th', { scope: 'col' }, 'candidate'),
    ...keys.map((k) => h('th', { scope: 'col', class: 'num' }, k)),
    h('th', { scope: 'col' }, 'status'), h('th', { scope: 'col', class: 'num' }, 'params'), h('th', { scope: 'col', class: 'num' }, 'bytes'),
    h('th', { scope: 'col', class: 'num' }, 'distilled acc'), hasScratch && h('th', { scope: 'col', class: 'num' }, 'scratch acc'),
    hasAgreement && h('th', { scope: 'col', class: 'num' }, 'agreement'), h('th', { scope: 'col', title: `on the Pareto front of accuracy against ${metric}` }, 'Pareto'),
    search && h('th', { scope: 'col', title: 'dropped at a rung, or the chosen student' }, 'search'));
  const body = h('tbody');
  for (const p of d.points) {
    const progress = p.status === 'running' && p.progress && p.progress.total > 0 ? ` ${p.progress.done}/${p.progress.total} epochs` : '';
    const statusCell = h('td', { class: 'status' }, h('span', { class: `badge status-${p.status}` }, STATUS_LABEL[p.status]), progress,
      p.error ? h('span', { class: 'error-text', title: p.error }, ` ${p.error.split('\n')[0].slice(0, 80)}`) : undefined);
    const rung = search && p.rung !== undefined ? `${p.rung + 1}/${rungs} (${search.rungEpochs[p.rung]} ep)` : '';
    body.append(h('tr', { 'data-point': p.id, class: `point-row status-${p.status}${p.hasRun ? ' has-run' : ''}${p.dropped ? ' dropped' : ''}${p.chosen ? ' chosen' : ''}`, tabindex: 0,
      title: `${p.hasRun ? `open ${p.id}'s dashboard` : `${p.id} has not started`}${p.dropped ? ` — ${p.candidate} was dropped after rung ${rungOfDrop(d, p) + 1}` : ''}${p.chosen ? ' — the chosen student' : ''}` },
    h('th', { scope: 'row' }, p.id), search && h('td', { class: 'num rung-cell' }, rung), search && h('td', { class: 'candidate-cell' }, p.candidate ?? ''),
    ...keys.map((k) => h('td', { class: 'num' }, String(p.values[k] ?? '–'))),
    statusCell, h('td', { class: 'num' }, fmtInt(p.params)), h('td', { class: 'num' }, fmtBytes(p.bytes)),
    h('td', { class: 'num acc' }, stat(p.distilled)), hasScratch && h('td', { class: 'num' }, stat(p.scratch)), hasAgreement && h('td', { class: 'num' }, stat(p.agreement)),
    h('td', { class: 'pareto-cell' }, p.pareto[metric] ? '◆' : ''), search && h('td', { class: 'chosen-cell' }, p.chosen ? '★ chosen' : p.dropped ? 'dropped' : '')));
  }
  return h('div', { class: 'scroll-x' }, h('table', { id: 'points' }, h('thead', {}, head), body));
}

/** The last rung a dropped candidate trained in. */
function rungOfDrop(d: SweepPanelData, p: SweepPointView): number {
  return Math.max(...d.points.filter((q) => q.candidate === p.candidate && q.rung !== undefined).map((q) => q.rung!));
}

function csv(d: SweepPanelData): string {
  const keys = Object.keys(d.axes);
  const q = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const rows = [['point', ...keys, 'status', 'params', 'bytes', 'distilled_mean', 'distilled_std', 'scratch_mean', 'agreement_mean', 'pareto_params', 'pareto_bytes']];
  for (const p of d.points) {
    rows.push([p.id, ...keys.map((k) => String(p.values[k] ?? '')), p.state, String(p.params ?? ''), String(p.bytes ?? ''),
      String(p.distilled?.mean ?? ''), String(p.distilled?.std ?? ''), String(p.scratch?.mean ?? ''), String(p.agreement?.mean ?? ''),
      String(p.pareto.params), String(p.pareto.bytes)]);
  }
  return rows.map((r) => r.map(q).join(',')).join('\n') + '\n';
}

function chartWidth(): number {
  return Math.max(360, Math.min(1100, (app.clientWidth || document.body.clientWidth || 800) - 8));
}

/** Where the keyboard focus is (a point in one of the views, or a control by id), to put it back after a re-render. */
function focusKey(): string | undefined {
  const el = document.activeElement;
  if (!el || el === document.body) return undefined;
  const point = el.closest('[data-point]');
  const view = el.closest('#points, #scatter, #parallel');
  if (point && view) return `#${view.id} [data-point="${CSS.escape(point.getAttribute('data-point')!)}"]`;
  return el.id ? `#${CSS.escape(el.id)}` : undefined;
}

function render(d: SweepPanelData): void {
  // a live update re-renders everything: the focused point (or control) keeps the focus
  const focused = focusKey();
  renderNow(d);
  if (focused) (document.querySelector(focused) as HTMLElement | SVGElement | null)?.focus();
}

function renderNow(d: SweepPanelData): void {
  data = d;
  clear(app);
  app.removeAttribute('aria-busy');
  app.append(h('h1', { id: 'title' }, `Sweep: ${d.title}`));
  const counts = new Map<string, number>();
  for (const p of d.points) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
  app.append(h('p', { id: 'status', class: 'note' },
    `${d.state} · ${d.points.length} point${d.points.length === 1 ? '' : 's'}${summary ? ` (${summary})` : ''} · ${d.seeds.length} seed${d.seeds.length === 1 ? '' : 's'} each (${d.seeds.join(', ')})`));
  if (d.search) {
    const b = d.search.budget;
    const bounds = [b.params !== undefined ? `params ≤ ${fmtInt(b.params)}` : '', b.bytes !== undefined ? `bytes ≤ ${fmtBytes(b.bytes)}` : '',
      b.latencyMs !== undefined ? `latency ≤ ${b.latencyMs} ms/sample` : ''].filter(Boolean).join(', ');
    app.append(h('p', { id: 'search', class: 'note' }, `Student search: budget ${bounds}; successive halving over ${d.search.rungEpochs.length} rung${d.search.rungEpochs.length === 1 ? '' : 's'} ` +
      `(${d.search.rungEpochs.join(', ')} epochs), ranked by ${d.search.objective}; ${d.search.chosen ? `chosen: ${d.search.chosen}` : 'no student chosen yet'}. ` +
      'Greyed: candidates dropped at a rung; the Pareto front is the last rung\'s.'));
  }
  app.append(h('div', { id: 'notice', class: 'notice' }));
  if (d.error) {
    notice(document.getElementById('notice')!, 'error', d.error);
    return;
  }
  const radio = (value: SizeMetric, label: string) => h('label', {}, h('input', { type: 'radio', name: 'size-metric', id: `size-${value}`, value, checked: metric === value,
    onchange: () => {
      metric = value;
      setUiState({ metric });
      render(d);
    } }), label);
  const exportCsv = h('button', { id: 'export-csv', class: 'link', onclick: () => post({ type: 'save', format: 'csv', name: `${d.name}-sweep-${d.id}.csv`, data: csv(d) }) }, 'Export CSV…');
  app.append(h('div', { class: 'toolbar', role: 'radiogroup', 'aria-label': 'size axis' }, 'size:', radio('params', 'parameters'), radio('bytes', 'bytes'), exportCsv));
  const measuredN = d.points.filter((p) => p[metric] !== undefined && p.distilled).length;
  app.append(h('h2', {}, `Distilled accuracy against ${metric === 'bytes' ? 'bytes' : 'parameters'}`),
    h('p', { class: 'note' }, `${measuredN} of ${d.points.length} points measured; mean over seeds (bars: ± std). Staircase: the Pareto front — no other point is as small and at least as accurate.`));
  const sc = h('div', { class: 'chart sweep-chart' });
  app.append(sc);
  sc.append(scatter(d, metric, chartWidth()));
  app.append(h('h2', {}, 'Points'), table(d));
  app.append(h('h2', {}, 'Parallel coordinates'));
  const pc = h('div', { class: 'chart sweep-chart' });
  app.append(pc);
  pc.append(parallel(d, chartWidth()));
  for (const el of [sc, pc, document.getElementById('points')!]) wire(el);
  if (hovered) highlight(hovered);
}

start((msg) => {
  if (msg.type === 'init' && msg.panel === 'sweep') render(msg.data);
  else if (msg.type === 'sweepUpdate') render(msg.data);
  else if (msg.type === 'notice') {
    const el = document.getElementById('notice');
    if (el) notice(el, msg.level, msg.message);
  }
});

let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => data && render(data), 150);
});

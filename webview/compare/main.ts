/**
 * Run comparison: the total loss and the test accuracy of two or more runs overlaid, their final
 * metrics (mean ± std over seeds), and the config diff with the differing keys highlighted.
 */
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import type uPlot from 'uplot';
import type { CompareData } from '../../src/protocol/webviews';
import { autoWidth, makeChart } from '../shared/chart';
import { clear, fmtStat, h, palette } from '../shared/dom';
import { getState, setUiState, start } from '../shared/ipc';

const app = document.getElementById('app')!;
let onlyDiff = (getState().ui as { onlyDiff?: boolean } | undefined)?.onlyDiff ?? true;

/** Joins series with different x values on the union of their x (gaps as null). */
function join(xsList: number[][], ysList: number[][]): uPlot.AlignedData {
  const xs = [...new Set(xsList.flat())].sort((a, b) => a - b);
  const idx = new Map(xs.map((x, i) => [x, i]));
  const cols = ysList.map((ys, k) => {
    const col = new Array<number | null>(xs.length).fill(null);
    xsList[k].forEach((x, i) => (col[idx.get(x)!] = ys[i]));
    return col as number[];
  });
  return [xs, ...cols];
}

function render(d: CompareData): void {
  clear(app);
  app.removeAttribute('aria-busy');
  const col = palette();
  app.append(h('h1', { id: 'title' }, `Compare Runs: ${d.title}`));
  if (d.runs.length < 2) app.append(h('p', { class: 'notice' }, 'Pick two or more runs to compare (select several runs in the Experiments view).'));
  const lossEl = h('div', { class: 'chart', id: 'loss-chart' });
  const accEl = h('div', { class: 'chart', id: 'acc-chart' });
  app.append(lossEl, accEl);
  const lines = d.runs.map((r, i) => ({ label: r.label, color: col[i % col.length] }));
  const c1 = makeChart(lossEl, { title: 'Total loss (distilled student, first seed)', xLabel: 'step', yLabel: 'loss', logY: true, lines }, join(d.runs.map((r) => r.loss.step), d.runs.map((r) => r.loss.value)));
  const c2 = makeChart(accEl, { title: 'Test accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy', lines: lines.map((l) => ({ ...l, points: true })) }, join(d.runs.map((r) => r.acc.epoch), d.runs.map((r) => r.acc.value)));
  autoWidth(c1, lossEl);
  autoWidth(c2, accEl);

  app.append(h('h2', {}, 'Final metrics (mean ± std over seeds)'));
  const keys = [...new Set(d.runs.flatMap((r) => Object.keys(r.finals)))];
  const ft = h('table', { id: 'finals' }, h('thead', {}, h('tr', {}, h('th', {}, 'run'), ...keys.map((k) => h('th', { class: 'num', scope: 'col' }, k)))));
  const fb = h('tbody');
  for (const r of d.runs) fb.append(h('tr', {}, h('th', { scope: 'row' }, r.label), ...keys.map((k) => h('td', { class: 'num' }, fmtStat(r.finals[k], k.includes('×') ? (v) => (v === undefined ? '–' : `×${v.toFixed(1)}`) : undefined)))));
  ft.append(fb);
  app.append(ft);

  const differing = d.config.filter((c) => c.differs).length;
  const box = h('vscode-checkbox', { id: 'only-diff', label: `only the ${differing} differing keys`, checked: onlyDiff });
  box.addEventListener('change', () => {
    onlyDiff = (box as unknown as { checked: boolean }).checked;
    setUiState({ onlyDiff });
    table();
  });
  app.append(h('h2', {}, 'Configuration'), h('div', { class: 'toolbar' }, box), h('div', { id: 'config' }));
  const table = () => {
    const el = document.getElementById('config')!;
    clear(el);
    const t = h('table', { id: 'config-diff' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'key'), ...d.runs.map((r) => h('th', { scope: 'col' }, r.id)))));
    const b = h('tbody');
    for (const row of d.config) {
      if (onlyDiff && !row.differs) continue;
      b.append(h('tr', { class: row.differs ? 'differs' : '' }, h('th', { scope: 'row' }, row.key), ...row.values.map((v) => h('td', {}, v))));
    }
    t.append(b);
    el.append(t);
  };
  table();
}

start((msg) => {
  if (msg.type === 'init' && msg.panel === 'compare') render(msg.data);
});

/**
 * Compression report: teacher, scratch student, distilled student and the int8-quantised student
 * side by side (parameters, bytes, FLOPs, latency on the run's backend, test accuracy, agreement,
 * compression ratio, speed-up), bar charts per figure, a per-layer table, Export Student; issue 18's
 * quantised copies (post-training int8/int4, quantisation-aware) and data-free comparison (issue18.ts).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { CompressionData, ModelColumn } from '../../src/protocol/webviews';
import { clear, fmtBytes, fmtInt, fmtNum, fmtPct, fmtStat, h, notice, palette } from '../shared/dom';
import { post, start } from '../shared/ipc';
import { renderPerClass } from './perClass';
import { renderDataFree, renderQuantized } from './issue18';
import { verdictCard } from '../shared/verdict';

const app = document.getElementById('app')!;

interface Row { label: string; get(c: ModelColumn): number | undefined; fmt(c: ModelColumn): string; bar?: boolean }
const ROWS: Row[] = [ // "large batch": CompressionData.latencyBatch samples (issue 20)
  { label: 'parameters', get: (c) => c.params, fmt: (c) => fmtInt(c.params), bar: true },
  { label: 'bytes', get: (c) => c.bytes, fmt: (c) => fmtBytes(c.bytes), bar: true },
  { label: 'FLOPs / sample', get: (c) => c.flops, fmt: (c) => fmtInt(c.flops), bar: true },
  { label: 'latency / sample', get: (c) => c.latencyMs, fmt: (c) => (c.latencyMs === undefined ? '–' : `${fmtNum(c.latencyMs, 3)} ms`), bar: true },
  { label: 'latency / sample, large batch', get: (c) => c.latencyBatchMs, fmt: (c) => (c.latencyBatchMs === undefined ? '–' : `${fmtNum(c.latencyBatchMs, 4)} ms`), bar: true },
  { label: 'test accuracy', get: (c) => c.testAcc?.mean, fmt: (c) => fmtStat(c.testAcc), bar: true },
  { label: 'agreement with teacher', get: (c) => c.agreement?.mean, fmt: (c) => fmtStat(c.agreement), bar: true },
  { label: 'compression (params)', get: (c) => c.compression, fmt: (c) => (c.compression === undefined ? '–' : `×${c.compression.toFixed(1)}`) },
  { label: 'speed-up', get: (c) => c.speedup, fmt: (c) => (c.speedup === undefined ? '–' : `×${c.speedup.toFixed(2)}`) },
  { label: 'speed-up, large batch', get: (c) => c.speedupBatch, fmt: (c) => (c.speedupBatch === undefined ? '–' : `×${c.speedupBatch.toFixed(2)}`) },
];

function render(d: CompressionData): void {
  clear(app);
  app.removeAttribute('aria-busy');
  const exp = h('vscode-button', { id: 'export-student', disabled: !d.canExport, onclick: () => post({ type: 'exportStudent' }) }, 'Export Student…');
  app.append(h('h1', { id: 'title' }, `Compression Report: ${d.title}`),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Report actions' }, exp, h('span', { class: 'note' }, `backend: ${d.backend}; latency measured at batch 1${d.latencyBatch ? ` and ${d.latencyBatch}` : ''}`)),
    h('div', { id: 'notice', class: 'notice' }));
  if (d.verdict) app.append(verdictCard(d.verdict, 'completed')); // issue 20
  if (d.error) app.append(h('p', { class: 'notice error', role: 'alert' }, d.error));
  if (d.warnings?.length) {
    app.append(h('div', { id: 'warnings', class: 'notice warning', role: 'alert' }, ...d.warnings.flatMap((w) => [
      h('p', {}, `⚠ ${w.message}.`),
      h('p', {}, 'Likely causes:'),
      h('ul', {}, ...w.causes.map((c) => h('li', {}, c))),
    ])));
  }
  if (d.columns.length) {
    const table = h('table', { id: 'models' }, h('thead', {}, h('tr', {}, h('th', {}, ''), ...d.columns.map((c) => h('th', { class: 'num', scope: 'col' }, c.name)))));
    const body = h('tbody');
    for (const r of ROWS) body.append(h('tr', {}, h('th', { scope: 'row' }, r.label), ...d.columns.map((c) => h('td', { class: 'num' }, r.fmt(c)))));
    table.append(body);
    app.append(h('h2', {}, 'Models'), table);
    if (d.latencyNote) app.append(h('p', { id: 'latency-note', class: 'note' }, d.latencyNote));
    const notes = d.columns.filter((c) => c.note);
    if (notes.length) app.append(h('ul', { class: 'note' }, ...notes.map((c) => h('li', {}, `${c.name}: ${c.note}`))));
    const col = palette();
    app.append(h('h2', {}, 'Side by side'));
    for (const r of ROWS.filter((x) => x.bar)) {
      const vals = d.columns.map((c) => r.get(c));
      const max = Math.max(0, ...vals.filter((v): v is number => v !== undefined));
      if (max <= 0) continue;
      const grid = h('div', { class: 'bars', role: 'img', 'aria-label': `${r.label}: ${d.columns.map((c) => `${c.name} ${r.fmt(c)}`).join(', ')}` });
      d.columns.forEach((c, i) => {
        const v = r.get(c);
        const bar = h('div', { class: 'bar' });
        bar.style.width = v === undefined ? '0' : `${Math.max(0.5, (v / max) * 100)}%`;
        bar.style.background = col[i % col.length];
        grid.append(h('span', {}, c.name), h('div', {}, bar), h('span', { class: 'num' }, r.fmt(c)));
      });
      app.append(h('h3', {}, r.label), grid);
    }
  }
  if (d.quantized?.length || d.qat) app.append(renderQuantized(d)); // issue 18
  if (d.dataFree) app.append(renderDataFree(d.dataFree)); // issue 18
  if (d.perClass) app.append(renderPerClass(d.perClass)); // issue 16
  if (d.layers.length) {
    app.append(h('h2', {}, 'Per layer'));
    const t = h('table', { id: 'layers' }, h('thead', {}, h('tr', {}, ...['model', 'layer', 'type', 'params', 'FLOPs / sample', 'share of model FLOPs'].map((c, i) => h('th', { class: i >= 3 ? 'num' : '', scope: 'col' }, c)))));
    const body = h('tbody');
    const total = new Map<string, number>();
    for (const l of d.layers) total.set(l.model, (total.get(l.model) ?? 0) + l.flops);
    for (const l of d.layers) {
      body.append(h('tr', {}, h('td', {}, l.model), h('td', {}, l.name), h('td', {}, l.type), h('td', { class: 'num' }, fmtInt(l.params)),
        h('td', { class: 'num' }, fmtInt(l.flops)), h('td', { class: 'num' }, fmtPct(total.get(l.model) ? l.flops / total.get(l.model)! : 0))));
    }
    t.append(body);
    app.append(t);
  } else if (d.layersNote) {
    app.append(h('h2', {}, 'Per layer'), h('p', { class: 'note' }, d.layersNote));
  }
}

start((msg) => {
  if (msg.type === 'init' && msg.panel === 'compression') render(msg.data);
  else if (msg.type === 'notice') notice(document.getElementById('notice')!, msg.level, msg.message);
});

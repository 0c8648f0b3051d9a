/**
 * Synthesized Inputs (issue 18): a data-free run's inputs synthesised from the teacher
 * (DeepInversion), as a grid per class — a few inputs of each class of one batch, greyscale or
 * RGB — with every batch's BN-statistics loss at its first and last iteration and the teacher's
 * accuracy on it, the shown batch's BN-loss curve, and a batch picker (the newest batch by
 * default, followed live while the synthesis runs).
 */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { SynthBatchView, SynthesizedData, SynthGridView } from '../../src/protocol/webviews';
import { clear, fmtInt, fmtNum, fmtPct, h, notice, themeColor } from '../shared/dom';
import { post, setUiState, getState, start } from '../shared/ipc';

const app = document.getElementById('app')!;
let data: SynthesizedData | undefined;
/** The batch the user picked (0: the newest, followed). */
let picked = Number((getState().ui as { batch?: number } | undefined)?.batch ?? 0);

const SVG = 'http://www.w3.org/2000/svg';

/** `1.234 → 0.0456` */
const fromTo = (a: number, b: number) => `${fmtNum(a)} → ${fmtNum(b)}`;

function canvasOf(g: SynthGridView, pixels: number[], label: string): HTMLCanvasElement {
  const canvas = h('canvas', { width: g.w, height: g.h, role: 'img', 'aria-label': label });
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(g.w, g.h);
  for (let p = 0; p < g.w * g.h; p++) {
    const [r, gr, b] = g.c === 3 ? [pixels[p * 3], pixels[p * 3 + 1], pixels[p * 3 + 2]] : [pixels[p], pixels[p], pixels[p]];
    img.data[p * 4] = r;
    img.data[p * 4 + 1] = gr;
    img.data[p * 4 + 2] = b;
    img.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  // small inputs (28 × 28) shown larger, pixels kept sharp; a vector strip keeps its aspect
  const scale = g.h === 1 ? Math.max(1, Math.floor(480 / g.w)) : Math.max(1, Math.min(4, Math.floor(112 / Math.max(g.h, g.w))));
  canvas.style.width = `${g.w * scale}px`;
  canvas.style.height = `${Math.max(g.h * scale, g.h === 1 ? 12 : 0)}px`;
  canvas.style.imageRendering = 'pixelated';
  return canvas;
}

function gridSection(g: SynthGridView): HTMLElement {
  const root = h('section', { id: 'grid', 'aria-label': `Synthesised inputs of batch ${g.batch}, by class`, 'data-batch': g.batch });
  root.append(h('h2', {}, `Batch ${g.batch}, by class`),
    h('p', { class: 'note' }, g.scale === 'unit' ? 'Pixels as synthesised (values in [0, 1]).' : 'Each input stretched from its own minimum to its maximum (the inputs live in the teacher\'s normalised input space).'));
  for (const cls of g.classes) {
    const name = cls.name === String(cls.label) ? String(cls.label) : `${cls.label} ${cls.name}`;
    const row = h('div', { class: 'synth-class', 'data-class': cls.label },
      h('div', { class: 'synth-class-name' }, name, h('span', { class: 'note' }, ` · ${cls.count} in the batch`)));
    const images = h('div', { class: 'synth-images' });
    for (const im of cls.images) {
      const c = canvasOf(g, im.pixels, `input ${im.index} of batch ${g.batch}, class ${name}`);
      c.dataset.index = String(im.index);
      images.append(c);
    }
    if (cls.images.length === 0) images.append(h('span', { class: 'note' }, 'none in this batch'));
    row.append(images);
    root.append(row);
  }
  return root;
}

/** The BN-statistics loss over the iterations of one batch, as a line (log scale when it spans a decade). */
function curve(b: SynthBatchView): Element | undefined {
  if (b.curve.length < 2) return undefined;
  const W = 360;
  const H = 90;
  const xs = b.curve.map(([i]) => i);
  const positive = b.curve.every(([, v]) => v > 0);
  const ys = b.curve.map(([, v]) => v);
  const log = positive && Math.max(...ys) / Math.min(...ys) > 10;
  const f = (v: number) => (log ? Math.log10(v) : v);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys.map(f)), Math.max(...ys.map(f))];
  const px = (x: number) => 4 + ((x - x0) / Math.max(1e-12, x1 - x0)) * (W - 8);
  const py = (y: number) => H - 4 - ((f(y) - y0) / Math.max(1e-12, y1 - y0)) * (H - 8);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('id', 'bn-curve');
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `BN-statistics loss of batch ${b.index} over ${x1} iterations: ${fromTo(b.bnLoss.start, b.bnLoss.end)}${log ? ' (log scale)' : ''}`);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', b.curve.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', themeColor('--vscode-charts-blue', '#3794ff'));
  line.setAttribute('stroke-width', '1.5');
  svg.append(line);
  return svg;
}

function batchPicker(d: SynthesizedData): HTMLElement {
  const sel = h('vscode-single-select', { id: 'batch', 'aria-label': 'Batch shown' });
  sel.append(h('vscode-option', { value: '0', selected: picked === 0 }, 'newest batch (follow)'));
  for (const b of d.batches) {
    sel.append(h('vscode-option', { value: String(b.index), selected: picked === b.index }, `batch ${b.index} · BN ${fromTo(b.bnLoss.start, b.bnLoss.end)} · teacher ${fmtPct(b.teacherAcc)}`));
  }
  sel.addEventListener('change', () => {
    picked = Number((sel as unknown as { value: string }).value) || 0;
    setUiState({ batch: picked });
    post({ type: 'pickBatch', batch: picked });
  });
  return sel;
}

function batchTable(d: SynthesizedData, shown?: number): HTMLElement {
  const t = h('table', { id: 'batches' }, h('thead', {}, h('tr', {}, ...['batch', 'inputs', 'BN loss first → last iteration', 'class loss', 'teacher accuracy', 'seconds']
    .map((c, i) => h('th', { class: i ? 'num' : '', scope: 'col' }, c)))));
  const body = h('tbody');
  for (const b of d.batches) {
    body.append(h('tr', b.index === shown ? { class: 'selected', 'aria-current': 'true', 'data-batch': b.index } : { 'data-batch': b.index },
      h('th', { scope: 'row' }, String(b.index)), h('td', { class: 'num' }, fmtInt(b.count)), h('td', { class: 'num' }, fromTo(b.bnLoss.start, b.bnLoss.end)),
      h('td', { class: 'num' }, fmtNum(b.classLoss)), h('td', { class: 'num' }, fmtPct(b.teacherAcc)), h('td', { class: 'num' }, fmtNum(b.seconds, 1))));
  }
  t.append(body);
  return t;
}

function render(): void {
  const d = data;
  if (!d) return;
  clear(app);
  app.removeAttribute('aria-busy');
  app.append(h('h1', { id: 'title' }, `Synthesized Inputs: ${d.title}`));
  const m = d.meta;
  const written = d.batches.reduce((a, b) => a + b.count, 0);
  app.append(h('p', { id: 'status', class: 'note', role: 'status' },
    m ? `${d.state} · ${d.batches.length}/${m.batches} batches · ${fmtInt(written)}/${fmtInt(m.samples)} inputs of shape [${m.shape.join(', ')}] · ${m.classes} classes` : d.state),
  h('div', { id: 'notice', class: 'notice' }));
  if (d.error) app.append(h('p', { class: 'notice error', role: 'alert' }, d.error));
  if (d.note) app.append(h('p', { id: 'note', class: 'note' }, d.note));
  if (d.summary) {
    app.append(h('dl', { id: 'summary', class: 'summary' },
      h('dt', {}, 'BN-statistics loss, mean over batches'), h('dd', {}, `${fromTo(d.summary.bnStart, d.summary.bnEnd)} (first → last iteration)`),
      h('dt', {}, 'teacher accuracy on the inputs'), h('dd', {}, `${fmtPct(d.summary.teacherAcc)} of ${fmtInt(d.summary.samples)} against their target classes`)));
  }
  if (d.batches.length) {
    app.append(h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Batch' }, h('span', {}, 'Batch: '), batchPicker(d)));
    const shown = d.batches.find((b) => b.index === d.grid?.batch);
    if (shown) {
      const c = curve(shown);
      if (c) app.append(h('h3', {}, `BN-statistics loss of batch ${shown.index} over its iterations`), c);
    }
    if (d.grid) app.append(gridSection(d.grid));
    app.append(h('h2', {}, 'Batches'), batchTable(d, d.grid?.batch));
  }
}

start((msg) => {
  if (msg.type === 'init' && msg.panel === 'synthesized') {
    data = msg.data;
    // a restored panel shows the batch it showed
    if (picked && data.grid?.batch !== picked && data.batches.some((b) => b.index === picked)) post({ type: 'pickBatch', batch: picked });
    render();
  } else if (msg.type === 'synthesizedUpdate' && data) {
    data = { title: data.title, ...msg.data, grid: msg.data.grid ?? data.grid };
    render();
  } else if (msg.type === 'notice') {
    notice(document.getElementById('notice')!, msg.level, msg.message);
  }
});

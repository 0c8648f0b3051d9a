/**
 * Layer pairing: teacher and student layers as two columns (name, type, output shape, parameters;
 * bar width by parameters), the pairs of the experiment as links coloured by method with the
 * adapter (and its output shape) and, after a run, the pair's loss as a sparkline. Click (or
 * Enter on) a teacher layer, then a student layer, pick the method and add the pair; click a link
 * (or its Remove button) to remove it. The host checks every pair in the engine and writes the
 * file as an undoable edit; a refused pair comes back with the reason.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { LayerRow, PairingData, PairLink, Suggestion } from '../../src/protocol/webviews';
import { clear, fmtInt, fmtShape, h, notice, palette } from '../shared/dom';
import { post, start } from '../shared/ipc';

const SVG = 'http://www.w3.org/2000/svg';
const ROW = 46;
const LINK_W = 300;
let data: PairingData | undefined;
let picked: { teacher?: string; student?: string } = {};
let method = 'fitnet';
/** The weight typed for a new entry (issue 20), per method; unset: the method's default. */
const typedWeight = new Map<string, string>();
/** The default weight of a new entry (src/host/panels/pairEdit.ts: AT maps are small, ×100). */
const defaultWeight = (m: string) => (m === 'at' ? 100 : 1);
const app = document.getElementById('app')!;

function methodColor(m: string): string {
  const all = data?.methods.map((x) => x.method) ?? [];
  const col = palette();
  return col[Math.max(0, all.indexOf(m)) % col.length];
}

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function layerButton(side: 'teacher' | 'student', l: LayerRow, max: number): HTMLElement {
  const selected = picked[side] === l.name;
  const width = max > 0 ? Math.max(2, Math.round((Math.log1p(l.params) / Math.log1p(max)) * 100)) : 2;
  const btn = h('button', {
    class: `layer${selected ? ' selected' : ''}`, 'data-side': side, 'data-layer': l.name,
    'aria-pressed': selected ? 'true' : 'false',
    'aria-label': `${side} layer ${l.name}, ${l.type}, output ${fmtShape(l.outputShape)}, ${fmtInt(l.params)} parameters`,
    onclick: () => pick(side, l.name),
  },
  h('span', { class: 'lname' }, l.name), h('span', { class: 'ltype muted' }, ` ${l.type}`),
  h('span', { class: 'lshape' }, fmtShape(l.outputShape)),
  h('span', { class: 'lparams muted' }, `${fmtInt(l.params)} params`),
  h('span', { class: 'bar' }));
  (btn.lastElementChild as HTMLElement).style.width = `${width}%`;
  return btn;
}

function pick(side: 'teacher' | 'student', name: string): void {
  picked[side] = picked[side] === name ? undefined : name;
  render();
  // after the controls have upgraded (tabindex is set on their first update)
  setTimeout(() => {
    if (picked.teacher && picked.student) (document.getElementById('add-pair') as HTMLElement | null)?.focus();
    else (document.querySelector(`[data-side="${side}"][data-layer="${CSS.escape(name)}"]`) as HTMLElement | null)?.focus();
  }, 0);
}

function sparkline(values: number[], x: number, y: number, w: number, hgt: number, color: string): SVGElement {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pts = values.map((v, i) => `${(x + (i / Math.max(1, values.length - 1)) * w).toFixed(1)},${(y + hgt - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * hgt).toFixed(1)}`).join(' ');
  const g = svg('polyline', { points: pts, fill: 'none', stroke: color, 'stroke-width': 1.5 });
  return g;
}

function linksSvg(d: PairingData): SVGElement {
  const rows = Math.max(d.teacher.length, d.student.length);
  // as wide as its column (issue 20: the panel is usable from 600 px): the drawing stretches, strokes keep their width
  const s = svg('svg', { width: '100%', height: rows * ROW, viewBox: `0 0 ${LINK_W} ${rows * ROW}`, preserveAspectRatio: 'none', role: 'group', 'aria-label': 'pairs' }) as SVGSVGElement;
  const yOf = (list: LayerRow[], name: string) => list.findIndex((l) => l.name === name) * ROW + ROW / 2;
  d.links.forEach((l) => {
    const y1 = yOf(d.teacher, l.teacher);
    const y2 = yOf(d.student, l.student);
    if (y1 < 0 || y2 < 0) return;
    const color = l.error ? 'var(--vscode-errorForeground)' : methodColor(l.method);
    const g = svg('g', { class: 'link', 'data-entry': l.entry, 'data-pair': l.pair });
    const path = svg('path', { d: `M0,${y1} C${LINK_W / 2},${y1} ${LINK_W / 2},${y2} ${LINK_W},${y2}`, stroke: color, 'stroke-width': 2.5, fill: 'none', 'stroke-dasharray': l.error ? '5 4' : '' });
    const hit = svg('path', { d: path.getAttribute('d')!, stroke: 'transparent', 'stroke-width': 12, fill: 'none' });
    const title = svg('title', {});
    title.textContent = `${l.method}: ${l.teacher} ↔ ${l.student}${l.error ? ` — ${l.error}` : `, adapter ${l.adapter}`} (click to remove)`;
    g.append(title, path, hit);
    const mx = LINK_W / 2;
    const my = (y1 + y2) / 2;
    const label = svg('text', { x: mx, y: my - 4, 'text-anchor': 'middle', fill: 'var(--vscode-foreground)', 'font-size': 11 });
    label.textContent = `${l.method} · ${l.adapter}${l.adapterShape ? ` → ${fmtShape(l.adapterShape)}` : ''}`;
    g.append(label);
    if (l.loss && l.loss.length > 1) g.append(sparkline(l.loss, mx - 40, my + 6, 80, 14, color));
    g.addEventListener('click', () => post({ type: 'removePair', entry: l.entry, pair: l.pair }));
    s.append(g);
  });
  return s;
}

function linkList(d: PairingData): HTMLElement {
  if (d.links.length === 0) return h('p', { class: 'note' }, 'No pairs yet: pick a teacher layer, then a student layer.');
  const t = h('table', { id: 'pairs' },
    h('thead', {}, h('tr', {}, ...['method', 'teacher', 'student', 'adapter', 'last pair loss', ''].map((c) => h('th', {}, c)))));
  const body = h('tbody');
  for (const l of d.links) {
    body.append(h('tr', { class: l.error ? 'error' : '' },
      h('td', {}, h('span', { class: 'swatch' }), l.method),
      h('td', {}, l.teacher), h('td', {}, l.student),
      h('td', {}, l.error ? h('span', { class: 'error-text' }, l.error) : `${l.adapter}${l.adapterShape ? ` → ${fmtShape(l.adapterShape)}` : ''}`),
      h('td', { class: 'num' }, l.loss?.length ? l.loss[l.loss.length - 1].toPrecision(4) : '–'),
      h('td', {}, h('vscode-button', { secondary: true, class: 'remove', 'data-entry': l.entry, 'data-pair': l.pair, 'aria-label': `Remove ${l.method} pair ${l.teacher} to ${l.student}`, onclick: () => post({ type: 'removePair', entry: l.entry, pair: l.pair }) }, 'Remove'))));
    (body.lastElementChild!.querySelector('.swatch') as HTMLElement).style.background = methodColor(l.method);
  }
  t.append(body);
  return t;
}

function suggestionsView(list: Suggestion[], error?: string): void {
  const el = document.getElementById('suggestions')!;
  clear(el);
  if (error) el.append(h('p', { class: 'notice error', role: 'alert' }, error));
  if (!list.length && !error) el.append(h('p', { class: 'note' }, 'No suggestions: no student stage matches a teacher stage.'));
  if (!list.length) return;
  el.append(h('h2', {}, 'Suggested pairs'));
  const ul = h('ul', { class: 'suggestions' });
  for (const s of list) {
    ul.append(h('li', {}, h('strong', {}, `${s.method}: ${s.teacher} ↔ ${s.student}`), ` (${s.adapter === 'none' ? 'no adapter' : `adapter ${s.adapter}`}) `,
      h('span', { class: 'muted' }, s.reason), ' ',
      h('vscode-button', { secondary: true, class: 'apply-suggestion', onclick: () => post({ type: 'addPair', teacher: s.teacher, student: s.student, method: s.method }) }, 'Add')));
  }
  el.append(ul);
}

function render(): void {
  const d = data;
  if (!d) return;
  clear(app);
  app.removeAttribute('aria-busy');
  app.append(h('h1', { id: 'title' }, `Layer Pairing: ${d.title}`), h('p', { class: 'note' }, `Experiment file: ${d.experimentFile}. Changes are written to it as undoable edits.`));
  const suggest = h('vscode-button', { id: 'suggest', onclick: () => post({ type: 'suggestPairs' }) }, 'Suggest pairs');
  const sel = h('vscode-single-select', { id: 'method', 'aria-label': 'Method of a new pair' });
  for (const m of d.methods) sel.append(h('vscode-option', { value: m.method, selected: m.method === method, description: m.title }, m.method));
  sel.addEventListener('change', () => (method = (sel as unknown as { value: string }).value));
  const status = picked.teacher && picked.student ? `Pair teacher "${picked.teacher}" with student "${picked.student}"`
    : picked.teacher ? `Teacher "${picked.teacher}" picked: now pick a student layer` : 'Pick a teacher layer, then a student layer';
  const add = h('vscode-button', { id: 'add-pair', disabled: !(picked.teacher && picked.student), onclick: () => {
    if (!picked.teacher || !picked.student) return;
    const joins = d.links.some((l) => l.method === method);
    const w = Number(typedWeight.get(method) ?? defaultWeight(method));
    post({ type: 'addPair', teacher: picked.teacher, student: picked.student, method, ...(!joins && Number.isFinite(w) && w > 0 ? { weight: w } : {}) });
    picked = {};
    render();
  } }, 'Add pair');
  const cancel = h('vscode-button', { id: 'cancel-pick', secondary: true, disabled: !(picked.teacher || picked.student), onclick: () => { picked = {}; render(); } }, 'Cancel');
  // the weight of the loss term a new pair starts (a pair joining an entry of its method shares that entry's weight)
  const joins = d.links.some((l) => l.method === method);
  const weight = h('vscode-textfield', { id: 'pair-weight', type: 'number', min: '0', step: 'any', disabled: joins, value: typedWeight.get(method) ?? String(defaultWeight(method)),
    'aria-label': joins ? `Weight: shared with the existing ${method} entry` : `Weight of the new ${method} entry`, title: joins ? `the pair joins the existing ${method} entry and shares its weight` : `weight of the new ${method} loss term` });
  weight.addEventListener('input', () => typedWeight.set(method, (weight as unknown as { value: string }).value));
  sel.addEventListener('change', () => render());
  app.append(h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Pairing' },
    suggest, h('label', {}, 'Method', sel), h('label', { id: 'weight-label' }, joins ? 'Weight (shared)' : 'Weight', weight),
    h('span', { id: 'pick-status', 'aria-live': 'polite' }, status), add, cancel));
  app.append(h('div', { id: 'notice', class: 'notice' }), h('div', { id: 'busy', class: 'busy', 'aria-live': 'polite' }));
  if (d.error) {
    app.append(h('p', { class: 'notice error', role: 'alert' }, d.error));
  }
  const maxP = Math.max(0, ...d.teacher.map((l) => l.params), ...d.student.map((l) => l.params));
  const col = (side: 'teacher' | 'student', list: LayerRow[]) => h('div', { class: 'column', role: 'group', 'aria-label': `${side} layers` },
    h('h2', {}, side === 'teacher' ? 'Teacher' : 'Student'), h('div', { class: 'layers' }, ...list.map((l) => layerButton(side, l, maxP))));
  const diagram = h('div', { class: 'diagram', id: 'diagram' }, col('teacher', d.teacher), h('div', { class: 'links' }, h('h2', {}, 'Pairs'), linksSvg(d)), col('student', d.student));
  app.append(diagram, h('h2', {}, 'Pairs'), h('div', { class: 'scroll-x' }, linkList(d)), h('div', { id: 'suggestions' }));
}

function refused(m: { teacher: string; student: string; method: string; reason: string }): void {
  notice(document.getElementById('notice')!, 'error', `Refused ${m.method} pair ${m.teacher} ↔ ${m.student}: ${m.reason}`);
}

start((msg) => {
  switch (msg.type) {
    case 'init':
      if (msg.panel !== 'pairing') return;
      data = msg.data;
      if (!data.methods.some((m) => m.method === method) && data.methods[0]) method = data.methods[0].method;
      render();
      return;
    case 'pairRefused':
      refused(msg);
      return;
    case 'suggestions':
      suggestionsView(msg.suggestions, msg.error);
      return;
    case 'notice':
      notice(document.getElementById('notice')!, msg.level, msg.message);
      return;
    case 'busy':
      document.getElementById('busy')!.textContent = msg.busy ? `${msg.what ?? 'working'}…` : '';
      return;
  }
});

export type { PairLink };

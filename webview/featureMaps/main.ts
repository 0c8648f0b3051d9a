/**
 * Feature maps: pick a checkpoint, a test sample (thumbnails) and a pair; the engine returns the
 * teacher's channels and the student's after its adapter, the difference, the attention maps and
 * the similarity figures (linear CKA over a batch of test samples, cosine and MSE of the sample).
 * Per-channel or shared normalisation is a display choice made here.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { FeatureMapsInit, FeatureMapsResult } from '../../src/protocol/webviews';
import { clear, fmtNum, fmtShape, h, notice } from '../shared/dom';
import { heatmapCanvas, heatmapGrid } from '../shared/heatmap';
import type { Norm } from '../shared/heatmap';
import { getState, post, setUiState, start } from '../shared/ipc';

const saved = (getState().ui ?? {}) as { checkpoint?: string; pair?: string; sample?: number; norm?: Norm };
let init: FeatureMapsInit | undefined;
let sel = { checkpoint: '', pair: '', sample: 0, norm: (saved.norm ?? 'channel') as Norm };
let result: FeatureMapsResult | undefined;
let requestId = 0;
const app = document.getElementById('app')!;

function request(): void {
  if (!init || !sel.checkpoint || !sel.pair) return;
  setUiState({ ...sel });
  post({ type: 'probe', requestId: ++requestId, checkpoint: sel.checkpoint, sample: sel.sample, pair: sel.pair });
}

function select(id: string, label: string, options: { id: string; label: string }[], value: string, onChange: (v: string) => void): HTMLElement {
  const s = h('vscode-single-select', { id, 'aria-label': label });
  for (const o of options) s.append(h('vscode-option', { value: o.id, selected: o.id === value }, o.label));
  s.addEventListener('change', () => onChange((s as unknown as { value: string }).value));
  return h('label', {}, label, s);
}

function render(): void {
  const d = init!;
  clear(app);
  app.removeAttribute('aria-busy');
  app.append(h('h1', { id: 'title' }, `Feature Maps: ${d.title}`));
  if (d.error) {
    app.append(h('p', { class: 'notice error', role: 'alert' }, d.error));
    return;
  }
  if (!d.checkpoints.length || !d.pairs.length) {
    app.append(h('p', { class: 'notice' }, !d.pairs.length ? 'This run\'s experiment has no layer pairs (feature or relation knowledge): add some in the Layer Pairing panel.' : 'No checkpoint of a distilled student yet.'));
    return;
  }
  app.append(h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'What to compare' },
    select('checkpoint', 'Checkpoint', d.checkpoints, sel.checkpoint, (v) => { sel.checkpoint = v; request(); }),
    select('pair', 'Pair', d.pairs, sel.pair, (v) => { sel.pair = v; request(); }),
    select('norm', 'Normalisation', [{ id: 'channel', label: 'per channel' }, { id: 'shared', label: 'shared' }], sel.norm, (v) => {
      sel.norm = v as Norm;
      setUiState({ norm: sel.norm });
      renderResult();
    })));
  const thumbs = h('div', { class: 'thumbs', role: 'listbox', id: 'samples', 'aria-label': 'Test samples' });
  for (const s of d.samples) {
    const lbl = s.className !== undefined ? `${s.label} ${s.className}` : String(s.label);
    const c = heatmapCanvas(s.pixels, s.h, s.w, [0, 1], 'grey', `test sample ${s.id}, label ${lbl}`);
    const b = h('button', { class: `thumb${s.id === sel.sample ? ' selected' : ''}`, role: 'option', 'aria-selected': s.id === sel.sample ? 'true' : 'false', 'data-sample': s.id, title: `sample ${s.id} (label ${lbl})`,
      onclick: () => {
        sel.sample = s.id;
        thumbs.querySelectorAll('.thumb').forEach((t) => {
          t.classList.toggle('selected', t === b);
          t.setAttribute('aria-selected', t === b ? 'true' : 'false');
        });
        request();
      } }, c, h('span', {}, s.className ?? String(s.label)));
    thumbs.append(b);
  }
  app.append(h('h2', {}, 'Test sample'), thumbs, h('div', { id: 'notice', class: 'notice' }), h('div', { id: 'busy', class: 'busy', 'aria-live': 'polite' }), h('div', { id: 'result' }));
  renderResult();
}

function figure(label: string, value: string, id: string): HTMLElement {
  return h('div', { class: 'figure' }, h('div', { class: 'muted' }, label), h('div', { class: 'value', id }, value));
}

function renderResult(): void {
  const el = document.getElementById('result');
  if (!el) return;
  clear(el);
  const r = result;
  if (!r) {
    el.append(h('p', { class: 'note' }, 'Pick a checkpoint, a sample and a pair.'));
    return;
  }
  el.append(h('div', { class: 'figures', id: 'figures' },
    figure('linear CKA', fmtNum(r.cka, 3), 'cka'), figure('cosine', fmtNum(r.cosine, 3), 'cosine'), figure('MSE', fmtNum(r.mse, 4), 'mse'),
    figure('adapter', r.adapter, 'adapter'), figure('teacher / student shape', `${fmtShape(r.teacherShape)} / ${fmtShape(r.studentShape)}`, 'shapes')),
  h('p', { class: 'note' }, `CKA over ${r.batch} test samples (this one first); cosine and MSE of this sample, student after its adapter.${r.note ? ` ${r.note}.` : ''}`));
  if (r.attentionTeacher && r.attentionStudent) {
    el.append(h('h2', {}, 'Attention maps (Σ_c |F_c|², normalised)'), h('div', { class: 'side' },
      h('div', {}, h('div', { class: 'muted' }, 'teacher'), heatmapGrid(r.attentionTeacher, 'channel', 'sequential', 'teacher attention', 160)),
      h('div', {}, h('div', { class: 'muted' }, 'student'), heatmapGrid(r.attentionStudent, 'channel', 'sequential', 'student attention', 160))));
  }
  el.append(h('h2', {}, `Teacher channels (${r.teacher.channels.length})`), heatmapGrid(r.teacher, sel.norm, 'sequential', 'teacher'));
  el.append(h('h2', {}, `Student channels after the adapter (${r.student.channels.length})`), heatmapGrid(r.student, sel.norm, 'sequential', 'student'));
  if (r.difference) el.append(h('h2', {}, 'Difference (student − teacher; blue < 0 < red)'), heatmapGrid(r.difference, sel.norm, 'diverging', 'difference'));
}

start((msg) => {
  switch (msg.type) {
    case 'init':
      if (msg.panel !== 'featureMaps') return;
      init = msg.data;
      sel = {
        checkpoint: init.checkpoints.some((c) => c.id === saved.checkpoint) ? saved.checkpoint! : init.checkpoints[init.checkpoints.length - 1]?.id ?? '',
        pair: init.pairs.some((p) => p.id === saved.pair) ? saved.pair! : init.pairs[0]?.id ?? '',
        sample: init.samples.some((s) => s.id === saved.sample) ? saved.sample! : init.samples[0]?.id ?? 0,
        norm: sel.norm,
      };
      result = undefined;
      render();
      request();
      return;
    case 'featureMaps':
      if (msg.requestId !== requestId) return; // an older answer
      result = msg;
      renderResult();
      return;
    case 'featureMapsError':
      if (msg.requestId === requestId) notice(document.getElementById('notice')!, 'error', msg.message);
      return;
    case 'busy': {
      const b = document.getElementById('busy');
      if (b) b.textContent = msg.busy ? `${msg.what ?? 'working'}…` : '';
      return;
    }
    case 'notice': {
      const n = document.getElementById('notice');
      if (n) notice(n, msg.level, msg.message);
    }
  }
});

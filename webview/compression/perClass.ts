/**
 * The per-class part of the compression report (issue 16): per-class test accuracy of the teacher,
 * the scratch student and the distilled student side by side, the classes where the distilled
 * student loses most against the teacher, and each model's confusion matrix as a heatmap (rows: the
 * true class, normalised to sum to 1, so a row shows where that class's samples went).
 */
import type { PerClassView } from '../../src/protocol/webviews';
import { fmtInt, fmtPct, h } from '../shared/dom';
import { heatmapCanvas } from '../shared/heatmap';

const WORST = 10;

export function renderPerClass(p: PerClassView): HTMLElement {
  const root = h('section', { id: 'per-class', 'aria-label': 'Per-class results' });
  const label = (k: number) => (p.classNames[k] === String(k) ? String(k) : `${k} ${p.classNames[k]}`);
  root.append(h('h2', {}, 'Per class'));

  // Where the student loses most.
  const refName = p.reference === 'teacher' ? 'teacher' : p.reference === 'scratch' ? 'scratch student' : 'a perfect model';
  const worst = p.gaps.filter((g) => g.drop > 0).slice(0, WORST);
  root.append(h('h3', {}, `Where the distilled student loses most against the ${refName}`));
  if (worst.length === 0) root.append(h('p', { class: 'note', id: 'no-loss' }, `The distilled student is at least as accurate as the ${refName} on every class.`));
  else {
    const list = h('table', { id: 'worst-classes' }, h('thead', {}, h('tr', {}, ...['class', refName, 'distilled', 'drop'].map((c, i) => h('th', { class: i ? 'num' : '', scope: 'col' }, c)))));
    const body = h('tbody');
    for (const g of worst) {
      body.append(h('tr', {}, h('th', { scope: 'row' }, label(g.class)), h('td', { class: 'num' }, fmtPct(g.reference)), h('td', { class: 'num' }, fmtPct(g.distill)),
        h('td', { class: 'num' }, `−${(g.drop * 100).toFixed(2)} pts`)));
    }
    list.append(body);
    root.append(list);
  }

  // Accuracy side by side.
  root.append(h('h3', {}, 'Accuracy per class'));
  const t = h('table', { id: 'class-accuracy' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'class'), h('th', { class: 'num', scope: 'col' }, 'test n'),
    ...p.models.map((m) => h('th', { class: 'num', scope: 'col' }, m.name)))));
  const body = h('tbody');
  const lost = new Set(worst.map((g) => g.class));
  p.classNames.forEach((_, k) => {
    const row = h('tr', lost.has(k) ? { class: 'loss' } : {}, h('th', { scope: 'row' }, label(k)), h('td', { class: 'num' }, fmtInt(p.support[k])));
    for (const m of p.models) row.append(h('td', { class: 'num' }, m.acc[k] === null ? '–' : fmtPct(m.acc[k]!)));
    body.append(row);
  });
  t.append(body);
  root.append(t);

  // Confusion matrices.
  root.append(h('h3', {}, 'Confusion matrices'), h('p', { class: 'note' }, 'Rows: true class; columns: predicted class; each row scaled to sum to 1 (darker: fewer).'));
  const grid = h('div', { class: 'confusions' });
  const c = p.classNames.length;
  const px = Math.max(4, Math.min(24, Math.floor(320 / c)));
  for (const m of p.models) {
    const values: number[] = [];
    for (let i = 0; i < c; i++) {
      const n = m.confusion[i].reduce((a, b) => a + b, 0);
      for (let j = 0; j < c; j++) values.push(n > 0 ? m.confusion[i][j] / n : 0);
    }
    const canvas = heatmapCanvas(values, c, c, [0, 1], 'sequential', `confusion matrix of the ${m.name}`);
    canvas.style.width = `${c * px}px`;
    canvas.style.height = `${c * px}px`;
    canvas.style.imageRendering = 'pixelated';
    canvas.dataset.model = m.name;
    grid.append(h('figure', {}, canvas, h('figcaption', {}, m.name)));
  }
  root.append(grid);
  return root;
}

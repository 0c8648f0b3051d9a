/**
 * The compression report's issue-18 sections: every quantised copy of the student side by side
 * (`int8 · post-training`, `int4 · post-training`, `int8 · quantisation-aware`: bytes, compression,
 * test accuracy, its drop against the float model it was made from, agreement with the teacher) with
 * the quantisation-aware jobs over seeds; and, for a data-free run, what was synthesised (samples,
 * BN-statistics loss first → last iteration, the teacher's accuracy on them) and the data-free
 * student beside distillation on real data and the scratch student.
 */
import type { CompressionData, DataFreeView } from '../../src/protocol/webviews';
import { fmtBytes, fmtInt, fmtNum, fmtPct, fmtStat, h } from '../shared/dom';

/** `−0.42 pts` (a loss), `+0.10 pts` (a gain): the drop is floatTestAcc − testAcc. */
const dropText = (drop: number) => `${drop > 0 ? '−' : drop < 0 ? '+' : '±'}${Math.abs(drop * 100).toFixed(2)} pts`;

export function renderQuantized(d: CompressionData): HTMLElement {
  const root = h('section', { id: 'quantized-section', 'aria-label': 'Quantised students' }, h('h2', {}, 'Quantised students'));
  const rows = d.quantized ?? [];
  if (rows.length) {
    const t = h('table', { id: 'quantized' }, h('thead', {}, h('tr', {}, ...['copy', 'bytes', 'compression (bytes)', 'test accuracy', 'vs its float model', 'agreement with teacher', 'folder']
      .map((c, i) => h('th', { class: i && i < 6 ? 'num' : '', scope: 'col' }, c)))));
    const body = h('tbody');
    for (const q of rows) {
      body.append(h('tr', { 'data-method': q.method, 'data-bits': q.bits },
        h('th', { scope: 'row' }, q.label), h('td', { class: 'num' }, fmtBytes(q.bytes)), h('td', { class: 'num' }, `×${q.compression.toFixed(1)}`),
        h('td', { class: 'num' }, fmtPct(q.testAcc)), h('td', { class: 'num', title: `float ${fmtPct(q.floatTestAcc)}${q.job ? ` (${q.job})` : ''}` }, dropText(q.accDrop)),
        h('td', { class: 'num' }, q.agreement === undefined ? '–' : fmtPct(q.agreement)), h('td', {}, q.dir)));
    }
    t.append(body);
    root.append(t, h('p', { class: 'note' }, 'Post-training rows quantise the exported float student; the quantisation-aware row quantises the student trained with fake-quantised weights (its float model is that job\'s). "vs its float model" is the accuracy the quantiser cost.'));
  }
  if (d.qat) {
    root.append(h('p', { id: 'qat-summary' }, `Quantisation-aware training (int${d.qat.bits}${d.qat.activations ? ', activations fake-quantised too' : ''}): `
      + `test accuracy ${fmtStat(d.qat.testAcc)} over ${d.qat.testAcc.n} seed${d.qat.testAcc.n === 1 ? '' : 's'} with the fake-quantised forward pass.`));
  }
  return root;
}

export function renderDataFree(df: DataFreeView): HTMLElement {
  const root = h('section', { id: 'data-free', 'aria-label': 'Data-free distillation' }, h('h2', {}, 'Data-free distillation'));
  root.append(h('dl', { class: 'summary' },
    h('dt', {}, 'synthesised inputs'), h('dd', {}, `${fmtInt(df.samples)} in ${df.batches} batch${df.batches === 1 ? '' : 'es'}`),
    h('dt', {}, 'BN-statistics loss'), h('dd', {}, `${fmtNum(df.bnLoss.start)} → ${fmtNum(df.bnLoss.end)} (mean over batches, first → last iteration)`),
    h('dt', {}, 'teacher accuracy on them'), h('dd', {}, `${fmtPct(df.teacherAcc)} against their target classes`)));
  const t = h('table', { id: 'data-free-students' }, h('thead', {}, h('tr', {}, ...['student', 'trained on', 'test accuracy'].map((c, i) => h('th', { class: i === 2 ? 'num' : '', scope: 'col' }, c)))));
  const body = h('tbody');
  const row = (name: string, on: string, acc: DataFreeView['dataFree']) => body.append(h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, on), h('td', { class: 'num' }, fmtStat(acc))));
  row('data-free distilled', 'synthesised inputs', df.dataFree);
  if (df.realKd) row('distilled on real data', `real data (${df.referenceFormat ?? 'reference'})`, df.realKd);
  if (df.scratch) row('scratch', df.scratchOn === 'real' ? `real data (${df.referenceFormat ?? 'reference'}), labels only` : 'synthesised inputs, their target labels', df.scratch);
  t.append(body);
  root.append(t);
  if (!df.realKd) root.append(h('p', { class: 'note' }, 'No real-data comparison: give data.train.reference to also distil the same student on real data.'));
  return root;
}

/** The verdict card (issue 20), shared by the dashboard's header and the compression report. */
import type { VerdictView } from '../../src/protocol/webviews';
import { h } from './dom';

/** The header card (issue 20): teacher / scratch / distilled test accuracy, the difference and its uncertainty, a flag. */
export function verdictCard(v: VerdictView | undefined, state: string): HTMLElement {
  const pc = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(2)} %`);
  if (!v) {
    return h('section', { id: 'verdict', class: 'verdict pending', 'aria-label': 'Verdict' },
      h('p', { class: 'note' }, state === 'completed' ? 'No verdict: this run has no report.' : 'The verdict (teacher, scratch and distilled test accuracy) comes when the run completes.'));
  }
  const fig = (label: string, value: string, cls = '') => h('div', { class: `figure ${cls}` }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
  const diff = v.difference === undefined ? '–'
    : `${v.difference >= 0 ? '+' : '−'}${Math.abs(v.difference * 100).toFixed(2)} ± ${((v.uncertainty ?? 0) * 100).toFixed(2)} pts`;
  return h('section', { id: 'verdict', class: `verdict ${v.flagged ? 'flagged' : 'ok'} ${v.outcome}`, 'aria-label': 'Verdict', role: v.flagged ? 'alert' : 'status' },
    h('div', { class: 'figures' }, fig('teacher', pc(v.teacher)), fig('scratch', pc(v.scratch)), fig('distilled', pc(v.distilled), 'main'),
      fig('distilled − scratch', diff, v.flagged ? 'warn' : 'good')),
    h('p', { class: 'verdict-note' }, `${v.flagged ? '⚠ ' : '✓ '}${v.note}`),
    h('p', { class: 'note verdict-headline' }, v.headline));
}


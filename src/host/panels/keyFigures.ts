/** A run's key figures for the placeholder panels, from report.json and metrics.jsonl. Pure. */
import type { RunView } from '../runData';
import { runDuration } from '../runData';
import { formatDuration, formatLoss, formatPercent } from '../sparkline';

export function keyFigures(view: RunView): [string, string][] {
  const rows: [string, string][] = [
    ['experiment', view.run.experiment],
    ['run', view.run.id],
    ['status', view.state],
    ['backend', view.run.backend?.name ?? '–'],
  ];
  const ms = runDuration(view.run);
  if (ms !== undefined) rows.push(['duration', formatDuration(ms)]);
  if (view.run.error) rows.push(['error', view.run.error.split('\n')[0]]);
  const r = view.report;
  if (r) {
    if (r.teacher) rows.push(['teacher test accuracy', formatPercent(r.teacher.testAcc)]);
    const d = r.summary.distill;
    const s = r.summary.scratch;
    if (d) rows.push(['distilled student test accuracy', `${formatPercent(d.testAcc.mean)}${d.testAcc.n > 1 ? ` ± ${formatPercent(d.testAcc.std)}` : ''}`]);
    if (s) rows.push(['scratch student test accuracy', `${formatPercent(s.testAcc.mean)}${s.testAcc.n > 1 ? ` ± ${formatPercent(s.testAcc.std)}` : ''}`]);
    if (d?.agreement) rows.push(['agreement with the teacher', formatPercent(d.agreement.mean)]);
    if (r.teacher && r.compression) {
      rows.push(['parameters (teacher → student)', `${r.teacher.params.toLocaleString('en')} → ${r.student.params.toLocaleString('en')} (×${r.compression.params.toFixed(1)})`]);
      rows.push(['FLOPs/sample', `×${r.compression.flops.toFixed(1)} fewer`]);
      rows.push(['latency speed-up', `×${r.compression.speedup.toFixed(2)}`]);
    }
  } else if (view.best) {
    rows.push([`best ${view.best.metric} (${view.best.job})`, `${formatPercent(view.best.acc)} at epoch ${view.best.epoch}`]);
  }
  for (const [term, series] of Object.entries(view.series)) {
    rows.push([`loss ${term} (${view.focusJob})`, formatLoss(series[series.length - 1])]);
  }
  return rows;
}

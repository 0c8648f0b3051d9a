/**
 * Dashboard (per run, live): every loss term raw and smoothed (slider), log-y, step or epoch axis;
 * train / validation / test accuracy with the teacher as a reference line and the scratch baseline;
 * the learning rate; learned values such as ctkd's temperature, when the job has them. New points arrive as `append` messages and extend the arrays in place; the
 * charts are redrawn at most once per animation frame. Exports CSV (every point) and PNG.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type uPlot from 'uplot';
import type { DashboardData, EpochPoint, HostToWebview, SeriesData } from '../../src/protocol/webviews';
import { autoWidth, chartsToPng, makeChart, Smoother } from '../shared/chart';
import { clear, h, notice, palette, themeColor } from '../shared/dom';
import { getState, post, setUiState, start } from '../shared/ipc';
import { verdictCard } from '../shared/verdict';
import { paramLabel } from '../../src/protocol/jobWords';

interface Series extends SeriesData { smooth: number[]; smoother: Smoother }

/** `pinned`: the user picked the job; until then the chart follows the job the run is training. */
// log-y by default (issue 20: on a linear axis the first steps flatten the rest)
const ui = { job: '', pinned: false, smoothing: 0.6, logY: true, axis: 'step' as 'step' | 'epoch', ...(getState().ui as object | undefined) };
const series = new Map<string, Series>();
const lrs = new Map<string, SeriesData>();
/** Learned values per job × name (`ctkd.temperature`), from the step records' `params`. */
const params = new Map<string, SeriesData>();
let epochs: EpochPoint[] = [];
let data: DashboardData | undefined;
let lossChart: uPlot | undefined;
let accChart: uPlot | undefined;
let lrChart: uPlot | undefined;
let paramChart: uPlot | undefined;
let frame = 0;
let teardown: (() => void)[] = [];

const app = document.getElementById('app')!;

function jobs(): string[] {
  return [...new Set([...series.values()].map((s) => s.job))];
}

/** Default job: the latest distill job (else the latest). */
function defaultJob(): string {
  const all = jobs();
  return [...all].reverse().find((j) => !j.startsWith('scratch') && j !== 'teacher') ?? all[all.length - 1] ?? '';
}

function addSeries(target: Map<string, SeriesData>, s: SeriesData): boolean {
  const cur = target.get(s.name);
  if (!cur) {
    target.set(s.name, { ...s, step: [...s.step], epoch: [...s.epoch], value: [...s.value] });
    return true;
  }
  cur.step.push(...s.step);
  cur.epoch.push(...s.epoch);
  cur.value.push(...s.value);
  return false;
}

function addLoss(s: SeriesData): boolean {
  const cur = series.get(s.name);
  if (!cur) {
    const smoother = new Smoother(ui.smoothing);
    series.set(s.name, { ...s, step: [...s.step], epoch: [...s.epoch], value: [...s.value], smooth: s.value.map((v) => smoother.push(v)), smoother });
    return true;
  }
  for (let i = 0; i < s.value.length; i++) {
    cur.step.push(s.step[i]);
    cur.epoch.push(s.epoch[i]);
    cur.value.push(s.value[i]);
    cur.smooth.push(cur.smoother.push(s.value[i]));
  }
  return false;
}

function resmooth(): void {
  for (const s of series.values()) {
    s.smoother = new Smoother(ui.smoothing);
    s.smooth = s.value.map((v) => s.smoother.push(v));
  }
}

function jobLosses(): Series[] {
  return [...series.values()].filter((s) => s.job === ui.job);
}

function lossData(): uPlot.AlignedData {
  const ss = jobLosses();
  if (ss.length === 0) return [[]];
  const x = ui.axis === 'step' ? ss[0].step : ss[0].epoch;
  const n = Math.min(...ss.map((s) => s.value.length));
  const clip = (a: number[]) => (a.length === n ? a : a.slice(0, n));
  const pos = (a: number[]) => (ui.logY ? a.map((v) => (v > 0 ? v : null)) : a) as number[];
  return [clip(x), ...ss.flatMap((s) => [pos(clip(s.value)), pos(clip(s.smooth))])];
}

function accLines(): { label: string; color: string; pts: (e: EpochPoint) => number | undefined; job: string; dash?: number[] }[] {
  const col = palette();
  const seed = /-s(\d+)$/.exec(ui.job)?.[1];
  const scratch = jobs().concat(epochs.map((e) => e.job)).find((j) => j.startsWith('scratch') && (!seed || j.endsWith(`-s${seed}`)));
  const lines = [
    { label: 'train', color: col[0], pts: (e: EpochPoint) => e.trainAcc, job: ui.job },
    { label: 'validation', color: col[1], pts: (e: EpochPoint) => e.valAcc, job: ui.job },
    { label: 'test', color: col[2], pts: (e: EpochPoint) => e.testAcc, job: ui.job },
    { label: 'agreement with teacher', color: col[3], pts: (e: EpochPoint) => e.agreement, job: ui.job, dash: [2, 3] },
  ];
  if (scratch && scratch !== ui.job) lines.push({ label: `scratch baseline (${scratch}) test`, color: col[4], pts: (e) => e.testAcc, job: scratch, dash: [6, 4] });
  return lines;
}

function accData(): uPlot.AlignedData {
  const lines = accLines();
  const xs = [...new Set(epochs.filter((e) => lines.some((l) => l.job === e.job)).map((e) => e.epoch))].sort((a, b) => a - b);
  const col = (l: (typeof lines)[number]) => xs.map((x) => {
    const e = epochs.find((p) => p.job === l.job && p.epoch === x);
    return e ? l.pts(e) ?? null : null;
  }) as number[];
  const teacher = xs.map(() => data?.teacherAcc ?? null) as number[];
  return [xs, ...lines.map(col), teacher];
}

function lrData(): uPlot.AlignedData {
  const s = [...lrs.values()].find((l) => l.job === ui.job);
  if (!s) return [[], []];
  return [ui.axis === 'step' ? s.step : s.epoch, s.value];
}

function jobParams(): SeriesData[] {
  return [...params.values()].filter((s) => s.job === ui.job);
}

function paramData(): uPlot.AlignedData {
  const ss = jobParams();
  if (ss.length === 0) return [[]];
  const n = Math.min(...ss.map((s) => s.value.length));
  return [(ui.axis === 'step' ? ss[0].step : ss[0].epoch).slice(0, n), ...ss.map((s) => s.value.slice(0, n))];
}

function buildCharts(): void {
  const host = document.getElementById('charts')!;
  teardown.forEach((f) => f());
  teardown = [];
  clear(host);
  const col = palette();
  // a data-free run's synthesize job (issue 18): its steps are iterations on a batch, its "epochs" the batches
  const synth = ui.job === 'synthesize';
  const xLabel = ui.axis === 'step' ? (synth ? 'iteration' : 'step') : (synth ? 'batch' : 'epoch');
  const lossEl = h('div', { class: 'chart', id: 'loss-chart' });
  const accEl = h('div', { class: 'chart', id: 'acc-chart' });
  const lrEl = h('div', { class: 'chart', id: 'lr-chart' });
  host.append(lossEl, accEl, lrEl);
  const terms = jobLosses();
  lossChart = makeChart(lossEl, {
    title: `Loss terms — ${ui.job || 'no steps yet'}${ui.logY ? ' (log y)' : ''}`, xLabel, yLabel: ui.logY ? 'loss (log)' : 'loss', logY: ui.logY, integerX: true,
    lines: terms.flatMap((s, i) => [
      { label: `${s.term} (raw)`, color: col[i % col.length], alpha: 0.3, width: 1 },
      { label: `${s.term}`, color: col[i % col.length], width: 2 },
    ]),
  }, lossData());
  const lines = accLines();
  accChart = makeChart(accEl, {
    title: 'Accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy', integerX: true,
    lines: [...lines.map((l) => ({ label: l.label, color: l.color, dash: l.dash, points: true })),
      { label: 'teacher (test)', color: themeColor('--vscode-charts-foreground', '#aaaaaa'), dash: [8, 4], width: 1 }],
  }, accData());
  lrChart = makeChart(lrEl, { title: 'Learning rate', xLabel, yLabel: 'lr', height: 140, integerX: true, nonNegativeY: true, lines: [{ label: 'lr', color: col[5] }] }, lrData());
  for (const [c, el] of [[lossChart, lossEl], [accChart, accEl], [lrChart, lrEl]] as const) teardown.push(autoWidth(c, el));
  const learned = jobParams();
  paramChart = undefined;
  if (learned.length) {
    const paramEl = h('div', { class: 'chart', id: 'param-chart' });
    host.append(paramEl);
    // issue 18: the adversarial term's discriminator loss/accuracy read as words (paramLabel)
    paramChart = makeChart(paramEl, { title: 'Learned values (e.g. ctkd temperature) and the discriminator\'s loss / accuracy', xLabel, yLabel: 'value', height: 140,
      lines: learned.map((s, i) => ({ label: paramLabel(s.term), color: col[(6 + i) % col.length] })) }, paramData());
    teardown.push(autoWidth(paramChart, paramEl));
  }
}

/** Redraws with the grown arrays, at most once per frame. */
function scheduleUpdate(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    lossChart?.setData(lossData());
    accChart?.setData(accData());
    lrChart?.setData(lrData());
    paramChart?.setData(paramData());
    updateStatus();
  });
}

function updateStatus(): void {
  const n = jobLosses()[0]?.value.length ?? 0;
  document.getElementById('status')!.textContent = `${data?.state ?? ''} · ${n.toLocaleString('en-US')} points of ${ui.job || '–'}`;
}

function jobSelect(): HTMLElement {
  const sel = h('vscode-single-select', { id: 'job', 'aria-label': 'Job' });
  for (const j of jobs()) sel.append(h('vscode-option', { value: j, selected: j === ui.job }, j));
  sel.addEventListener('change', () => {
    ui.job = (sel as unknown as { value: string }).value;
    ui.pinned = true;
    setUiState({ job: ui.job, pinned: true });
    buildCharts();
    updateStatus();
  });
  return sel;
}

function csv(): string {
  const rows = ['job,term,step,epoch,value'];
  for (const s of [...series.values(), ...lrs.values(), ...params.values()]) {
    for (let i = 0; i < s.value.length; i++) rows.push(`${s.job},${s.term},${s.step[i]},${s.epoch[i].toFixed(4)},${s.value[i]}`);
  }
  rows.push('', 'job,epoch,trainAcc,valAcc,testAcc,agreement');
  for (const e of epochs) rows.push(`${e.job},${e.epoch},${e.trainAcc},${e.valAcc ?? ''},${e.testAcc},${e.agreement ?? ''}`);
  return rows.join('\n') + '\n';
}

function render(d: DashboardData): void {
  data = d;
  series.clear();
  lrs.clear();
  params.clear();
  d.losses.forEach(addLoss);
  d.lr.forEach((s) => addSeries(lrs, s));
  (d.params ?? []).forEach((s) => addSeries(params, s));
  epochs = [...d.epochs];
  if (!jobs().includes(ui.job)) ui.job = defaultJob();
  clear(app);
  app.removeAttribute('aria-busy');
  const slider = h('input', { type: 'range', id: 'smoothing', min: 0, max: 0.99, step: 0.01, value: ui.smoothing, 'aria-label': 'Smoothing' }) as HTMLInputElement;
  const sliderValue = h('span', { id: 'smoothing-value', text: ui.smoothing.toFixed(2) });
  slider.addEventListener('input', () => {
    ui.smoothing = Number(slider.value);
    sliderValue.textContent = ui.smoothing.toFixed(2);
    setUiState({ smoothing: ui.smoothing });
    resmooth();
    scheduleUpdate();
  });
  const logY = h('vscode-checkbox', { id: 'logy', label: 'log-y', checked: ui.logY });
  logY.addEventListener('change', () => {
    ui.logY = (logY as unknown as { checked: boolean }).checked;
    setUiState({ logY: ui.logY });
    buildCharts();
  });
  const axis = h('vscode-single-select', { id: 'axis', 'aria-label': 'x axis' },
    h('vscode-option', { value: 'step', selected: ui.axis === 'step' }, 'by step'),
    h('vscode-option', { value: 'epoch', selected: ui.axis === 'epoch' }, 'by epoch'));
  axis.addEventListener('change', () => {
    ui.axis = (axis as unknown as { value: 'step' | 'epoch' }).value;
    setUiState({ axis: ui.axis });
    buildCharts();
  });
  const csvBtn = h('vscode-button', { id: 'export-csv', secondary: true }, 'Export CSV');
  csvBtn.addEventListener('click', () => post({ type: 'save', format: 'csv', name: `${d.runId}-metrics.csv`, data: csv() }));
  const pngBtn = h('vscode-button', { id: 'export-png', secondary: true }, 'Export PNG');
  pngBtn.addEventListener('click', () => {
    const canvases = [...document.querySelectorAll<HTMLCanvasElement>('#charts canvas')];
    post({ type: 'save', format: 'png', name: `${d.runId}-charts.png`, data: chartsToPng(canvases, themeColor('--vscode-editor-background', '#1e1e1e')) });
  });
  app.append(
    h('h1', { id: 'title' }, `Dashboard: ${d.title}`),
    h('p', { class: 'note', id: 'status', 'aria-live': 'polite' }),
    verdictCard(d.verdict, d.state),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Chart options' },
      h('label', {}, 'Job', jobSelect()),
      h('label', {}, 'Smoothing', slider, sliderValue),
      logY,
      h('label', {}, 'x axis', axis),
      csvBtn, pngBtn),
    h('div', { id: 'notice', class: 'notice' }),
    h('div', { id: 'charts' }),
  );
  buildCharts();
  updateStatus();
}

function append(m: Extract<HostToWebview, { type: 'append' }>): void {
  if (!data) return;
  data.state = m.state;
  if (m.teacherAcc !== undefined) data.teacherAcc = m.teacherAcc;
  if (m.verdict || (m.state === 'completed' && !data.verdict)) {
    if (m.verdict) data.verdict = m.verdict;
    document.getElementById('verdict')?.replaceWith(verdictCard(data.verdict, m.state));
  }
  const known = new Set(jobs());
  let fresh = false;
  for (const s of m.losses) fresh = addLoss(s) || fresh;
  for (const s of m.lr) addSeries(lrs, s);
  let freshParam = false;
  for (const s of m.params ?? []) freshParam = addSeries(params, s) || freshParam;
  epochs.push(...m.epochs);
  // a job that starts training now is followed, unless the user picked one
  const started = m.losses.map((s) => s.job).filter((j) => !known.has(j)).pop();
  if (started && !ui.pinned) ui.job = started;
  else if (!ui.job || (fresh && !jobs().includes(ui.job))) ui.job = defaultJob();
  if (freshParam && !fresh) buildCharts(); // a learned value's first points: its chart appears
  if (fresh) {
    // a new job or term: the job list and the chart's series change
    const sel = document.getElementById('job');
    sel?.replaceWith(jobSelect());
    buildCharts();
  }
  scheduleUpdate();
}

start((msg) => {
  if (msg.type === 'init' && msg.panel === 'dashboard') render(msg.data);
  else if (msg.type === 'append') append(msg);
  else if (msg.type === 'notice') notice(document.getElementById('notice')!, msg.level, msg.message);
});

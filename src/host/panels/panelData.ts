/**
 * What the panels show, read from run folders (the source of truth): metrics.jsonl (read
 * incrementally for the live dashboard), report.json, config.json. Pure Node: no `vscode`, no
 * TensorFlow.js — the model figures (layers, feature maps) come from the engine's probe.
 */
import * as fs from 'fs';
import * as path from 'path';
import { latencyExplanation } from '../../runs/latencyNote';
import { verdict } from '../../runs/verdict';
import { runEngine } from '../../runs/engineLabel';
import { isFinalJob } from '../../runs/finalJobs';
import type { Report } from '../../runs/report';
import type { EpochRecord, MetricRecord, RunJson, StepRecord } from '../../runs/store';
import { MetricsTail, readMetrics, readRun, readSnapshot } from '../../runs/store';
import type {
  CompareData, CompareRun, CompressionData, DashboardAppend, DashboardData, EpochPoint, ModelColumn, PairLink, PerClassView, QuantizedRowView, SeriesData, VerdictView,
} from '../../protocol/webviews';
import { runState } from '../runData';
import { readBenchCompare } from './benchCompare';
import { quantizedLabel } from '../../protocol/jobWords';

/** Turns metric records into series points; keeps per-job step counts for the epoch axis. */
export class DashboardBuilder {
  private readonly stepsPerEpoch = new Map<string, number>();

  private epochX(r: StepRecord): number {
    const known = this.stepsPerEpoch.get(r.job) ?? 0;
    const steps = Math.max(known, r.step);
    if (r.epoch === 1 || !known) this.stepsPerEpoch.set(r.job, steps);
    return r.epoch - 1 + r.step / Math.max(1, steps);
  }

  /** Groups records into appendable series (one per job × term, plus lr per job). */
  points(records: MetricRecord[]): Omit<DashboardAppend, 'type' | 'state'> {
    const losses = new Map<string, SeriesData>();
    const lr = new Map<string, SeriesData>();
    const params = new Map<string, SeriesData>();
    const epochs: EpochPoint[] = [];
    const push = (map: Map<string, SeriesData>, job: string, term: string, r: StepRecord, x: number, v: number) => {
      const name = `${job} · ${term}`;
      let s = map.get(name);
      if (!s) map.set(name, (s = { name, job, term, step: [], epoch: [], value: [] }));
      s.step.push(r.globalStep);
      s.epoch.push(x);
      s.value.push(v);
    };
    for (const r of records) {
      if (r.type === 'step') {
        const x = this.epochX(r);
        for (const [term, v] of Object.entries(r.losses)) push(losses, r.job, term, r, x, v);
        if (typeof r.lr === 'number') push(lr, r.job, 'lr', r, x, r.lr);
        for (const [name, v] of Object.entries(r.params ?? {})) push(params, r.job, name, r, x, v);
      } else if (r.type === 'epoch') {
        epochs.push(epochPoint(r));
      }
    }
    return { losses: [...losses.values()], lr: [...lr.values()], ...(params.size ? { params: [...params.values()] } : {}), epochs };
  }

}

function epochPoint(r: EpochRecord): EpochPoint {
  return {
    job: r.job, epoch: r.epoch, trainAcc: r.trainAcc, testAcc: r.testAcc,
    ...(r.valAcc !== undefined ? { valAcc: r.valAcc } : {}), ...(r.agreement !== undefined ? { agreement: r.agreement } : {}),
  };
}

export function readReport(runDir: string): Report | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Report;
  } catch {
    return undefined;
  }
}

/** The teacher's test accuracy: from report.json, else the teacher job's last epoch. */
export function teacherAccuracy(runDir: string, epochs: EpochPoint[]): number | undefined {
  const r = readReport(runDir);
  if (r?.teacher) return r.teacher.testAcc;
  const t = epochs.filter((e) => e.job === 'teacher');
  return t.length ? t[t.length - 1].testAcc : undefined;
}

export function dashboardData(runDir: string, tail: MetricsTail, builder: DashboardBuilder, title: string): DashboardData {
  const run = readRun(runDir);
  const pts = builder.points(tail.read());
  const v = runVerdict(runDir);
  return { title, runId: run.id, state: runState(run), ...pts, teacherAcc: teacherAccuracy(runDir, pts.epochs), ...(v ? { verdict: v } : {}) };
}

/** The verdict of a run from its report.json (issue 20), or undefined before the report exists. */
export function runVerdict(runDir: string, report = readReport(runDir)): VerdictView | undefined {
  const v = report ? verdict(report) : undefined;
  if (!v) return undefined;
  return {
    distilled: v.distilled.mean, outcome: v.outcome, flagged: v.flagged, headline: v.headline, note: v.note,
    ...(v.teacher !== undefined ? { teacher: v.teacher } : {}), ...(v.scratch ? { scratch: v.scratch.mean } : {}),
    ...(v.difference !== undefined ? { difference: v.difference, uncertainty: v.uncertainty } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// pairing: per-pair loss sparklines

/** The metrics name of knowledge entry `ei` (`kd`, `fitnet`, `fitnet#2`, …), as buildTerms names it. */
export function termName(methods: string[], ei: number): string {
  const n = methods.slice(0, ei + 1).filter((m) => m === methods[ei]).length;
  return n === 1 ? methods[ei] : `${methods[ei]}#${n}`;
}

/** Per-pair loss series of a run (latest distill job that logged pairs), by `term|teacher→student`. */
export function pairLosses(records: MetricRecord[], maxPoints = 60): Map<string, number[]> {
  const byJob = new Map<string, Map<string, number[]>>();
  let lastJob: string | undefined;
  for (const r of records) {
    if (r.type !== 'step' || !r.pairs) continue;
    const m = byJob.get(r.job) ?? new Map<string, number[]>();
    byJob.set(r.job, m);
    lastJob = r.job;
    for (const [term, pairs] of Object.entries(r.pairs)) {
      for (const [label, v] of Object.entries(pairs)) {
        const key = `${term}|${label}`;
        (m.get(key) ?? m.set(key, []).get(key)!).push(v);
      }
    }
  }
  const m = lastJob ? byJob.get(lastJob)! : new Map<string, number[]>();
  for (const [k, v] of m) m.set(k, downsample(v, maxPoints));
  return m;
}

export function downsample(v: number[], n: number): number[] {
  if (v.length <= n) return v;
  const out: number[] = [];
  const w = v.length / n;
  for (let i = 0; i < n; i++) {
    const a = Math.floor(i * w);
    const b = Math.max(a + 1, Math.floor((i + 1) * w));
    let s = 0;
    for (let k = a; k < b; k++) s += v[k];
    out.push(s / (b - a));
  }
  return out;
}

export function attachPairLosses(links: PairLink[], methods: string[], losses: Map<string, number[]>): PairLink[] {
  return links.map((l) => {
    const loss = losses.get(`${termName(methods, l.entry)}|${l.teacher}→${l.student}`);
    return loss ? { ...l, loss } : l;
  });
}

// ---------------------------------------------------------------------------------------------
// compression

export function compressionData(runDir: string, title: string, layers: CompressionData['layers']): CompressionData {
  const report = readReport(runDir);
  const run = readRun(runDir);
  const canExport = fs.existsSync(path.join(runDir, 'student', 'model.json'));
  // issue 14: the engine and device of a torch run; its per-layer figures only from report.json.
  const engine = runEngine(run);
  const torch = engine.engine === 'torch';
  const backendOf = (name: string | undefined): string => (torch ? `torch engine · ${name ?? '–'}${engine.precision ? ` · ${engine.precision}` : ''}${engine.versions ? ` (${engine.versions})` : ''}` : name ?? '–');
  let layersNote: string | undefined;
  if (torch && layers.length === 0) {
    layers = report ? reportLayers(report) : [];
    if (layers.length === 0) layersNote = 'per-layer figures: not for torch runs yet (the totals above are the torch engine\'s, measured on its device)';
  }
  const extra = layersNote ? { layersNote } : {};
  if (!report) {
    return { title, columns: [], layers, canExport, backend: backendOf(run.backend?.name), ...extra, error: `run ${run.id} has no report yet (it is ${runState(run)}): the report is written when the run completes.` };
  }
  const s = report.student;
  const t = report.teacher;
  const cols: ModelColumn[] = [];
  // Teacher health (issue 13): the report's warnings, and a note on the teacher's column.
  const warnings = (report.warnings ?? []).map((w) => ({ message: w.message, causes: [...w.causes] }));
  const teacherWarned = (report.warnings ?? []).some((w) => w.kind.startsWith('teacher-'));
  if (t) {
    const notes = [...(t.format ? [`int8 weights (${t.format}), counted at their stored size`] : []), ...(teacherWarned ? ['⚠ see the warning above: this teacher may not be worth distilling from'] : [])];
    cols.push({ name: t.format ? 'teacher (int8)' : 'teacher', params: t.params, bytes: t.bytes, flops: t.flops, latencyMs: t.latencyMsPerSample,
      ...(t.latencyBatch ? { latencyBatchMs: t.latencyBatch.msPerSample, speedupBatch: 1 } : {}), testAcc: { mean: t.testAcc, std: 0, n: 1 }, compression: 1, speedup: 1,
      ...(notes.length ? { note: notes.join('; ') } : {}) });
  }
  const ratio = (a?: number, b?: number) => (a && b ? a / b : undefined);
  const student = (name: string, sum: Report['summary']['distill'], note?: string): ModelColumn => ({
    name, params: s.params, bytes: s.bytes, flops: s.flops, latencyMs: s.latencyMsPerSample,
    ...(sum ? { testAcc: sum.testAcc } : {}), ...(sum?.agreement ? { agreement: sum.agreement } : {}),
    compression: ratio(t?.params, s.params), speedup: ratio(t?.latencyMsPerSample, s.latencyMsPerSample), ...(note ? { note } : {}),
    ...(s.latencyBatch ? { latencyBatchMs: s.latencyBatch.msPerSample, speedupBatch: ratio(t?.latencyBatch?.msPerSample, s.latencyBatch.msPerSample) } : {}),
  });
  if (report.summary.scratch) cols.push(student('scratch student', report.summary.scratch, 'same architecture as the distilled student, trained on the labels only'));
  if (report.summary.distill) cols.push(student('distilled student', report.summary.distill));
  const q = report.quantized;
  cols.push(q
    ? { name: 'distilled (int8)', params: s.params, bytes: q.bytes, flops: s.flops,
      testAcc: { mean: q.testAcc, std: 0, n: 1 },
      ...(q.agreement !== undefined ? { agreement: { mean: q.agreement, std: 0, n: 1 } } : {}), compression: ratio(t?.bytes, q.bytes),
      note: `per-channel int8 weights, float activations (the exported seed); ${((q.accDrop) * 100).toFixed(2)} points below the float student` }
    : { name: 'distilled (int8)', note: 'not measured: this run\'s report has no int8-quantised student (runs before quantisation existed)' });
  // issue 20: the larger batch, and why the speed-up at batch 1 lags the FLOPs
  const latencyNote = report.compression ? latencyExplanation({ flopsRatio: report.compression.flops, speedup: report.compression.speedup,
    speedupBatch: report.compression.speedupBatch, batch: s.latencyBatch?.batch }) : undefined;
  const perClass = perClassView(report);
  const runV = runVerdict(runDir, report);
  const issue18 = quantizedAndDataFree(report); // issue 18
  return { title, columns: cols, layers, canExport, backend: backendOf(report.backend), ...extra, ...(warnings.length ? { warnings } : {}),
    ...(s.latencyBatch ? { latencyBatch: s.latencyBatch.batch } : {}), ...(latencyNote ? { latencyNote } : {}),
    ...(runV ? { verdict: runV } : {}), ...(perClass ? { perClass } : {}), ...issue18 };
}

/**
 * issue 18: every quantised copy of the student as a row (`quantized`, the post-training int8, then
 * `quantizedVariants` in the report's order), the QAT jobs' figures over seeds, and a data-free
 * run's section (its synthesis, and its student beside real-data KD and scratch).
 */
export function quantizedAndDataFree(report: Report): Pick<CompressionData, 'quantized' | 'qat' | 'dataFree'> {
  const out: Pick<CompressionData, 'quantized' | 'qat' | 'dataFree'> = {};
  const rows = [...(report.quantized ? [report.quantized] : []), ...(report.quantizedVariants ?? [])];
  if (rows.length > 1 || report.quantizedVariants) {
    out.quantized = rows.map((q): QuantizedRowView => ({
      label: quantizedLabel(q), bits: q.bits ?? 8, method: q.method ?? 'ptq', dir: q.dir, bytes: q.bytes, floatBytes: q.floatBytes, compression: q.compression,
      testAcc: q.testAcc, accDrop: q.accDrop, floatTestAcc: q.floatTestAcc, ...(q.agreement !== undefined ? { agreement: q.agreement } : {}), ...(q.job ? { job: q.job } : {}),
    }));
  }
  if (report.qat) out.qat = { testAcc: report.qat.testAcc, bits: report.qat.bits, activations: report.qat.activations };
  const df = report.dataFree;
  if (df) {
    out.dataFree = {
      samples: df.samples, batches: df.batches, bnLoss: { start: df.bnLoss.start, end: df.bnLoss.end }, teacherAcc: df.teacherAcc,
      scratchOn: df.reference ? 'real' : 'synthesized',
      ...(report.summary.distill ? { dataFree: report.summary.distill.testAcc } : {}),
      ...(df.reference ? { realKd: df.reference.distill.testAcc, referenceFormat: df.reference.format } : {}),
      ...(report.summary.scratch ? { scratch: report.summary.scratch.testAcc } : {}),
    };
  }
  return out;
}

/** Whether a run folder was trained by the torch engine (run.json, else its config). */
export function isTorchRun(runDir: string): boolean {
  try {
    if (runEngine(readRun(runDir)).engine === 'torch') return true;
    return readSnapshot(runDir).config.engine === 'torch';
  } catch {
    return false;
  }
}

/**
 * Per-layer figures a report carries (`teacher.layers` / `student.layers`, as the torch engine's
 * figures can write them: `{name, type, params, flops}`); anything else is left out.
 */
function reportLayers(report: Report): CompressionData['layers'] {
  const out: CompressionData['layers'] = [];
  for (const model of ['teacher', 'student'] as const) {
    const list = (report[model] as { layers?: unknown } | undefined)?.layers;
    if (!Array.isArray(list)) continue;
    for (const l of list as Record<string, unknown>[]) {
      if (typeof l?.name === 'string' && typeof l.params === 'number' && typeof l.flops === 'number') {
        out.push({ model, name: l.name, type: typeof l.type === 'string' ? l.type : '', params: l.params, flops: l.flops });
      }
    }
  }
  return out;
}

/** The report's per-class figures for the compression panel (issue 16). */
export function perClassView(report: Report): PerClassView | undefined {
  const p = report.perClass;
  if (!p) return undefined;
  const models: PerClassView['models'] = [];
  if (p.teacher) models.push({ name: 'teacher', ...p.teacher });
  if (p.scratch) models.push({ name: 'scratch student', ...p.scratch });
  if (p.distill) models.push({ name: 'distilled student', ...p.distill });
  return {
    classNames: p.classNames, support: p.support, models, reference: p.reference,
    gaps: p.gaps.map((g) => ({ class: g.class, name: g.name, distill: g.distill, drop: g.drop,
      ...(p.reference === 'teacher' && g.teacher !== undefined ? { reference: g.teacher } : p.reference === 'scratch' && g.scratch !== undefined ? { reference: g.scratch } : {}) })),
  };
}

// ---------------------------------------------------------------------------------------------
// compare

/** Flattens a JSON value into `a.b[0].c` → JSON text. */
export function flatten(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(v) && v.some((x) => typeof x === 'object' && x !== null)) {
    v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
  } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, JSON.stringify(v));
  }
  return out;
}

export function configDiff(configs: unknown[]): CompareData['config'] {
  const flat = configs.map((c) => flatten(c));
  const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))];
  return keys.map((key) => {
    const values = flat.map((f) => f.get(key) ?? '–');
    return { key, values, differs: new Set(values).size > 1 };
  });
}

/** A config cell of a bench file (JSON text) as its value. */
function jsonValue(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function compareData(runDirs: string[], title: string): CompareData {
  const runs: CompareRun[] = [];
  const configs: unknown[] = [];
  for (const dir of runDirs) {
    // A bench:quality JSON: its entries, each with its settings as the config (issue 17).
    const bench = readBenchCompare(dir);
    if (bench) {
      bench.runs.forEach((r, i) => {
        runs.push(r);
        configs.push(Object.fromEntries(bench.config.map((row) => [row.key, jsonValue(row.values[i])])));
      });
      continue;
    }
    let run: RunJson;
    try {
      run = readRun(dir);
    } catch {
      continue;
    }
    const records = readMetrics(dir);
    const finalJobs = Object.entries(run.jobs).filter(([, j]) => isFinalJob(j)).map(([k]) => k);
    const job = finalJobs[0] ?? Object.keys(run.jobs).pop();
    const loss = { step: [] as number[], value: [] as number[] };
    const acc = { epoch: [] as number[], value: [] as number[] };
    for (const r of records) {
      if (r.job !== job) continue;
      if (r.type === 'step' && r.losses.total !== undefined) {
        loss.step.push(r.globalStep);
        loss.value.push(r.losses.total);
      } else if (r.type === 'epoch') {
        acc.epoch.push(r.epoch);
        acc.value.push(r.testAcc);
      }
    }
    const finals: CompareRun['finals'] = {};
    const rep = readReport(dir);
    if (rep?.summary.distill) {
      finals['distilled test acc'] = rep.summary.distill.testAcc;
      if (rep.summary.distill.agreement) finals.agreement = rep.summary.distill.agreement;
    }
    if (rep?.summary.scratch) finals['scratch test acc'] = rep.summary.scratch.testAcc;
    if (!rep && acc.value.length) finals['distilled test acc'] = { mean: acc.value[acc.value.length - 1], std: 0, n: 1 };
    if (rep?.compression) finals['compression ×'] = { mean: rep.compression.params, std: 0, n: 1 };
    runs.push({ id: run.id, label: `${run.experiment} · ${run.id}`, loss, acc, finals });
    try {
      configs.push(readSnapshot(dir).config);
    } catch {
      configs.push({});
    }
  }
  return { title, runs, config: configDiff(configs) };
}

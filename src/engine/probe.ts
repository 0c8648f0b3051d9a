/**
 * Inspection for the panels, answered by the engine worker on request (`probe` messages of
 * src/protocol/engine.ts): layer lists with shapes, parameters and FLOPs; whether a pair can be
 * matched (and with which adapter); pair suggestions; a run's checkpoints, test samples and pairs;
 * and, for one checkpoint, sample and pair, the teacher's and the student's (after its adapter)
 * feature maps with similarity figures. Every number the panels show about models comes from here
 * — the extension host never loads TensorFlow.js, the webviews never compute model data.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadExperiment, parseExperimentText } from '../config/parse';
import type { ExperimentConfig, LayerPair } from '../config/types';
import type {
  FeatureMapsAnswer, FeatureMapsInitAnswer, LayersAnswer, PairCheckAnswer, ProbeAnswers, ProbeKind, ProbeQuery, SuggestAnswer,
} from '../protocol/engine';
import { initBackend } from './backend';
import { describeEstimate, measureAndEstimate } from './training/budget';
import { modelLabel, modelSpec, planJobs } from './training/jobs';
import { prepareData, rowsOf } from './data';
import type { PreparedData } from './data';
import { modelInputShape } from './training/evaluate';
import { buildTerms, disposeTerms } from './knowledge/terms';
import { PairError, planAdapter } from './knowledge/pairs';
import { suggestPairs } from './knowledge/suggest';
import { METHOD_INFO, PAIR_METHODS } from '../methods/catalogue';
import { modelStats } from './metrics/modelStats';
import { resolveModel } from './models';
import { loadLayersModelFromFile } from './models/fileIO';
import { layerInfos, tapModel } from './models/taps';
import type { LayerInfo, Shape } from './models/taps';
import { listCheckpoints, restoreExtras } from './runs/checkpoints';
import { readRun, readSnapshot } from '../runs/store';
import { engineOf } from '../config/engineRules';
import { attentionMap, channels, cosine, linearCka, mse } from './results/similarity';
import { answerTorchProbe } from './torch/probe';

/** Channels shown per feature map (the rest are summarised in a note). */
export const MAX_CHANNELS = 32;
/** Test samples the linear CKA is computed over. */
export const CKA_BATCH = 64;
const THUMBNAILS = 16;

/** issue 20: the training time of an experiment on this machine (measured steps × the steps it will take). */
export async function estimate(file: string, text?: string): Promise<ProbeAnswers['estimate']> {
  const cfg = config(file, text);
  const base = path.dirname(file);
  const data = prepareData(cfg.data, base);
  const label = (model: string) => modelLabel(cfg, model);
  const e = await measureAndEstimate(cfg, planJobs(cfg), data, (model) => resolveModel(modelSpec(cfg, model), base, cfg.seeds[0]), label);
  return e ? { seconds: e.seconds, description: describeEstimate(e, label) } : {};
}

/** The student's spec as `resolveModel` takes it (a derived student resolves through its spec too). */
function studentSpec(cfg: ExperimentConfig): Parameters<typeof resolveModel>[0] {
  return cfg.student as Parameters<typeof resolveModel>[0];
}

let backendReady: Promise<unknown> | undefined;

export async function answerProbe(q: ProbeQuery): Promise<ProbeAnswers[ProbeKind]> {
  // issue 15: a torch experiment's (or torch run's) questions go to its Python engine
  const torch = await answerTorchProbe(q);
  if (torch !== undefined) return torch;
  if (q.kind === 'checkPair') return checkPair(q.method, q.teacher, q.student, q.teacherShape, q.studentShape);
  // the CLI's questions: each starts the backend it is asked for
  if (q.kind === 'check') return (await import('./check')).checkExperiment(q.experimentFile, q.backend, q.python);
  if (q.kind === 'inspect') return { text: await (await import('./inspect')).inspectTarget(q.target, q.backend) };
  if (q.kind === 'suggestText') return { text: (await (await import('./inspect')).suggestForExperiment(q.experimentFile, q.backend)).text };
  backendReady ??= initBackend(q.backend ?? 'auto');
  await backendReady;
  switch (q.kind) {
    case 'layers': return layers(q);
    case 'suggest': return suggest(q.experimentFile);
    case 'featureMapsInit': return featureMapsInit(q.runDir);
    case 'featureMaps': return featureMaps(q.runDir, q.checkpoint, q.sample, q.entry, q.pair);
    case 'estimate': return estimate(q.experimentFile, q.text);
    case 'figures': return (await import('./search/figures')).studentFigures(q.experimentFile, q.text);
  }
}

function config(file: string, text?: string): ExperimentConfig {
  const loaded = text !== undefined ? parseExperimentText(text, file) : loadExperiment(file);
  if (!loaded.config) {
    const first = loaded.errors.find((e) => e.severity === 'error');
    throw new Error(`${path.basename(file)} is not a valid experiment${first ? ` (line ${first.location.line}: ${first.message})` : ''}`);
  }
  refuseTorch(loaded.config, path.basename(file));
  return loaded.config;
}

/**
 * issue 14: the panels' model probes (layers, suggestions, feature maps, estimates) load models with
 * TF.js; a torch experiment's are PyTorch modules, which only its Python engine loads. Said plainly
 * instead of a TF.js loader error about a .py file. (`check` goes to the torch engine: check.ts.)
 */
function refuseTorch(cfg: ExperimentConfig, what: string): void {
  if (engineOf(cfg) === 'torch') {
    throw new Error(`${what} uses the torch engine: layer lists, pair suggestions, feature maps and time estimates are not available for torch experiments yet (runs, metrics, the dashboard and the compression report are)`);
  }
}

async function bothModels(file: string, text?: string): Promise<{ cfg: ExperimentConfig; teacher?: tf.LayersModel; student: tf.LayersModel }> {
  const cfg = config(file, text);
  const base = path.dirname(file);
  const student = await resolveModel(studentSpec(cfg), base, cfg.seeds[0]);
  const teacher = cfg.teacher ? await resolveModel(cfg.teacher, base, cfg.seeds[0]) : undefined;
  return { cfg, teacher, student };
}

/** A run's models as trained: the exported student and the trained (or given) teacher. */
async function runModels(runDir: string): Promise<{ cfg: ExperimentConfig; teacher?: tf.LayersModel; student: tf.LayersModel }> {
  const { cfg, base } = snapshot(runDir);
  const exported = path.join(runDir, 'student', 'model.json');
  const student = fs.existsSync(exported) ? await loadLayersModelFromFile(exported) : await resolveModel(studentSpec(cfg), base, cfg.seeds[0]);
  const trained = path.join(runDir, 'models', 'teacher', 'model.json');
  const teacher = fs.existsSync(trained) ? await loadLayersModelFromFile(trained)
    : cfg.teacher ? await resolveModel(cfg.teacher, base, cfg.seeds[0]) : undefined;
  return { cfg, teacher, student };
}

/** Layer rows per model spec (building a model is the slow part; a pair edit does not change them). */
const rowCache = new Map<string, { teacher: LayersAnswer['teacher']; student: LayersAnswer['student'] }>();

function rows(model: tf.LayersModel): LayersAnswer['teacher'] {
  const stats = new Map(modelStats(model).layers.map((l) => [l.name, l]));
  return layerInfos(model).map((l) => ({ name: l.name, type: l.type, outputShape: l.outputShape, params: stats.get(l.name)?.params ?? 0, flops: stats.get(l.name)?.flops ?? 0 }));
}

/** Teacher and student layers, and every pair of the experiment resolved (adapter or reason). */
export async function layers(q: { experimentFile?: string; text?: string; runDir?: string }): Promise<LayersAnswer> {
  let cfg: ExperimentConfig;
  let t: LayersAnswer['teacher'];
  let s: LayersAnswer['student'];
  const key = q.runDir ? `run:${q.runDir}` : undefined;
  if (!q.runDir && !q.experimentFile) throw new Error('layers: give an experiment file or a run folder');
  cfg = q.runDir ? snapshot(q.runDir).cfg : config(q.experimentFile!, q.text);
  const specKey = key ?? `${q.experimentFile}|${JSON.stringify([cfg.teacher, cfg.student, cfg.seeds[0]])}|${specStamp(cfg, path.dirname(q.experimentFile!))}`;
  const hit = rowCache.get(specKey);
  if (hit) {
    ({ teacher: t, student: s } = hit);
  } else {
    const m = q.runDir ? await runModels(q.runDir) : await bothModels(q.experimentFile!, q.text);
    cfg = m.cfg;
    try {
      t = m.teacher ? rows(m.teacher) : [];
      s = rows(m.student);
    } finally {
      m.teacher?.dispose();
      m.student.dispose();
    }
    rowCache.set(specKey, { teacher: t, student: s });
  }
  {
    const shapeOf = (list: LayersAnswer['teacher'], name: string) => list.find((l) => l.name === name)?.outputShape;
    const links: LayersAnswer['links'] = [];
    cfg.knowledge.forEach((entry, ei) => {
      if (!('pairs' in entry) || entry.method === 'fsp') return;
      (entry.pairs as LayerPair[]).forEach((p, pi) => {
        const ts = shapeOf(t, p.teacher);
        const ss = shapeOf(s, p.student);
        const base = { entry: ei, pair: pi, method: entry.method, teacher: p.teacher, student: p.student };
        if (!ts || !ss) {
          links.push({ ...base, adapter: '–', error: `no ${!ts ? `teacher layer "${p.teacher}"` : `student layer "${p.student}"`}` });
          return;
        }
        const c = checkPair(entry.method, p.teacher, p.student, ts, ss, p.adapter);
        links.push({ ...base, adapter: c.ok ? c.adapter : '–', ...(c.ok ? { adapterShape: c.outputShape } : { error: c.reason }) });
      });
    });
    return { teacher: t, student: s, links, methods: METHOD_INFO.filter((m) => (PAIR_METHODS as readonly string[]).includes(m.method)).map((m) => ({ method: m.method, kind: m.kind, title: m.title })) };
  }
}

/** Modification times of the model files a spec names (a changed model file means new rows). */
function specStamp(cfg: ExperimentConfig, base: string): string {
  const files = [cfg.teacher, cfg.student].flatMap((s) => (!s ? [] : 'model' in s ? [s.model] : 'module' in s ? [s.module] : []));
  return files.map((f) => {
    try {
      return fs.statSync(path.resolve(base, f)).mtimeMs;
    } catch {
      return 0;
    }
  }).join(',');
}

/** Whether a pair can be matched, and with which adapter (the same rules as training). */
export function checkPair(method: string, teacher: string, student: string, teacherShape: Shape, studentShape: Shape,
  adapter: LayerPair['adapter'] = 'auto'): PairCheckAnswer {
  try {
    const plan = planAdapter(method, { teacher, student, adapter }, studentShape, teacherShape);
    return { ok: true, adapter: plan.description, outputShape: plan.outputShape };
  } catch (e) {
    if (e instanceof PairError) return { ok: false, reason: e.message };
    throw e;
  }
}

export async function suggest(file: string): Promise<SuggestAnswer> {
  const { teacher, student } = await bothModels(file);
  try {
    if (!teacher) return { suggestions: [], error: 'this experiment has no teacher to pair with' };
    return { suggestions: suggestPairs(layerInfos(teacher), layerInfos(student)).map((p) => ({ teacher: p.teacher, student: p.student, method: p.method, adapter: p.adapter, reason: p.reason })) };
  } finally {
    teacher?.dispose();
    student.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// feature maps

const dataCache = new Map<string, PreparedData>();

function runData(runDir: string, cfg: ExperimentConfig, base: string): PreparedData {
  let d = dataCache.get(runDir);
  if (!d) {
    d = prepareData(cfg.data, base);
    dataCache.clear(); // one run's data at a time
    dataCache.set(runDir, d);
  }
  return d;
}

function snapshot(runDir: string): { cfg: ExperimentConfig; base: string } {
  const snap = readSnapshot(runDir);
  refuseTorch(snap.config, `run ${path.basename(runDir)}`);
  return { cfg: snap.config, base: path.dirname(snap.experimentFile) };
}

/** Pairs the feature-map panel can show: every layer pair of a feature or relation entry. */
function pairList(cfg: ExperimentConfig): { id: string; entry: number; pair: number; p: LayerPair; method: string }[] {
  const out: { id: string; entry: number; pair: number; p: LayerPair; method: string }[] = [];
  cfg.knowledge.forEach((e, ei) => {
    if (!('pairs' in e) || e.method === 'fsp') return;
    (e.pairs as LayerPair[]).forEach((p, pi) => out.push({ id: `${ei}:${pi}`, entry: ei, pair: pi, p, method: e.method }));
  });
  return out;
}

export async function featureMapsInit(runDir: string): Promise<FeatureMapsInitAnswer> {
  const { cfg, base } = snapshot(runDir);
  const run = readRun(runDir);
  const checkpoints: FeatureMapsInitAnswer['checkpoints'] = [];
  for (const [job, state] of Object.entries(run.jobs)) {
    if (state.kind !== 'distill') continue;
    for (const c of listCheckpoints(runDir, job)) {
      if (!c.state.epochEnd) continue;
      checkpoints.push({ id: `${job}/${path.basename(c.dir)}`, label: `${job} · epoch ${c.state.epoch}` });
    }
  }
  const d = runData(runDir, cfg, base);
  const n = Math.min(THUMBNAILS, d.test.size);
  const per = d.shape.reduce((a, b) => a * b, 1);
  const [h, w, c] = d.shape.length === 3 ? d.shape : d.shape.length === 2 ? [d.shape[0], d.shape[1], 1] : [1, per, 1];
  const samples: FeatureMapsInitAnswer['samples'] = [];
  for (let i = 0; i < n; i++) {
    const x = rowsOf(d.test, i, 1);
    const px = new Array<number>(h * w);
    for (let k = 0; k < h * w; k++) {
      let s = 0;
      for (let ch = 0; ch < c; ch++) s += x[k * c + ch];
      px[k] = s / c;
    }
    const lo = Math.min(...px);
    const hi = Math.max(...px);
    samples.push({ id: i, label: d.test.y[i], ...(d.classNames ? { className: d.classNames[d.test.y[i]] } : {}), pixels: px.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0)), h, w });
  }
  return { checkpoints, samples, pairs: pairList(cfg).map((p) => ({ id: p.id, label: `${p.method}: ${p.p.teacher} ↔ ${p.p.student}` })) };
}

function toGrid(values: Float32Array, shape: Shape): { grid: FeatureMapsAnswer['teacher']; hwc?: [number, number, number] } {
  if (shape.length === 4) {
    const [h, w, c] = [shape[1] as number, shape[2] as number, shape[3] as number];
    return { grid: { channels: channels(values, h, w, c, MAX_CHANNELS), h, w }, hwc: [h, w, c] };
  }
  // a vector (or anything else): one strip
  return { grid: { channels: [Array.from(values)], h: 1, w: values.length } };
}

export async function featureMaps(runDir: string, checkpoint: string, sample: number, entry: number, pairIndex: number): Promise<FeatureMapsAnswer> {
  const { cfg, base } = snapshot(runDir);
  const run = readRun(runDir);
  const [job, ckName] = checkpoint.split('/');
  const state = run.jobs[job];
  if (!state || state.kind !== 'distill') throw new Error(`no distill job "${job}" in this run`);
  const ckDir = path.join(runDir, 'checkpoints', job, ckName);
  if (!ckName || !fs.existsSync(path.join(ckDir, 'model.json'))) throw new Error(`no checkpoint ${checkpoint}`);
  const pair = pairList(cfg).find((p) => p.entry === entry && p.pair === pairIndex);
  if (!pair) throw new Error(`no pair ${entry}:${pairIndex} in this run's experiment`);
  const d = runData(runDir, cfg, base);
  if (sample < 0 || sample >= d.test.size) throw new Error(`sample ${sample} is outside the test split (0..${d.test.size - 1})`);

  const source = state.teacher ?? 'teacher';
  const trained = path.join(runDir, 'models', source, 'model.json');
  const teacher = source !== 'teacher' || fs.existsSync(trained)
    ? await loadLayersModelFromFile(trained)
    : await resolveModel(cfg.teacher!, base, cfg.seeds[0]);
  const student = await loadLayersModelFromFile(path.join(ckDir, 'model.json'));
  const prefix = `adapter_${job}`;
  let terms: ReturnType<typeof buildTerms> = [];
  try {
    terms = buildTerms(cfg, 'distill', { teacher, student }, { adapterPrefix: prefix, trainLabels: d.train.y });
    await restoreExtras(terms.flatMap((t) => t.adapters), ckDir);
    const adapter = terms.flatMap((t) => t.adapters).find((a) => a.name === `${prefix}_k${entry}_p${pairIndex}`);
    const term = terms.find((t) => t.pairLabels.includes(`${pair.p.teacher}→${pair.p.student}`));
    const adapterText = term?.pairAdapters[term.pairLabels.indexOf(`${pair.p.teacher}→${pair.p.student}`)] ?? 'none';

    // A batch of test samples that starts with the chosen one (the CKA needs several samples).
    const per = d.shape.reduce((a, b) => a * b, 1);
    const n = Math.min(CKA_BATCH, d.test.size);
    const idx = [sample, ...Array.from({ length: d.test.size }, (_, i) => i).filter((i) => i !== sample).slice(0, n - 1)];
    const xb = new Float32Array(idx.length * per);
    idx.forEach((i, k) => xb.set(rowsOf(d.test, i, 1), k * per));

    const out = tf.tidy(() => {
      const run1 = (m: tf.LayersModel, layer: string, who: string) => {
        const shape = modelInputShape(m, d.shape, who);
        const tap = tapModel(m, [layer]);
        const outs = tap.predict(tf.tensor(xb, [idx.length, ...shape]), { batchSize: idx.length }) as tf.Tensor[];
        return outs[1];
      };
      const ft = run1(teacher, pair.p.teacher, 'teacher');
      let fs_ = run1(student, pair.p.student, 'student');
      if (adapter) fs_ = adapter.apply(fs_) as tf.Tensor;
      return { ft: { shape: ft.shape, data: ft.dataSync() as Float32Array }, fs: { shape: fs_.shape, data: fs_.dataSync() as Float32Array } };
    });
    const perT = out.ft.data.length / idx.length;
    const perS = out.fs.data.length / idx.length;
    const t0 = out.ft.data.subarray(0, perT);
    const s0 = out.fs.data.subarray(0, perS);
    const tShape = [null, ...out.ft.shape.slice(1)];
    const sShape = [null, ...out.fs.shape.slice(1)];
    const tg = toGrid(t0, tShape);
    const sg = toGrid(s0, sShape);
    const same = perT === perS && tShape.join() === sShape.join();
    const answer: FeatureMapsAnswer = {
      teacher: tg.grid, student: sg.grid, teacherShape: tShape, studentShape: sShape, adapter: adapterText,
      cka: idx.length > 1 ? linearCka(out.fs.data, out.ft.data, idx.length) : undefined,
      batch: idx.length,
    };
    if (same) {
      answer.cosine = cosine(s0, t0);
      answer.mse = mse(s0, t0);
      const diff = new Float32Array(perT);
      for (let i = 0; i < perT; i++) diff[i] = s0[i] - t0[i];
      answer.difference = toGrid(diff, tShape).grid;
    } else {
      answer.note = `shapes differ after the adapter (${sShape.join('×')} vs ${tShape.join('×')}): no difference map, cosine or MSE; CKA compares them all the same`;
    }
    if (tg.hwc && sg.hwc) {
      answer.attentionTeacher = { channels: [attentionMap(t0, ...tg.hwc)], h: tg.hwc[0], w: tg.hwc[1] };
      answer.attentionStudent = { channels: [attentionMap(s0, ...sg.hwc)], h: sg.hwc[0], w: sg.hwc[1] };
    }
    const shown = (g: Shape) => (g.length === 4 && (g[3] as number) > MAX_CHANNELS ? `first ${MAX_CHANNELS} of ${g[3]} channels shown` : '');
    const more = [shown(tShape), shown(sShape)].filter(Boolean);
    if (more.length) answer.note = [answer.note, `teacher/student: ${more.join('; ')}`].filter(Boolean).join('. ');
    return answer;
  } finally {
    disposeTerms(terms);
    teacher.dispose();
    student.dispose();
  }
}

export type { LayerInfo };

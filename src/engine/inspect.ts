/**
 * `distill inspect`: layers of a model (name, type, output shape, parameters, FLOPs), or of an
 * experiment's teacher and student side by side with the compression ratios — no training.
 */
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../config/types';
import { ExperimentError, loadExperiment } from '../config/parse';
import { initBackend } from './backend';
import { modelStats } from './metrics/modelStats';
import type { ModelStats } from './metrics/modelStats';
import { deriveStudent, describeSpec, locateDeriveError, resolveModel } from './models';
import { INT8_FORMAT, int8Bytes } from './models/quantize';
import { int8Line, weightFormatOf } from './models/weightFormat';
import type { WeightFormat } from './models/weightFormat';
import { loadLayersModelFromFile } from './models/fileIO';
import { layerInfos } from './models/taps';
import { suggestEntries, suggestPairs } from './knowledge/suggest';
import type { PairSuggestion } from './knowledge/suggest';

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function shapeText(s: unknown): string {
  return JSON.stringify(s).replace(/null/g, '?').replace(/,/g, ', ');
}

export function layerTable(title: string, stats: ModelStats, weights?: WeightFormat): string {
  const rows = [['layer', 'type', 'output shape', 'params', 'FLOPs'],
    ...stats.layers.map((l) => [l.name, l.type, shapeText(l.outputShape), fmt(l.params), fmt(l.flops)]),
    ['total', '', '', fmt(stats.params), fmt(stats.flops)]];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [title, line(rows[0]), w.map((x) => '─'.repeat(x)).join('  '), ...rows.slice(1).map(line),
    weights?.format === INT8_FORMAT ? int8Line(weights) : `${fmt(stats.bytes)} bytes (float32)`].join('\n');
}

/** Teacher and student side by side, layer by layer (matched by name): shapes, params, bytes, FLOPs. */
export function compareTable(teacherName: string, studentName: string, t: ModelStats, s: ModelStats,
  stored: { t?: WeightFormat; s?: WeightFormat } = {}): string {
  // Bytes as stored: an int8 model.json's own per-layer sizes, else float32.
  const tBytes = (l: ModelStats['layers'][number]): number => (stored.t?.format === INT8_FORMAT ? stored.t.layers[l.name] ?? 0 : 4 * l.params);
  const sBytes = (l: ModelStats['layers'][number]): number => (stored.s?.format === INT8_FORMAT ? stored.s.layers[l.name] ?? 0 : 4 * l.params);
  const sBy = new Map(s.layers.map((l) => [l.name, l]));
  const tNames = new Set(t.layers.map((l) => l.name));
  const dash = '—';
  type L = ModelStats['layers'][number];
  const row = (tl: L | undefined, sl: L | undefined): string[] => {
    const name = (tl ?? sl)!.name;
    const type = tl && sl ? (tl.type === sl.type ? tl.type : `${tl.type} → ${sl.type}`) : (tl ?? sl)!.type;
    const shape = tl && sl ? (shapeText(tl.outputShape) === shapeText(sl.outputShape) ? shapeText(tl.outputShape) : `${shapeText(tl.outputShape)} → ${shapeText(sl.outputShape)}`)
      : shapeText((tl ?? sl)!.outputShape);
    return [name, type, shape, tl ? fmt(tl.params) : dash, sl ? fmt(sl.params) : 'dropped', tl ? fmt(tBytes(tl)) : dash, sl ? fmt(sBytes(sl)) : dash,
      tl ? fmt(tl.flops) : dash, sl ? fmt(sl.flops) : dash];
  };
  const rows = [['layer', 'type (teacher → student)', 'output shape (teacher → student)', 'params T', 'params S', 'bytes T', 'bytes S', 'FLOPs T', 'FLOPs S'],
    ...t.layers.map((l) => row(l, sBy.get(l.name))),
    ...s.layers.filter((l) => !tNames.has(l.name)).map((l) => row(undefined, l)),
    ['total', '', '', fmt(t.params), fmt(s.params), fmt(t.bytes), fmt(s.bytes), fmt(t.flops), fmt(s.flops)],
    ['ratio T/S', '', '', `${(t.params / s.params).toFixed(2)}×`, '', `${(t.bytes / s.bytes).toFixed(2)}×`, '', `${(t.flops / Math.max(1, s.flops)).toFixed(2)}×`, '']];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [`teacher (T): ${teacherName}\nstudent (S): ${studentName}`, line(rows[0]), w.map((x) => '─'.repeat(x)).join('  '),
    ...rows.slice(1).map(line)].join('\n');
}

export async function inspectTarget(target: string, backend?: BackendName): Promise<string> {
  const file = path.resolve(target);
  if (!file.endsWith('.distill.json')) {
    await initBackend(backend ?? 'auto');
    const model = await loadLayersModelFromFile(file);
    try {
      return layerTable(file, modelStats(model), weightFormatOf(file));
    } finally {
      model.dispose();
    }
  }
  const loaded = loadExperiment(file);
  if (!loaded.config || loaded.errors.some((e) => e.severity === 'error')) throw new ExperimentError(loaded.errors);
  const config = loaded.config;
  await initBackend(backend ?? config.backend);
  const base = path.dirname(file);
  const models: tf.LayersModel[] = [];
  try {
    let derivation: string[] = [];
    let student: tf.LayersModel;
    try {
      if ('derive' in config.student) {
        const arch = await deriveStudent(config.student, base);
        derivation = [...arch.changes, ...arch.warnings.map((w) => `warning: ${w}`)];
      }
      student = await resolveModel(config.student, base, config.seeds[0]);
    } catch (e) {
      throw locateDeriveError(e, file, loaded.text ?? '');
    }
    models.push(student);
    // A model.json with int8 weights counts at its stored size (loading dequantises it to float32).
    const storedOf = (spec: typeof config.student): WeightFormat | undefined => ('model' in spec ? weightFormatOf(path.resolve(base, spec.model)) : undefined);
    const sw = storedOf(config.student);
    const asStored = (st: ModelStats, w: WeightFormat | undefined): ModelStats => (w?.format === INT8_FORMAT ? { ...st, bytes: w.bytes } : st);
    const s = asStored(modelStats(student), sw);
    if (!config.teacher) return layerTable(`student: ${describeSpec(config.student)}`, s, sw);
    const teacher = await resolveModel(config.teacher, base, config.seeds[0]);
    models.push(teacher);
    const tw = storedOf(config.teacher);
    const t = asStored(modelStats(teacher), tw);
    const q = sw?.format === INT8_FORMAT ? sw.bytes : int8Bytes(student);
    const stored = [...(tw?.format === INT8_FORMAT ? [`teacher: ${int8Line(tw)}`] : []), ...(sw?.format === INT8_FORMAT ? [`student: ${int8Line(sw)}`] : [])];
    const shared = s.layers.filter((l) => t.layers.some((x) => x.name === l.name)).length;
    const tables = shared >= Math.min(s.layers.length, t.layers.length) / 2
      ? [compareTable(describeSpec(config.teacher), describeSpec(config.student), t, s, { t: tw, s: sw })]
      : [layerTable(`teacher: ${describeSpec(config.teacher)}`, t, tw), '', layerTable(`student: ${describeSpec(config.student)}`, s, sw)];
    return [
      ...(derivation.length ? [`student ${describeSpec(config.student)}:`, ...derivation.map((c) => `  ${c}`), ''] : []),
      ...tables, '', ...stored,
      `compression: ${(t.params / s.params).toFixed(2)}× parameters, ${(t.bytes / s.bytes).toFixed(2)}× bytes, ` +
      `${(t.flops / Math.max(1, s.flops)).toFixed(2)}× FLOPs per sample`,
      `int8 student (per-channel int8 weights, float activations): ${fmt(q)} bytes — ${(4 * s.params / q).toFixed(2)}× smaller than the float32 student, ` +
      `${(t.bytes / q).toFixed(2)}× smaller than the ${tw?.format === INT8_FORMAT ? 'int8' : 'float32'} teacher`,
    ].join('\n');
  } finally {
    models.forEach((m) => m.dispose());
  }
}

/** `distill suggest-pairs`: proposed layer pairs for an experiment's teacher and student. */
export async function suggestForExperiment(target: string, backend?: BackendName): Promise<{ text: string; pairs: PairSuggestion[] }> {
  const file = path.resolve(target);
  const loaded = loadExperiment(file);
  if (!loaded.config || loaded.errors.some((e) => e.severity === 'error')) throw new ExperimentError(loaded.errors);
  const config = loaded.config;
  if (!config.teacher) throw new Error(`${file}: no teacher to pair with (scheme self pairs heads, not teacher layers)`);
  await initBackend(backend ?? config.backend);
  const base = path.dirname(file);
  const teacher = await resolveModel(config.teacher, base, config.seeds[0]);
  const student = await resolveModel(config.student, base, config.seeds[0]);
  try {
    const pairs = suggestPairs(layerInfos(teacher), layerInfos(student));
    if (pairs.length === 0) return { text: 'no pairs to suggest: the student has no hidden stage that matches a teacher stage', pairs };
    const lines = pairs.map((p, i) => `${i + 1}. teacher "${p.teacher}" ${shapeText(p.teacherShape)} ← student "${p.student}" ${shapeText(p.studentShape)}` +
      `  [${p.method}${p.adapter === 'none' ? '' : `, adapter ${p.adapter}`}]\n   ${p.reason}`);
    const byMethod = new Map<string, PairSuggestion[]>();
    for (const p of pairs) byMethod.set(p.method, [...(byMethod.get(p.method) ?? []), p]);
    const entries = [...byMethod].map(([method, ps]) => ({
      kind: 'feature', method, weight: method === 'at' ? 100 : 1,
      pairs: ps.map((p) => ({ teacher: p.teacher, student: p.student })),
    }));
    // Methods with other layer needs (issue 17): reviewkd's stages together, crd's one representation pair.
    const more = suggestEntries(layerInfos(teacher), layerInfos(student), pairs);
    const moreText = more.length ? `\n\nmulti-stage and contrastive methods:\n${more.map((e) => `- ${e.method}: ${e.reason}\n${JSON.stringify({ kind: e.kind, method: e.method, weight: 1, pairs: e.pairs })}`).join('\n')}` : '';
    return { text: `${lines.join('\n')}\n\nknowledge entries to add:\n${JSON.stringify(entries, null, 2)}${moreText}`, pairs };
  } finally {
    teacher.dispose();
    student.dispose();
  }
}

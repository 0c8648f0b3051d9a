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
import { describeSpec, resolveModel } from './models';
import { loadLayersModelFromFile } from './models/fileIO';
import { layerInfos } from './models/taps';
import { suggestPairs } from './knowledge/suggest';
import type { PairSuggestion } from './knowledge/suggest';

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function shapeText(s: unknown): string {
  return JSON.stringify(s).replace(/null/g, '?').replace(/,/g, ', ');
}

export function layerTable(title: string, stats: ModelStats): string {
  const rows = [['layer', 'type', 'output shape', 'params', 'FLOPs'],
    ...stats.layers.map((l) => [l.name, l.type, shapeText(l.outputShape), fmt(l.params), fmt(l.flops)]),
    ['total', '', '', fmt(stats.params), fmt(stats.flops)]];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [title, line(rows[0]), w.map((x) => '─'.repeat(x)).join('  '), ...rows.slice(1).map(line),
    `${fmt(stats.bytes)} bytes (float32)`].join('\n');
}

export async function inspectTarget(target: string, backend?: BackendName): Promise<string> {
  const file = path.resolve(target);
  if (!file.endsWith('.distill.json')) {
    await initBackend(backend ?? 'auto');
    const model = await loadLayersModelFromFile(file);
    try {
      return layerTable(file, modelStats(model));
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
    const student = await resolveModel(config.student, base, config.seeds[0]);
    models.push(student);
    const s = modelStats(student);
    if (!config.teacher) return layerTable(`student: ${describeSpec(config.student)}`, s);
    const teacher = await resolveModel(config.teacher, base, config.seeds[0]);
    models.push(teacher);
    const t = modelStats(teacher);
    return [
      layerTable(`teacher: ${describeSpec(config.teacher)}`, t), '',
      layerTable(`student: ${describeSpec(config.student)}`, s), '',
      `compression: ${(t.params / s.params).toFixed(2)}× parameters, ${(t.bytes / s.bytes).toFixed(2)}× bytes, ` +
      `${(t.flops / Math.max(1, s.flops)).toFixed(2)}× FLOPs per sample`,
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
    return { text: `${lines.join('\n')}\n\nknowledge entries to add:\n${JSON.stringify(entries, null, 2)}`, pairs };
  } finally {
    teacher.dispose();
    student.dispose();
  }
}

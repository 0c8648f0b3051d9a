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
    const teacher = await resolveModel(config.teacher, base, config.seeds[0]);
    models.push(teacher);
    const student = await resolveModel(config.student, base, config.seeds[0]);
    models.push(student);
    const t = modelStats(teacher);
    const s = modelStats(student);
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

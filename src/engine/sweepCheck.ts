/**
 * Pre-check of a sweep's points, before any sweep folder exists: every point's experiment (the
 * file's text with the point's values written in, as `distill sweep` runs it) is validated, its
 * derived student derived, its models and layer pairs checked against the data. A refusal that only
 * a point's values cause is reported located at the value in the `sweep` entry that causes it
 * (`sweep["student.derive.width"][0]`), naming the points it breaks. Used by `distill check` (and so
 * by the editor's Problems) and by `distill sweep` before it creates the sweep folder.
 */
import * as path from 'path';
import type { ConfigError, ExperimentConfig } from '../config/types';
import type { JsonPath } from '../config/errors';
import { loadExperimentText, locate } from '../config/parse';
import { parseFieldPath } from '../config/sweep';
import type { PreparedData } from './data';
import { prepareData } from './data';
import { checkModels } from './check';
import { modelLabel, modelPath, modelSpec } from './training/jobs';
import { DeriveError, deriveStudent, resolveModel } from './models';
import { planPoints, pointText } from '../runs/sweeps';

const common = (a: JsonPath, b: JsonPath): number => {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
};

/**
 * The problems of every point of `config.sweep` that the base experiment does not have, located in
 * `text` at the sweep value to blame. `data` is the base experiment's prepared data (reused by the
 * points unless the sweep varies a `data.…` field).
 */
export async function checkSweepPoints(file: string, text: string, config: ExperimentConfig, data: PreparedData | undefined): Promise<ConfigError[]> {
  if (!config.sweep) return [];
  const axes = Object.fromEntries(Object.entries(config.sweep).filter(([k]) => k !== 'seeds'));
  const keys = Object.keys(axes);
  if (keys.length === 0) return [];
  const seeds = config.sweep.seeds ?? config.seeds;
  const base = path.dirname(file);
  const fieldOf = new Map(keys.map((k) => [k, parseFieldPath(k) ?? []]));
  /** (sweep path, message) → the points it breaks. */
  const found = new Map<string, { path: JsonPath; message: string; points: string[] }>();
  const points = planPoints(axes);
  const width = Math.max(2, String(points.length).length);
  for (let i = 0; i < points.length; i++) {
    const values = points[i];
    const id = `p${String(i + 1).padStart(width, '0')}`;
    const blame = (p: JsonPath, message: string): void => {
      // The swept field the problem is at (or nearest to); else the first axis.
      const key = [...keys].sort((a, b) => common(fieldOf.get(b)!, p) - common(fieldOf.get(a)!, p))[0];
      const at: JsonPath = ['sweep', key, axes[key].indexOf(values[key])];
      const where = formatField(p);
      const msg = `${key} = ${values[key]}: ${where && where !== key ? `${where}: ` : ''}${message}`;
      const k = JSON.stringify([at, msg]);
      const hit = found.get(k) ?? { path: at, message: msg, points: [] };
      hit.points.push(id);
      found.set(k, hit);
    };
    const ptText = pointText(text, values, seeds);
    const loaded = loadExperimentText(file, ptText);
    for (const e of loaded.errors) if (e.severity === 'error') blame(e.path, e.message);
    const c = loaded.config;
    if (!c) continue;
    try {
      if ('derive' in c.student) await deriveStudent(c.student, base);
    } catch (e) {
      if (!(e instanceof DeriveError)) throw e;
      blame(e.path, e.message);
      continue;
    }
    let pointData = data;
    if (keys.some((k) => fieldOf.get(k)![0] === 'data') || !pointData) {
      try {
        pointData = prepareData(c.data, base);
      } catch (e) {
        const field = (e as { field?: string }).field;
        blame(field ? field.split('.') : ['data'], (e as Error).message);
        continue;
      }
    }
    let current = 'student';
    try {
      const errors = await checkModels(c, file, ptText, pointData, (model) => {
        current = model;
        return resolveModel(modelSpec(c, model), base, c.seeds[0]);
      }, (model) => modelLabel(c, model));
      for (const e of errors) blame(e.path, e.message);
    } catch (e) {
      if (e instanceof DeriveError) blame(e.path, e.message);
      else blame((e as Error).message.startsWith('data:') ? ['data'] : modelPath(current), (e as Error).message);
    }
  }
  return [...found.values()].map((f) => ({
    file, path: f.path, location: locate(text, f.path), severity: 'error' as const,
    message: `${f.message} (sweep point${f.points.length === 1 ? '' : 's'} ${f.points.join(', ')})`,
  }));
}

/** `['student', 'derive', 'width']` → `student.derive.width` (as sweep keys are written). */
function formatField(p: JsonPath): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i === 0 ? '' : '.'}${s}`)).join('');
}

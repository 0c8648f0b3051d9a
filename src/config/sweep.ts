/**
 * Sweeps: every key of `sweep` names a numeric field of the file (`student.derive.width`,
 * `knowledge[0].temperature`), and every value is one that field accepts — checked by the schema
 * interpreter at that field, so a sweep value gets the message the field itself would give.
 */
import type { Node } from 'jsonc-parser';
import { formatPath } from './errors';
import type { JsonPath } from './errors';
import type { ExperimentConfig } from './types';
import { closest } from './names';
import type { JsonSchema, Problem } from './schema';
import { experimentSchema, Validator } from './schema';
import { constOf, propertyValue } from './phrases';

/** How many points (runs) `distill sweep` starts without `--yes`. */
export const SWEEP_POINT_LIMIT = 8;

/** `student.derive.width`, `knowledge[0].temperature` or `knowledge.0.temperature` → a JSON path. */
export function parseFieldPath(text: string): JsonPath | undefined {
  const out: JsonPath = [];
  for (const part of text.split('.')) {
    const m = /^([A-Za-z_$][\w$-]*|\d+)?((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === undefined && m[2] === '')) return undefined;
    if (m[1] !== undefined) out.push(/^\d+$/.test(m[1]) ? Number(m[1]) : m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out.length > 0 ? out : undefined;
}

/** The number of points (runs) of a sweep: the product of its value counts (seeds excluded). */
export function sweepPointCount(sweep: Record<string, number[]> | undefined): number {
  if (!sweep) return 0;
  return Object.entries(sweep).filter(([k]) => k !== 'seeds').reduce((n, [, v]) => n * v.length, 1);
}

/** The union branch a value belongs to: discriminator consts equal, every key known. */
function branchForValue(v: Validator, branches: JsonSchema[], value: unknown): JsonSchema | undefined {
  const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  return branches.map((b) => v.resolve(b)).find((b) => {
    const props = b.properties ?? {};
    for (const [k, ps] of Object.entries(props)) {
      const c = constOf(v.resolve(ps));
      if (c !== undefined && k in obj && obj[k] !== c) return false;
    }
    return Object.keys(obj).every((k) => k in props) && (b.required ?? []).every((k) => k in obj);
  });
}

/** What a schema describes, for "not numeric" messages. */
function kindOf(v: Validator, s: JsonSchema): string {
  return s.oneOf ? 'an object' : v.expected(s);
}

export function checkSweep(root: Node, config: ExperimentConfig, v: Validator, problems: Problem[]): void {
  const sweepNode = propertyValue(root, 'sweep');
  if (!config.sweep || !sweepNode) return;
  const seen = new Map<string, string>();
  for (const prop of sweepNode.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    if (!keyNode || !valueNode) continue;
    const key = keyNode.value as string;
    const at = (message: string): void => {
      problems.push({ path: ['sweep', key], message, offset: keyNode.offset, length: keyNode.length, severity: 'error' });
    };
    if (key === 'seeds') {
      v.check(valueNode, experimentSchema.properties!.seeds, ['sweep', key]);
      continue;
    }
    const path = parseFieldPath(key);
    if (!path) {
      at('expected the path of a numeric field, such as "student.derive.width" or "knowledge[0].temperature"');
      continue;
    }
    const norm = JSON.stringify(path);
    const same = seen.get(norm);
    if (same !== undefined) {
      at(`the same field as "${same}": give each field once`);
      continue;
    }
    seen.set(norm, key);
    const field = fieldSchemaAt(v, config, path);
    if ('error' in field) {
      at(field.error);
      continue;
    }
    (valueNode.children ?? []).forEach((item, i) => v.check(item, field.schema, ['sweep', key, i]));
  }
  problems.push(...v.problems);
}

/**
 * The schema of the numeric field at `path` of the experiment (unions resolved by the file's own
 * values), or why there is none: an unknown field, an item the file does not have, not a number.
 */
export function fieldSchemaAt(v: Validator, config: unknown, path: JsonPath): { schema: JsonSchema } | { error: string } {
  let s: JsonSchema = experimentSchema;
  let value: unknown = config;
  const shown = (n: number): string => JSON.stringify(formatPath(path.slice(0, n)));
  const whole = JSON.stringify(formatPath(path));
  for (let i = 0; i < path.length; i++) {
    s = v.resolve(s);
    if (s.oneOf) {
      const b = branchForValue(v, s.oneOf, value);
      if (!b) return { error: `sweep field ${whole}: ${shown(i)} has no value in the file to pick its kind from` };
      s = b;
    }
    const seg = path[i];
    if (typeof seg === 'number') {
      const items = Array.isArray(value) ? value : undefined;
      if (s.type !== 'array' || !s.items) return { error: `sweep field ${whole}: ${shown(i)} is not a list` };
      if (!items || seg >= items.length) {
        return { error: `sweep field ${whole} does not exist: ${shown(i)} has ${items?.length ?? 0} item${items?.length === 1 ? '' : 's'}` };
      }
      s = s.items;
      value = items[seg];
      continue;
    }
    const objectType = s.type === 'object' || s.properties !== undefined;
    if (!objectType) return { error: `sweep field ${whole}: ${i === 0 ? 'the experiment' : shown(i)} is ${kindOf(v, s)}, it has no field "${seg}"` };
    const props = s.properties ?? {};
    const obj = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
    if (Object.prototype.hasOwnProperty.call(props, seg)) {
      s = props[seg];
    } else if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      s = s.additionalProperties;
    } else if (s.additionalProperties === false) {
      const where = i === 0 ? 'the experiment' : shown(i);
      const guess = closest(seg, Object.keys(props));
      return { error: `sweep field ${whole} does not exist: ${where} has no field "${seg}"` +
        (guess ? `; did you mean "${guess}"?` : `; its fields: ${Object.keys(props).map((k) => `"${k}"`).join(', ')}`) };
    } else {
      s = {}; // free-form (e.g. a factory's args): the file's own value decides
    }
    value = obj?.[seg];
  }
  s = v.resolve(s);
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  if (types.includes('number') || types.includes('integer')) return { schema: s };
  if (types.length === 0 && !s.oneOf && !s.enum && s.const === undefined) {
    if (typeof value === 'number') return { schema: { type: 'number' } };
    return { error: `sweep field ${whole}: ${value === undefined ? 'not in the file (a free-form field must be written, as a number, to be swept)' : 'not a number in the file'}` };
  }
  return { error: `sweep field ${whole} is not numeric (it is ${kindOf(v, s)}): a sweep varies numbers` };
}
